//! The conversation handle: open, send, receive (with parked replies), complete, crash
//! callbacks, crash waits, snapshots, close.
//!
//! Invariant: every blocking call takes a timeout and is also ended by close, the deadline and
//! the actor's death (the actor's monitor closes the state when it dies); a timed wait that
//! expires is `Ok(None)`, never an error. Dropping the handle closes the conversation and ends
//! every callback registration (crash callbacks, compensation), so no callback runs and every
//! one has been dropped once `drop` returns (except one in progress on the dropping thread,
//! dropped when it returns).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::actor::{ActorError, ExitKind, ExitReason, Pid, RuntimeHandle, SpawnOptions, TimerRef};
use crate::sync::{Mutex, Registration};

use super::actor::{Actor, Policy, SharedCompensate, DEADLINE_TAG};
use super::callbacks::{deliver, CrashCallbackId};
use super::clock::deadline_after;
use super::config::{ConversationConfig, Mode, Participant};
use super::error::ConversationError;
use super::phase::{Phase, PhaseEvent};
use super::policy::{InFlight, OnCrash};
use super::replies;
use super::shared::{earliest, Shared, State};
use super::state::{ConversationState, CrashInfo, Health, ParticipantState, Reply, ReplyHeader};
use super::wire::encode_request;

/// A supervised conversation. Dropping it closes it. `Send + Sync`: calls may come from any
/// thread; `receive` and `await_crash` may block several threads at once.
pub struct Conversation {
    rt: RuntimeHandle,
    pid: Pid,
    shared: Arc<Shared>,
    deadline_timer: Option<TimerRef>,
    compensate: Option<SharedCompensate>,
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

fn participant_state(pid: Pid, spawned: bool) -> ParticipantState {
    ParticipantState {
        pid,
        spawned,
        health: Health::Alive,
        exit_reason: None,
        exited_at_ns: None,
    }
}

impl Conversation {
    /// Opens a conversation on `rt`. Returns once the actor runs with trap_exit set and every
    /// participant is linked to it. A dead participant fails the open with `NoProc` and leaves
    /// nothing behind (links removed, spawned participants and the actor stopped, the
    /// compensation dropped). `Unsupported` for [`Mode::Durable`]; `InvalidArgument` without
    /// participants, or when an external pid is 0 or given twice.
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
        let deadline = timeout.and_then(deadline_after);
        let shared = Arc::new(Shared::new(State::new(deadline, participants.len())));
        let (policy, compensate) = match on_crash {
            OnCrash::Fail => (Policy::Fail, None),
            OnCrash::RouteToNext => (Policy::RouteToNext, None),
            OnCrash::Compensate(f) => {
                let reg = Registration::new(Mutex::new(f));
                (Policy::Compensate(reg.clone()), Some(reg))
            }
        };
        let watcher = Arc::clone(&shared);
        let spawned = rt.spawn(
            Actor {
                shared: Arc::clone(&shared),
                policy,
            },
            SpawnOptions::new()
                .trap_exit(true)
                .inline()
                .monitor(move |_, reason| {
                    let mut st = watcher.lock();
                    st.actor_exit = Some(reason.clone());
                    st.phase = Phase::Closed;
                    watcher.notify(&mut st);
                }),
        );
        let spawned = match spawned {
            Ok(s) => s,
            Err(e) => {
                if let Some(reg) = &compensate {
                    reg.close();
                }
                return Err(e.into());
            }
        };
        replies::register(rt, spawned.pid, &shared);
        // From here on, dropping `conv` (on an early return) closes everything opened so far.
        let mut conv = Conversation {
            rt: rt.clone(),
            pid: spawned.pid,
            shared,
            deadline_timer: None,
            compensate,
        };
        if let (Some(t), Some(_)) = (timeout, deadline) {
            conv.deadline_timer = Some(rt.send_after_from(conv.pid, conv.pid, t, DEADLINE_TAG)?);
        }
        for p in participants {
            let linked = match p {
                Participant::External(pid) => {
                    conv.shared
                        .lock()
                        .participants
                        .push(participant_state(pid, false));
                    // Linking from the participant's side: a dead participant makes this fail
                    // with no signal sent anywhere.
                    rt.link(pid, conv.pid)
                }
                Participant::Spawn(b) => rt.spawn(b, SpawnOptions::new().link(conv.pid)).map(|s| {
                    conv.shared
                        .lock()
                        .participants
                        .push(participant_state(s.pid, true));
                }),
            };
            if let Err(e) = linked {
                return Err(e.into());
            }
        }
        Ok(conv)
    }

