//! The supervised conversation: an actor (a callback process that traps exits from before it
//! can run) linked to its participants, forwarding requests, buffering replies and applying the
//! crash policy when a participant exits abnormally.
//!
//! Invariant: everything a caller can observe — phase, participants' health, buffered replies,
//! in-flight requests, crash records, counters — lives in one [`State`] under one mutex, and is
//! only changed by the conversation handle or the actor while holding it; user callbacks
//! (`on_crash`, compensation) always run with that mutex released. Every blocking call waits on
//! the same condition variable with a timeout, and every change that could end a wait
//! (a reply, a crash, a phase change, the actor's death) notifies it.
//!
//! Deadlines are enforced by the actor — a runtime timer sends it a deadline message, and it
//! moves a live conversation to TIMED_OUT and wakes every waiter — and, in case a call gets there
//! first, by every call (a blocked receive also wakes at the deadline by itself). From then on
//! sends fail and receives drain buffered replies, then fail with `TimedOut`.

use crate::sync::{Condvar, Mutex, MutexGuard};
use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_utils::Backoff;
use std::time::{Duration, Instant};

use crate::actor::{
    ActorError, Behaviour, ExitKind, ExitReason, Message, Pid, ProcessContext, RuntimeHandle,
    SpawnOptions, TimerRef,
};

use super::error::ConversationError;
use super::phase::{Phase, PhaseEvent};
use super::policy::{next_live, Compensation, CrashPolicy, InFlight, OnCrash};
use super::trace::TraceContext;
use super::wire::{decode_reply, encode_request};

/// Nanoseconds on transom's monotonic clock (0 = the first time transom read it in this
/// process). Crash records carry it so that C callers can order events.
pub fn monotonic_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What happens to the conversation's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is kept beyond the conversation's life.
    Ephemeral,
    /// Sends, replies and crashes journaled into a transom store — refused with `Unsupported`
    /// until the store is wired in.
    Durable,
}

/// A participant given to `open`.
pub enum Participant {
    /// An existing process; it is linked at open and unlinked (not stopped) at close.
    External(Pid),
    /// A behaviour the conversation spawns (linked atomically) and stops at close.
    Spawn(Box<dyn Behaviour>),
}

impl Participant {
    /// A participant the conversation spawns from `behaviour`.
    pub fn spawn(behaviour: impl Behaviour) -> Participant {
        Participant::Spawn(Box::new(behaviour))
    }
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Participant::External(pid) => write!(f, "External({pid})"),
            Participant::Spawn(_) => f.write_str("Spawn(..)"),
        }
    }
}

/// How to open a conversation. The crash policy is required: there is no default.
#[derive(Debug)]
pub struct ConversationConfig {
    participants: Vec<Participant>,
    timeout: Option<Duration>,
    mode: Mode,
    on_crash: OnCrash,
}

impl ConversationConfig {
    /// Participants (at least one) and the crash policy; EPHEMERAL, no timeout.
    pub fn new(participants: Vec<Participant>, on_crash: OnCrash) -> Self {
        ConversationConfig {
            participants,
            timeout: None,
            mode: Mode::Ephemeral,
            on_crash,
        }
    }

    /// The conversation times out `timeout` after `open` (phase TIMED_OUT).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// EPHEMERAL or DURABLE.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
}

/// A participant's health in a [`ConversationState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Linked and alive (as far as the conversation has seen).
    Alive,
    /// Exited normally.
    Exited,
    /// Exited abnormally; the crash policy was applied.
    Crashed,
}

/// One participant in a [`ConversationState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantState {
    /// Its pid.
    pub pid: Pid,
    /// Whether the conversation spawned it (then close stops it).
    pub spawned: bool,
    /// Its health.
    pub health: Health,
    /// Its exit reason, once exited.
    pub exit_reason: Option<ExitReason>,
    /// When the conversation observed the exit ([`monotonic_ns`]).
    pub exited_at_ns: Option<u64>,
}

