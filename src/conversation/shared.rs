//! The state a conversation handle and its actor share: one mutex over everything a caller can
//! observe, one condition variable for every blocking call.
//!
//! Invariant: phase, participants' health, buffered replies, in-flight requests, crash records,
//! crash callbacks and counters live in one [`State`] under one mutex and are only changed while
//! holding it; user callbacks never run under it. Every change that could end a wait (a reply,
//! a crash, a phase change, the actor's death) goes through [`Shared::notify`], which also
//! raises or lowers the pollable descriptors under that same lock (and so does the receive
//! that takes the last reply).
//!
//! Blocked calls park on per-call parkers (`crate::sync::wake`): `notify` takes every
//! registered waiter into the state's pending wakes, and the [`Guard`] wakes them when it is
//! dropped, *after* releasing the lock, so a woken thread never blocks on the notifier's lock.
//! The crash path takes the pending wakes out itself, to run the crash callbacks first.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::actor::ExitReason;
use crate::sync::ready_fd::{self, ReadyFd};
use crate::sync::wake::{Waiters, Wakes};
use crate::sync::{Mutex, MutexGuard, SpinHistory};

use super::callbacks::CrashCallbacks;
use super::error::ConversationError;
use super::phase::Phase;
use super::policy::InFlight;
use super::state::{CrashInfo, Health, ParticipantState, Reply};
use super::trace::TraceContext;

/// How long a receive looks for a reply without the lock (a busy spin, see
/// `crate::sync::spin`) before it parks, while replies recently came that soon
/// ([`SpinHistory`]).
const SPIN: std::time::Duration = std::time::Duration::from_micros(10);

pub(super) struct State {
    pub(super) phase: Phase,
    /// The deadline, as an instant (for waits) and on the monotonic clock (for reports).
    pub(super) deadline: Option<(Instant, u64)>,
    pub(super) trace: TraceContext,
    pub(super) participants: Vec<ParticipantState>,
    pub(super) in_flight: BTreeMap<u64, InFlight>,
    /// In-flight requests whose reply went through [`reply`](super::reply) and is on its way to
    /// the actor: a second reply to one of them is refused, and a crash of the participant
    /// does not orphan them.
    pub(super) answered: HashSet<u64>,
    pub(super) replies: VecDeque<Reply>,
    pub(super) next_request: u64,
    pub(super) next_target: usize,
    pub(super) sent: u64,
    pub(super) received: u64,
    pub(super) crashed: u64,
    pub(super) crashes: Vec<CrashInfo>,
    pub(super) callbacks: CrashCallbacks,
    pub(super) actor_exit: Option<ExitReason>,
    /// Raised while a receive would not wait, once asked for.
    pub(super) fd: Option<ReadyFd>,
    /// Raised once an await_crash would not wait, once asked for.
    pub(super) crash_fd: Option<ReadyFd>,
    /// Whether a receive that found nothing spins first ([`SpinHistory`]).
    pub(super) receive_spin: SpinHistory,
    /// Threads blocked in receive or await_crash.
    waiters: Waiters,
    /// Waiters taken by `notify`, woken when the guard releases the lock.
    pending: Wakes,
}

impl State {
    pub(super) fn new(deadline: Option<(Instant, u64)>, participants: usize) -> State {
        State {
            phase: Phase::Created,
            deadline,
            trace: TraceContext::new_root(),
            participants: Vec::with_capacity(participants),
            in_flight: BTreeMap::new(),
            answered: HashSet::new(),
            replies: VecDeque::new(),
            next_request: 1,
            next_target: 0,
            sent: 0,
            received: 0,
            crashed: 0,
            // Allocated now rather than on the crash path a woken await_crash waits for.
            crashes: Vec::with_capacity(participants),
            callbacks: CrashCallbacks::default(),
            actor_exit: None,
            fd: None,
            crash_fd: None,
            receive_spin: SpinHistory::new(),
            waiters: Waiters::default(),
            pending: Wakes::default(),
        }
    }

    /// Whether a receive would return at once: a reply is buffered or the conversation ended
    /// (FAILED, DEADLINE_EXCEEDED, CLOSED: the receive reports it).
    pub(super) fn receive_ready(&self) -> bool {
        !self.replies.is_empty() || self.phase.is_ended()
    }

    /// Whether an await_crash would return at once: a crash is recorded, or it is closed.
    pub(super) fn crash_ready(&self) -> bool {
        !self.crashes.is_empty() || self.phase == Phase::Closed
    }

    /// How many calls are parked on the state (tests wait for a waiter to be parked).
    #[cfg(test)]
    pub(super) fn waiter_count(&self) -> usize {
        self.waiters.len()
    }