    /// How many calls are parked in `receive`/`await_crash` (tests wait for a parked waiter).
    #[cfg(test)]
    pub(super) fn parked_waiters(&self) -> usize {
        self.shared.lock().waiter_count()
    }

    /// The receive spin history's count (tests).
    #[cfg(test)]
    pub(super) fn receive_spin_count(&self) -> u8 {
        self.shared.lock().receive_spin.count()
    }

    /// The conversation actor's pid (participants reply to it).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Forwards `payload` as a new request to participant `to`, or, with `None`, to the next
    /// live participant in round-robin order. Returns the request id. Moves CREATED to ACTIVE.
    /// `NoProc` when the chosen (or every) participant is dead; `ParticipantCrashed`,
    /// `DeadlineExceeded`, `Closed` or `WrongPhase` (COMPLETING) when the phase refuses sends.
    pub fn send(&self, to: Option<Pid>, payload: &[u8]) -> Result<u64, ConversationError> {
        // Sent under the state lock (the request is in flight before its reply can be
        // handled), but the participant is woken only after the lock is released: declared
        // before the guard, this is dropped after it.
        let mut wake_after_unlock = Vec::with_capacity(1);
        let mut st = self.shared.lock();
        if st.enforce_deadline() {
            self.shared.notify(&mut st);
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
            match self.rt.send_from_pending(self.pid, target, bytes.clone()) {
                Ok(pending) => {
                    wake_after_unlock.push(pending);
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

    /// The oldest buffered reply, waiting up to `timeout` (`None`: no limit of its own; close,
    /// the deadline and the actor's death still end the wait). `Ok(None)` when this call's own
    /// timeout expired (a later reply is not lost). Moves CREATED to ACTIVE.
    ///
    /// Replies are handed out in the order the conversation took them. Once the conversation
    /// has ended, the replies it had buffered are still delivered first; then every receive
    /// returns the ending: `ParticipantCrashed` (FAILED), `DeadlineExceeded` (the deadline
    /// passed; replies arriving after it are discarded) or `Closed` (close, or the actor's
    /// death — buffered replies are not delivered after close).
    pub fn receive(&self, timeout: Option<Duration>) -> Result<Option<Reply>, ConversationError> {
        self.take_reply(timeout, usize::MAX, |reply| reply)
    }

    /// [`receive`](Conversation::receive) into `buf`: the payload is copied to the start of
    /// `buf` and the header returned. A reply longer than `buf` is not taken: it stays first in
    /// line ("parked") for the next receive, and the call fails with `BufferTooSmall` giving
    /// its length.
    pub fn receive_into(
        &self,
        timeout: Option<Duration>,
        buf: &mut [u8],
    ) -> Result<Option<ReplyHeader>, ConversationError> {
        self.take_reply(timeout, buf.len(), |reply| {
            buf[..reply.payload.len()].copy_from_slice(&reply.payload);
            ReplyHeader {
                request_id: reply.request_id,
                from: reply.from,
                len: reply.payload.len(),
            }
        })
    }

    /// The receive loop: takes the oldest reply if its payload fits `cap` bytes (else
    /// `BufferTooSmall`, the reply stays first) and hands it to `take` with the lock released.
    pub(crate) fn take_reply<R>(
        &self,
        timeout: Option<Duration>,
        cap: usize,
        take: impl FnOnce(Reply) -> R,
    ) -> Result<Option<R>, ConversationError> {
        let until = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut spun = timeout == Some(Duration::ZERO);
        let mut st = self.shared.lock();
        loop {
            if st.enforce_deadline() {
                self.shared.notify(&mut st);
            }
            if st.phase == Phase::Closed {
                return Err(ConversationError::Closed);
            }
            if st.phase == Phase::Created {
                st.phase = Phase::Active;
            }
            if let Some(first) = st.replies.front() {
                if first.payload.len() > cap {
                    return Err(ConversationError::BufferTooSmall {
                        needed: first.payload.len(),
                    });
                }
                let reply = st.replies.pop_front().expect("a front reply");
                st.received += 1;
                st.sync_fds();
                drop(st);
                return Ok(Some(take(reply)));
            }
            if st.phase.is_ended() {
                return Err(st.ended_error());
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Ok(None);
            }
            if !spun {
                spun = true;
                // Briefly, before sleeping, while this conversation's spins pay (see
                // crate::sync::SpinHistory): a reply about to arrive is taken without a futex
                // sleep and wake-up.
                if st.receive_spin.should_spin() {
                    let seen = self.shared.epoch();
                    drop(st);
                    let saw_it = self.shared.spin_until_changed(seen, until);
                    st = self.shared.lock();
                    st.receive_spin.record(saw_it);
                    continue;
                }
            }
            // Wake at the deadline too, to move the conversation to DEADLINE_EXCEEDED on time.
            let wake = earliest(until, st.deadline.map(|(at, _)| at));
            st = self.shared.wait(st, wake);
        }
    }

    /// Declares that no more requests will be sent: phase COMPLETING; replies still arrive and
    /// can be received.
    pub fn complete(&self) -> Result<(), ConversationError> {
        let mut st = self.shared.lock();
        if st.enforce_deadline() {
            self.shared.notify(&mut st);
        }
        if st.phase.is_ended() {
            return Err(st.ended_error());
        }
        st.phase = st.phase.apply(PhaseEvent::Complete)?;
        self.shared.notify(&mut st);
        Ok(())
    }

    /// Registers a crash callback: called exactly once per crashed participant — at once, on
    /// this thread, for crashes that already happened (also after close), later on the actor's
    /// worker thread — with no transom lock held. A crash observed while this call runs may be
    /// reported on the worker while the replay runs here: the callback must be `Sync`.
    /// A panic inside it is contained. It is dropped by
    /// [`remove_crash_callback`](Conversation::remove_crash_callback) or with the conversation.
    pub fn add_crash_callback(
        &self,
        callback: impl Fn(&CrashInfo) + Send + Sync + 'static,
    ) -> CrashCallbackId {
        let (id, reg, replay) = {
            let mut st = self.shared.lock();
            let (id, reg) = st.callbacks.add(Box::new(callback));
            (id, reg, st.crashes.clone())
        };
        for info in &replay {
            deliver(std::slice::from_ref(&reg), info);
        }
        id
    }

    /// Unregisters a crash callback: once this returns it is not called again and no call of
    /// it is in flight (from inside the callback itself this returns at once; the callback is
    /// then dropped when it returns), and it has been dropped. `CrashCallbackNotFound` for an
    /// id that names no registered callback (never given, or removed already).
    pub fn remove_crash_callback(&self, id: CrashCallbackId) -> Result<(), ConversationError> {
        let reg = self
            .shared
            .lock()
            .callbacks
            .remove(id)
            .ok_or(ConversationError::CrashCallbackNotFound(id))?;
        reg.close();
        Ok(())
    }

    /// The first participant crash, waiting up to `timeout` for one (`None`: no limit;
    /// event-driven, no polling). `Ok(None)` when none came in time; `Closed` when the
    /// conversation closed without one.
    pub fn await_crash(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<CrashInfo>, ConversationError> {
        let until = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = self.shared.lock();
        loop {
            if let Some(info) = st.crashes.first() {
                return Ok(Some(info.clone()));
            }
            if st.phase == Phase::Closed {
                return Err(ConversationError::Closed);
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Ok(None);
            }
            st = self.shared.wait(st, until);
        }
    }

    /// A pollable descriptor for replies (Linux eventfd, non-blocking, close-on-exec), created
    /// on the first call and owned by this handle: closed when it is dropped.
    ///
    /// Level-triggered: readable exactly while a [`Conversation::receive`] would not wait — a
    /// reply is buffered, or the conversation has ended (FAILED, which is what a crash does
    /// under [`OnCrash::Fail`], DEADLINE_EXCEEDED or CLOSED: the receive reports it) — and not
    /// readable again once a receive took the last reply. Under `RouteToNext` and `Compensate`
    /// a crash does not end the conversation: watch [`Conversation::crash_fd`] for it. Safe
    /// with `poll`, `epoll` and `select`; never read or write it yourself. Fails only if the OS
    /// refused a descriptor.
    pub fn fd(&self) -> std::io::Result<std::os::fd::RawFd> {
        let mut st = self.shared.lock();
        if st.enforce_deadline() {
            self.shared.notify(&mut st);
        }
        let ready = st.receive_ready();
        crate::sync::ready_fd::ensure(&mut st.fd, ready)
    }

    /// A pollable descriptor for crashes, like [`Conversation::fd`]: readable once an
    /// [`Conversation::await_crash`] would not wait — a participant crashed, or the
    /// conversation closed — and from then on (a crash is never consumed).
    pub fn crash_fd(&self) -> std::io::Result<std::os::fd::RawFd> {
        let mut st = self.shared.lock();
        let ready = st.crash_ready();
        crate::sync::ready_fd::ensure(&mut st.crash_fd, ready)
    }

    /// Whether a participant has crashed (non-blocking).
    pub fn has_crashed(&self) -> bool {
        !self.shared.lock().crashes.is_empty()
    }

    /// A snapshot.
    pub fn state(&self) -> ConversationState {
        let mut st = self.shared.lock();
        if st.enforce_deadline() {
            self.shared.notify(&mut st);
        }
        ConversationState {
            pid: self.pid,
            phase: st.phase,
            deadline_ns: st.deadline.map(|(_, ns)| ns),
            participants: st.participants.clone(),
            sent: st.sent,
            received: st.received,
            crashed: st.crashed,
            in_flight: st.in_flight.len(),
            buffered: st.replies.len(),
            trace: st.trace,
        }
    }

    /// The participants, in `open` order (one consistent snapshot).
    pub fn participants(&self) -> Vec<ParticipantState> {
        self.shared.lock().participants.clone()
    }

    /// The number of participants (fixed at open).
    pub fn participant_count(&self) -> usize {
        self.shared.lock().participants.len()
    }

    /// Closes: idempotent, valid in every phase. Meant to race other calls: receives and crash
    /// waits blocked on other threads return `Closed`, and so does every later call that needs
    /// a live conversation (queries keep answering). External participants are unlinked,
    /// spawned ones stopped (`SHUTDOWN`), and the actor stopped. Never waits for a callback,
    /// so it may be called from one.
    pub fn close(&self) {
        let participants = {
            let mut st = self.shared.lock();
            if st.phase == Phase::Closed && st.actor_exit.is_some() {
                return;
            }
            st.phase = Phase::Closed;
            self.shared.notify(&mut st);
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
    /// Closes, then ends every registration: waits for crash callbacks and the compensation
    /// running on other threads, and drops them (from inside one of them it does not wait:
    /// that one is dropped when it returns).
    fn drop(&mut self) {
        self.close();
        replies::unregister(&self.rt, self.pid);
        let callbacks = self.shared.lock().callbacks.take_all();
        for reg in callbacks {
            reg.close();
        }
        if let Some(reg) = &self.compensate {
            reg.close();
        }
        // The state may outlive the handle (the actor, the reply registry): close the
        // descriptors now.
        let fds = {
            let mut st = self.shared.lock();
            (st.fd.take(), st.crash_fd.take())
        };
        drop(fds);
    }
}