/// A participant crash, as given to `on_crash` callbacks and `await_crash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashInfo {
    /// The conversation's pid.
    pub conversation: Pid,
    /// The participant that crashed.
    pub participant: Pid,
    /// Its exit reason, unchanged.
    pub reason: ExitReason,
    /// The policy that was applied.
    pub policy: CrashPolicy,
    /// When the conversation observed the exit ([`monotonic_ns`]).
    pub observed_at_ns: u64,
}

/// A snapshot of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    /// The phase.
    pub phase: Phase,
    /// When the configured timeout expires, if one was configured.
    pub deadline: Option<Instant>,
    /// The participants, in `open` order.
    pub participants: Vec<ParticipantState>,
    /// Requests forwarded (re-forwards not counted).
    pub sent: u64,
    /// Replies handed to `receive`.
    pub received: u64,
    /// Participants that crashed.
    pub crashed: u64,
    /// Requests without a reply yet.
    pub in_flight: usize,
    /// Replies buffered for `receive`.
    pub buffered: usize,
    /// The conversation's trace context (requests carry children of it).
    pub trace: TraceContext,
}

/// A participant's reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request it answers.
    pub request_id: u64,
    /// The process that sent it.
    pub from: Pid,
    /// Its payload.
    pub payload: Box<[u8]>,
}

type CrashCallback = Arc<Mutex<Box<dyn FnMut(&CrashInfo) + Send>>>;

struct State {
    phase: Phase,
    deadline: Option<Instant>,
    trace: TraceContext,
    participants: Vec<ParticipantState>,
    in_flight: BTreeMap<u64, InFlight>,
    replies: VecDeque<Reply>,
    next_request: u64,
    next_target: usize,
    sent: u64,
    received: u64,
    crashed: u64,
    crashes: Vec<CrashInfo>,
    on_crash: Vec<CrashCallback>,
    actor_exit: Option<ExitReason>,
}

impl State {
    /// Moves a live conversation whose deadline has passed to TIMED_OUT; true if it did.
    fn enforce_deadline(&mut self) -> bool {
        if self.phase.is_ended() {
            return false;
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => {
                self.phase = Phase::TimedOut;
                true
            }
            _ => false,
        }
    }

    /// The error a call gets in an ended phase.
    fn ended_error(&self) -> ConversationError {
        match self.phase {
            Phase::Failed => ConversationError::ParticipantCrashed,
            Phase::TimedOut => ConversationError::TimedOut,
            _ => ConversationError::Closed,
        }
    }

    fn alive(&self) -> Vec<bool> {
        self.participants
            .iter()
            .map(|p| p.health == Health::Alive)
            .collect()
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Bumped by every notification, so a receiver can spin briefly on it before sleeping.
    epoch: AtomicU64,
}

impl Shared {
    /// Wakes every waiter (call it with the state changed, usually under the lock).
    fn notify(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // User callbacks never run under this lock; a poisoned lock still guards valid data.
        self.state.lock()
    }