    /// Brings the descriptors (if any) in line with the state; call after every change.
    pub(super) fn sync_fds(&mut self) {
        if self.fd.is_some() {
            let ready = self.receive_ready();
            ready_fd::update(&mut self.fd, ready);
        }
        if self.crash_fd.is_some() {
            let ready = self.crash_ready();
            ready_fd::update(&mut self.crash_fd, ready);
        }
    }

    /// Moves a live conversation whose deadline has passed to DEADLINE_EXCEEDED; true if it
    /// did.
    pub(super) fn enforce_deadline(&mut self) -> bool {
        if self.phase.is_ended() {
            return false;
        }
        match self.deadline {
            Some((at, _)) if Instant::now() >= at => {
                self.phase = Phase::DeadlineExceeded;
                true
            }
            _ => false,
        }
    }

    /// The error a call gets in an ended phase.
    pub(super) fn ended_error(&self) -> ConversationError {
        match self.phase {
            Phase::Failed => ConversationError::ParticipantCrashed,
            Phase::DeadlineExceeded => ConversationError::DeadlineExceeded,
            _ => ConversationError::Closed,
        }
    }

    pub(super) fn alive(&self) -> Vec<bool> {
        self.participants
            .iter()
            .map(|p| p.health == Health::Alive)
            .collect()
    }

    /// Takes the in-flight requests forwarded to `pid` that no reply is on its way for.
    pub(super) fn take_orphans(&mut self, pid: crate::actor::Pid) -> Vec<InFlight> {
        let ids: Vec<u64> = self
            .in_flight
            .values()
            .filter(|r| r.participant == pid && !self.answered.contains(&r.request_id))
            .map(|r| r.request_id)
            .collect();
        ids.iter()
            .filter_map(|id| self.in_flight.remove(id))
            .collect()
    }
}

/// The locked state; on drop it releases the lock, then wakes the waiters `notify` took.
pub(super) struct Guard<'a>(std::mem::ManuallyDrop<MutexGuard<'a, State>>);

impl std::ops::Deref for Guard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.0
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let wakes = std::mem::take(&mut self.0.pending);
        // SAFETY: the inner guard is dropped exactly once, here, and not used afterwards.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.0) };
        wakes.wake();
    }
}

pub(super) struct Shared {
    state: Mutex<State>,
    /// Bumped by every notification, so a receiver can spin briefly on it before sleeping.
    epoch: AtomicU64,
}

impl Shared {
    pub(super) fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
            epoch: AtomicU64::new(0),
        }
    }

    /// Updates the descriptors and takes every waiter, to be woken once the lock is released
    /// (call it with the state changed, under the lock: `st` is the guarded state).
    pub(super) fn notify(&self, st: &mut State) {
        st.sync_fds();
        self.epoch.fetch_add(1, Ordering::Release);
        let wakes = st.waiters.take_all();
        st.pending.append(wakes);
    }

    /// Takes the wakes `notify` left pending, for a caller that has something more urgent to
    /// do after unlocking (the crash callbacks) before it wakes them.
    pub(super) fn take_wakes(&self, st: &mut State) -> Wakes {
        std::mem::take(&mut st.pending)
    }

    pub(super) fn lock(&self) -> Guard<'_> {
        Guard(std::mem::ManuallyDrop::new(self.state.lock()))
    }

    /// The lock if it is free right now (an inline run of the actor must never block; the
    /// caller may hold it itself).
    pub(super) fn try_lock(&self) -> Option<Guard<'_>> {
        self.state
            .try_lock()
            .map(|g| Guard(std::mem::ManuallyDrop::new(g)))
    }

    /// The notification count (see [`Shared::spin_until_changed`]).
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Spins briefly (microseconds, no lock held, never past `until`) until a notification
    /// after `seen`; true when one came. A reply about to arrive is then taken without a futex
    /// sleep and wake-up.
    pub(super) fn spin_until_changed(&self, seen: u64, until: Option<Instant>) -> bool {
        let budget = until.map_or(SPIN, |u| {
            SPIN.min(u.saturating_duration_since(Instant::now()))
        });
        crate::sync::spin_while(budget, || self.epoch() == seen)
    }

    /// Waits for a change, at most until `until` (no limit when `None`). Callers re-check
    /// their condition and their own deadline afterwards (wake-ups may be spurious).
    pub(super) fn wait<'a>(&'a self, mut st: Guard<'a>, until: Option<Instant>) -> Guard<'a> {
        if until.is_some_and(|u| Instant::now() >= u) {
            return st;
        }
        let waiter = st.waiters.register();
        drop(st);
        waiter.park(until);
        let mut st = self.lock();
        st.waiters.cancel(&waiter);
        st
    }
}

/// The earlier of two optional instants (`None` = never).
pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