    /// Waits for a change, at most until `until` (no limit when `None`). Callers re-check
    /// their condition and their own deadline afterwards (wake-ups may be spurious).
    fn wait<'a>(&self, st: MutexGuard<'a, State>, until: Option<Instant>) -> MutexGuard<'a, State> {
        match until {
            None => self.changed.wait(st),
            Some(until) => {
                let now = Instant::now();
                if now >= until {
                    return st;
                }
                self.changed.wait_timeout(st, until - now).0
            }
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn run_crash_callbacks(callbacks: &[CrashCallback], info: &CrashInfo) {
    for cb in callbacks {
        let mut f = cb.lock();
        let _ = catch_unwind(AssertUnwindSafe(|| f(info)));
    }
}

/// What the runtime timer sends the actor (from the actor's own pid) at the deadline.
const DEADLINE_TAG: &[u8] = b"TD\x01deadline";

/// The conversation actor's behaviour.
struct Actor {
    shared: Arc<Shared>,
    on_crash: OnCrash,
}

impl Actor {
    fn on_deadline(&self) {
        let mut st = self.shared.lock();
        if st.enforce_deadline() {
            self.shared.notify();
        }
    }

    fn on_reply(&self, from: Pid, bytes: &[u8]) {
        let Some((id, payload)) = decode_reply(bytes) else {
            return; // not a reply: ignored
        };
        let mut st = self.shared.lock();
        // Once ended, only replies buffered before stay receivable.
        if st.phase.is_ended() {
            return;
        }
        if st.in_flight.remove(&id).is_some() {
            st.replies.push_back(Reply {
                request_id: id,
                from,
                payload: payload.into(),
            });
            self.shared.notify();
        }
    }

    fn on_exit(&mut self, ctx: &ProcessContext, pid: Pid, reason: ExitReason) {
        let observed_at_ns = monotonic_ns();
        let mut st = self.shared.lock();
        let Some(idx) = st.participants.iter().position(|p| p.pid == pid) else {
            return; // not a participant (e.g. an exit signal with a trappable reason)
        };
        if st.participants[idx].health != Health::Alive || st.phase == Phase::Closed {
            return;
        }
        let p = &mut st.participants[idx];
        p.exit_reason = Some(reason.clone());
        p.exited_at_ns = Some(observed_at_ns);
        if reason.is_normal() {
            p.health = Health::Exited;
            self.shared.notify();
            return;
        }
        p.health = Health::Crashed;
        st.crashed += 1;
        let orphans: Vec<InFlight> = {
            let ids: Vec<u64> = st
                .in_flight
                .values()
                .filter(|r| r.participant == pid)
                .map(|r| r.request_id)
                .collect();
            ids.iter()
                .filter_map(|id| st.in_flight.remove(id))
                .collect()
        };
        let policy = self.on_crash.policy();
        let mut fail = false;
        match &mut self.on_crash {
            OnCrash::Fail => fail = true,
            OnCrash::RouteToNext => {
                let mut alive = st.alive();
                'requests: for mut req in orphans {
                    loop {
                        let Some(next) = next_live(&alive, idx) else {
                            fail = true;
                            break 'requests;
                        };
                        let target = st.participants[next].pid;
                        let bytes = encode_request(req.request_id, &req.trace, &req.payload);
                        match ctx.runtime().send_from(ctx.pid(), target, bytes) {
                            Ok(()) => {
                                req.participant = target;
                                st.in_flight.insert(req.request_id, req);
                                break;
                            }
                            // Dead, its exit not handled yet: try the one after it.
                            Err(_) => alive[next] = false,
                        }
                    }
                }
                if !alive.iter().any(|a| *a) {
                    fail = true;
                }
            }
            OnCrash::Compensate(callback) => {
                drop(st);
                let decision = catch_unwind(AssertUnwindSafe(|| callback(pid, &reason, &orphans)));
                fail = !matches!(decision, Ok(Compensation::Continue));
                st = self.shared.lock();
            }
        }
        if fail {
            if let Ok(next) = st.phase.apply(PhaseEvent::Fail) {
                st.phase = next;
            }
        }
        let info = CrashInfo {
            conversation: ctx.pid(),
            participant: pid,
            reason,
            policy,
            observed_at_ns,
        };
        st.crashes.push(info.clone());
        let callbacks = st.on_crash.clone();
        self.shared.notify();
        drop(st);
        run_crash_callbacks(&callbacks, &info);
    }
}

impl Behaviour for Actor {
    fn handle(&mut self, ctx: &ProcessContext, msg: Message) -> Result<(), ExitReason> {
        match msg {
            Message::User { from, bytes } if from == ctx.pid() && *bytes == *DEADLINE_TAG => {
                self.on_deadline()
            }
            Message::User { from, bytes } => self.on_reply(from, &bytes),
            Message::Exit { pid, reason } => self.on_exit(ctx, pid, reason),
        }
        if self.shared.lock().phase == Phase::Closed {
            return Err(ExitReason::normal());
        }
        Ok(())
    }
}

/// A supervised conversation. Dropping it closes it. `Send + Sync`: calls may come from any
/// thread; `receive` and `await_crash` may block several threads at once.
pub struct Conversation {
    rt: RuntimeHandle,
    pid: Pid,
    shared: Arc<Shared>,
    deadline_timer: Option<TimerRef>,
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Conversation {
    /// Opens a conversation on `rt`. Returns once the actor runs with trap_exit set and every
    /// participant is linked to it. A dead participant fails the open with `NoProc` and leaves
    /// nothing behind (links removed, spawned participants and the actor stopped).
    /// `Unsupported` for [`Mode::Durable`]; `InvalidArgument` without participants, or when an
    /// external pid is 0 or given twice.
    pub fn open(
        rt: &RuntimeHandle,
        config: ConversationConfig,
    ) -> Result<Conversation, ConversationError> {
        let ConversationConfig {
            participants,
            timeout,
            mode,
            on_crash,
        } = config;
        if mode == Mode::Durable {
            return Err(ConversationError::Unsupported(
                "DURABLE conversations need the event store",
            ));
        }
        if participants.is_empty() {
            return Err(ConversationError::InvalidArgument(
                "a conversation needs at least one participant",
            ));
        }
        let mut externals: Vec<Pid> = participants
            .iter()
            .filter_map(|p| match p {
                Participant::External(pid) => Some(*pid),
                Participant::Spawn(_) => None,
            })
            .collect();
        let n = externals.len();
        externals.sort_unstable();
        externals.dedup();
        if externals.len() != n || externals.contains(&Pid::NONE) {
            return Err(ConversationError::InvalidArgument(
                "participants must be distinct, valid pids",
            ));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                phase: Phase::Created,
                deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
                trace: TraceContext::new_root(),
                participants: Vec::with_capacity(participants.len()),
                in_flight: BTreeMap::new(),
                replies: VecDeque::new(),
                next_request: 1,
                next_target: 0,
                sent: 0,
                received: 0,
                crashed: 0,
                crashes: Vec::new(),
                on_crash: Vec::new(),
                actor_exit: None,
            }),
            changed: Condvar::new(),
            epoch: AtomicU64::new(0),
        });
        let watcher = Arc::clone(&shared);
        let spawned = rt.spawn(
            Actor {
                shared: Arc::clone(&shared),
                on_crash,
            },
            SpawnOptions::new()
                .trap_exit(true)
                .monitor(move |_, reason| {
                    let mut st = watcher.lock();
                    st.actor_exit = Some(reason.clone());
                    st.phase = Phase::Closed;
                    watcher.notify();
                }),
        )?;
        let has_deadline = shared.lock().deadline.is_some();
        // From here on, dropping `conv` (on an early return) closes everything opened so far.
        let mut conv = Conversation {
            rt: rt.clone(),
            pid: spawned.pid,
            shared,
            deadline_timer: None,
        };
        if let (Some(t), true) = (timeout, has_deadline) {
            conv.deadline_timer = Some(rt.send_after_from(conv.pid, conv.pid, t, DEADLINE_TAG)?);
        }
        for p in participants {
            let linked = match p {
                Participant::External(pid) => {
                    conv.shared.lock().participants.push(ParticipantState {
                        pid,
                        spawned: false,
                        health: Health::Alive,
                        exit_reason: None,
                        exited_at_ns: None,
                    });
                    // Linking from the participant's side: a dead participant makes this fail
                    // with no signal sent anywhere.
                    rt.link(pid, conv.pid)
                }
                Participant::Spawn(b) => rt.spawn(b, SpawnOptions::new().link(conv.pid)).map(|s| {
                    conv.shared.lock().participants.push(ParticipantState {
                        pid: s.pid,
                        spawned: true,
                        health: Health::Alive,
                        exit_reason: None,
                        exited_at_ns: None,
                    });
                }),
            };
            if let Err(e) = linked {
                conv.close();
                return Err(e.into());
            }
        }
        Ok(conv)
    }

    /// The conversation actor's pid (participants reply to it).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Forwards `payload` as a new request to participant `to`, or, with `None`, to the next
    /// live participant in round-robin order. Returns the request id. Moves CREATED to ACTIVE.
    /// `NoProc` when the chosen (or every) participant is dead; `ParticipantCrashed`,
    /// `TimedOut`, `Closed` or `WrongPhase` (COMPLETING) when the phase refuses sends.
    pub fn send(&self, to: Option<Pid>, payload: &[u8]) -> Result<u64, ConversationError> {
        let mut st = self.shared.lock();
        if st.enforce_deadline() {
            self.shared.notify();
        }
        if st.phase.is_ended() {
            return Err(st.ended_error());
        }
        let next_phase = st.phase.apply(PhaseEvent::Send)?;
        let n = st.participants.len();
        let candidates: Vec<usize> = match to {
            Some(pid) => {
                let i = st.participants.iter().position(|p| p.pid == pid).ok_or(
                    ConversationError::InvalidArgument("not a participant of this conversation"),
                )?;
                vec![i]
            }
            None => (0..n).map(|k| (st.next_target + k) % n).collect(),
        };
        let id = st.next_request;
        let trace = st.trace.child();
        let bytes = encode_request(id, &trace, payload);
        for i in candidates {
            if st.participants[i].health != Health::Alive {
                continue;
            }
            let target = st.participants[i].pid;
            match self.rt.send_from(self.pid, target, bytes.clone()) {
                Ok(()) => {
                    st.next_request += 1;
                    st.next_target = (i + 1) % n;
                    st.in_flight.insert(
                        id,
                        InFlight {
                            request_id: id,
                            participant: target,
                            payload: payload.into(),
                            trace,
                        },
                    );
                    st.sent += 1;
                    st.phase = next_phase;
                    return Ok(id);
                }
                Err(ActorError::Closed) => return Err(ConversationError::Closed),
                Err(_) => continue, // dead; its exit is on its way to the actor
            }
        }
        Err(ConversationError::NoProc)
    }

    /// The oldest buffered reply, waiting up to `timeout` (`Duration::MAX`: no limit of its
    /// own; the conversation's timeout and death still end the wait). Moves CREATED to ACTIVE.
    /// After a FAIL-policy crash, buffered replies are delivered first, then
    /// `ParticipantCrashed`; after the conversation timed out, `TimedOut`; after close or the
    /// actor's death, `Closed`. `Timeout` when this call's own timeout expired.
    pub fn receive(&self, timeout: Duration) -> Result<Reply, ConversationError> {
        let until = Instant::now().checked_add(timeout);
        let mut spun = timeout.is_zero();
        let mut st = self.shared.lock();
        loop {
            if st.enforce_deadline() {
                self.shared.notify();
            }
            if st.phase == Phase::Closed {
                return Err(ConversationError::Closed);
            }
            if st.phase == Phase::Created {
                st.phase = Phase::Active;
            }
            if let Some(reply) = st.replies.pop_front() {
                st.received += 1;
                return Ok(reply);
            }
            if st.phase.is_ended() {
                return Err(st.ended_error());
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(ConversationError::Timeout);
            }
            if !spun {
                // Once, briefly (microseconds), before sleeping: a reply that is about to arrive
                // is taken without a futex sleep and wake-up.
                spun = true;
                let seen = self.shared.epoch.load(Ordering::Acquire);
                drop(st);
                let backoff = Backoff::new();
                while self.shared.epoch.load(Ordering::Acquire) == seen && !backoff.is_completed() {
                    backoff.snooze();
                }
                st = self.shared.lock();
                continue;
            }
            // Wake at the conversation's deadline too, to move it to TIMED_OUT on time.
            let wake = earliest(until, st.deadline);
            st = self.shared.wait(st, wake);
        }
    }

    /// Declares that no more requests will be sent: phase COMPLETING; replies still arrive and
    /// can be received.
    pub fn complete(&self) -> Result<(), ConversationError> {
        let mut st = self.shared.lock();
        st.enforce_deadline();
        if st.phase.is_ended() {
            return Err(st.ended_error());
        }
        st.phase = st.phase.apply(PhaseEvent::Complete)?;
        self.shared.notify();
        Ok(())
    }

    /// Registers a crash callback: called once per crashed participant — at once (on this
    /// thread) for crashes that already happened, later on the actor's worker thread — with no
    /// transom lock held. It is dropped when the conversation is.
    pub fn on_crash(&self, callback: impl FnMut(&CrashInfo) + Send + 'static) {
        let cb: CrashCallback = Arc::new(Mutex::new(Box::new(callback)));
        let replay = {
            let mut st = self.shared.lock();
            st.on_crash.push(Arc::clone(&cb));
            st.crashes.clone()
        };
        for info in &replay {
            run_crash_callbacks(std::slice::from_ref(&cb), info);
        }
    }

    /// The first participant crash, waiting up to `timeout` for one (event-driven, no polling).
    /// `Timeout` when none came; `Closed` when the conversation closed without one.
    pub fn await_crash(&self, timeout: Duration) -> Result<CrashInfo, ConversationError> {
        let until = Instant::now().checked_add(timeout);
        let mut st = self.shared.lock();
        loop {
            if let Some(info) = st.crashes.first() {
                return Ok(info.clone());
            }
            if st.phase == Phase::Closed {
                return Err(ConversationError::Closed);
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(ConversationError::Timeout);
            }
            st = self.shared.wait(st, until);
        }
    }

    /// Whether a participant has crashed (non-blocking).
    pub fn has_crashed(&self) -> bool {
        !self.shared.lock().crashes.is_empty()
    }

    /// A snapshot.
    pub fn state(&self) -> ConversationState {
        let mut st = self.shared.lock();
        if st.enforce_deadline() {
            self.shared.notify();
        }
        ConversationState {
            phase: st.phase,
            deadline: st.deadline,
            participants: st.participants.clone(),
            sent: st.sent,
            received: st.received,
            crashed: st.crashed,
            in_flight: st.in_flight.len(),
            buffered: st.replies.len(),
            trace: st.trace,
        }
    }

    /// Closes: idempotent, valid in every phase. Pending receives and crash waits return
    /// `Closed`; external participants are unlinked, spawned ones stopped (`SHUTDOWN`), and
    /// the actor stopped. Never waits for a callback, so it may be called from one.
    pub fn close(&self) {
        let participants = {
            let mut st = self.shared.lock();
            if st.phase == Phase::Closed && st.actor_exit.is_some() {
                return;
            }
            st.phase = Phase::Closed;
            self.shared.notify();
            st.participants.clone()
        };
        for p in &participants {
            let _ = self.rt.unlink(self.pid, p.pid);
            if p.spawned {
                let _ = self.rt.exit(p.pid, ExitReason::shutdown());
            }
        }
        // No links are left, so the actor's exit cascades nowhere. It traps exits: turn that
        // off first so the exit is immediate rather than a message.
        if let Some(t) = self.deadline_timer {
            self.rt.cancel_timer(t);
        }
        let _ = self.rt.set_trap_exit(self.pid, false);
        let _ = self.rt.exit(
            self.pid,
            ExitReason::new(ExitKind::Shutdown, 0, "conversation closed"),
        );
    }
}

impl Drop for Conversation {
    fn drop(&mut self) {
        self.close();
    }
}
