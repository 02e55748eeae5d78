//! The conversation actor: a callback process that traps exits (from before it can run), is
//! linked to every participant, takes replies into the buffer, enforces the deadline and
//! applies the crash policy when a participant crashes.
//!
//! Invariant: a participant exit is handled once (health leaves ALIVE once); NORMAL and
//! SHUTDOWN exits are not crashes; a crash is recorded, the policy applied and the callbacks
//! snapshotted under the state lock, and the compensation and crash callbacks run with it
//! released.
//!
//! # One wake-up per notification
//!
//! The actor is inline-capable (`crate::actor`'s process module, "Inline runs"): when a
//! participant's exit signal or reply reaches it while it is idle, the thread that delivered
//! it — the one running the participant's `exit`, its crash, or its `send` — runs the handler
//! right there, instead of waking a parked worker that would then wake the thread blocked in
//! `await_crash` or `receive` (two wake-ups in series, each a futex wake of a sleeping thread
//! that can cost tens of microseconds on a VM). Inline, the handler updates the state under
//! the state lock and the lock guard unparks the waiters after releasing it (`crate::sync::
//! wake`): one wake-up per notification, and the woken thread finds the lock free.
//!
//! An inline handler must neither block nor run user code on a thread that did not expect it
//! (the thread calling `exit` may hold its own locks). So, inline, it
//! - only *tries* the state lock, and declines the message to a worker if it is held (also
//!   when this very thread holds it: `reply` sends while holding it);
//! - declines an exit signal whenever handling it may call user code: under `COMPENSATE`, or
//!   when crash callbacks are registered. That test is made under the state lock, in the
//!   critical section that records the crash, so a callback registered concurrently either is
//!   seen (declined) or registers after the crash and gets it by replay.
//!
//! A declined message goes back to the front of the actor's queue and the actor stays claimed
//! until a worker has handled it, so messages are still handled one at a time, in order. On a
//! worker the crash path is the one that runs callbacks: it records the crash, runs the crash
//! callbacks, and only then wakes the `await_crash`/`receive` waiters — a callback's latency
//! never includes waking them. So a waiter is woken once, either by the notifying thread (no
//! callbacks) or by the worker right after the callbacks.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::actor::{Behaviour, ExitReason, Message, PendingSend, Pid, ProcessContext};
use crate::sync::{Mutex, Registration};

use super::callbacks::deliver;
use super::clock::monotonic_ns;
use super::phase::{Phase, PhaseEvent};
use super::policy::{next_live, CompensateFn, Compensation, CrashPolicy, InFlight};
use super::shared::{Guard, Shared, State};
use super::state::{CrashInfo, Health, Reply};
use super::wire::{decode_reply, encode_request};

/// What the runtime timer sends the actor (from the actor's own pid) at the deadline.
pub(super) const DEADLINE_TAG: &[u8] = b"TD\x01deadline";

/// The COMPENSATE callback, shared by the actor (which calls it) and the handle (which closes
/// it when the conversation is dropped, so the callback is gone by then even if the runtime
/// drops the actor's behaviour later).
pub(super) type SharedCompensate = Registration<Mutex<CompensateFn>>;

/// The crash policy as the actor applies it.
pub(super) enum Policy {
    Fail,
    RouteToNext,
    Compensate(SharedCompensate),
}

impl Policy {
    fn kind(&self) -> CrashPolicy {
        match self {
            Policy::Fail => CrashPolicy::Fail,
            Policy::RouteToNext => CrashPolicy::RouteToNext,
            Policy::Compensate(_) => CrashPolicy::Compensate,
        }
    }
}

/// The conversation actor's behaviour.
pub(super) struct Actor {
    pub(super) shared: Arc<Shared>,
    pub(super) policy: Policy,
}

impl Actor {
    /// Whether handling an exit signal may call user code: the compensation, or crash
    /// callbacks (checked under the state lock, in the critical section that would run them).
    fn exit_calls_user_code(&self, st: &State) -> bool {
        matches!(self.policy, Policy::Compensate(_)) || !st.callbacks.is_empty()
    }

    /// Each handler takes the locked state and returns whether the conversation is closed
    /// (then the actor stops).
    fn on_deadline(&self, mut st: Guard<'_>) -> bool {
        if st.enforce_deadline() {
            self.shared.notify(&mut st);
        }
        st.phase == Phase::Closed
    }

    fn on_reply(&self, mut st: Guard<'_>, from: Pid, bytes: &[u8]) -> bool {
        let Some((id, payload)) = decode_reply(bytes) else {
            return st.phase == Phase::Closed; // not a reply: ignored
        };
        st.answered.remove(&id);
        // Once ended, only replies buffered before stay receivable.
        if st.phase.is_ended() {
            return st.phase == Phase::Closed;
        }
        if st.in_flight.remove(&id).is_some() {
            st.replies.push_back(Reply {
                request_id: id,
                from,
                payload: payload.into(),
            });
            self.shared.notify(&mut st);
        }
        false
    }

    /// `rerouted`: the re-forwarded requests' wake-ups, done by the caller once the state
    /// lock is released.
    fn on_exit<'a, 'c>(
        &'a self,
        ctx: &'c ProcessContext,
        mut st: Guard<'a>,
        pid: Pid,
        reason: ExitReason,
        rerouted: &mut Vec<PendingSend<'c>>,
    ) -> bool {
        let observed_at_ns = monotonic_ns();
        let Some(idx) = st.participants.iter().position(|p| p.pid == pid) else {
            // Not a participant (e.g. an exit signal with a trappable reason).
            return st.phase == Phase::Closed;
        };
        if st.participants[idx].health != Health::Alive || st.phase == Phase::Closed {
            return st.phase == Phase::Closed;
        }
        let p = &mut st.participants[idx];
        p.exit_reason = Some(reason.clone());
        p.exited_at_ns = Some(observed_at_ns);
        // NORMAL and SHUTDOWN (an orderly stop, whoever asked for it) are not crashes: the
        // runtime's own rule for links.
        if !reason.is_abnormal() {
            p.health = Health::Exited;
            self.shared.notify(&mut st);
            return false;
        }
        p.health = Health::Crashed;
        st.crashed += 1;
        let orphans = st.take_orphans(pid);
        let mut fail = false;
        match &self.policy {
            Policy::Fail => fail = true,
            Policy::RouteToNext => {
                let mut alive = st.alive();
                'requests: for mut req in orphans {
                    loop {
                        let Some(next) = next_live(&alive, idx) else {
                            fail = true;
                            break 'requests;
                        };
                        let target = st.participants[next].pid;
                        let bytes = encode_request(req.request_id, &req.trace, &req.payload);
                        match ctx.runtime().send_from_pending(ctx.pid(), target, bytes) {
                            Ok(pending) => {
                                rerouted.push(pending);
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
            Policy::Compensate(callback) => {
                // Never inline (`exit_calls_user_code`): this runs on a worker.
                drop(st);
                fail = !matches!(
                    compensate(callback, pid, &reason, &orphans),
                    Some(Compensation::Continue)
                );
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
            participant_index: idx,
            reason,
            policy: self.policy.kind(),
            observed_at_ns,
        };
        st.crashes.push(info.clone());
        let callbacks = st.callbacks.snapshot();
        self.shared.notify(&mut st);
        if callbacks.is_empty() {
            // Nothing to run first: the guard wakes the waiters as it unlocks.
            return st.phase == Phase::Closed;
        }
        // Callbacks first, then the blocked await_crash/receive calls: a crash callback's
        // latency must not include waking other threads (each unpark is a system call).
        let wakes = self.shared.take_wakes(&mut st);
        drop(st);
        // The re-forwarded requests go out now: they must not wait for user callbacks.
        rerouted.clear();
        deliver(&callbacks, &info);
        wakes.wake();
        // A callback may have closed the conversation.
        self.shared.lock().phase == Phase::Closed
    }
}

/// Asks the compensation; `None` when it panicked or was closed (the conversation is being
/// dropped): the caller fails the conversation then.
fn compensate(
    callback: &SharedCompensate,
    pid: Pid,
    reason: &ExitReason,
    orphans: &[InFlight],
) -> Option<Compensation> {
    callback
        .invoke(|f| catch_unwind(AssertUnwindSafe(|| (f.lock())(pid, reason, orphans))).ok())
        .flatten()
}

impl Behaviour for Actor {
    /// On a worker, or inline on the thread that delivered the message (the exiting
    /// participant's, the replying one's): inline, it only proceeds when the state lock is
    /// free and the message calls no user code, else it declines the message to a worker
    /// (see the module doc).
    fn handle(&mut self, ctx: &ProcessContext, msg: Message) -> Result<(), ExitReason> {
        // Declared before the guard, dropped after it (see `on_exit`).
        let mut rerouted = Vec::new();
        let st = if ctx.is_inline() {
            match self.shared.try_lock() {
                Some(st) => st,
                None => {
                    // Held elsewhere — possibly by this very thread (a reply is sent under
                    // it): a worker waits for it instead.
                    ctx.decline(msg);
                    return Ok(());
                }
            }
        } else {
            self.shared.lock()
        };
        let closed = match msg {
            Message::User { from, bytes } if from == ctx.pid() && *bytes == *DEADLINE_TAG => {
                self.on_deadline(st)
            }
            Message::User { from, bytes } => self.on_reply(st, from, &bytes),
            Message::Exit { pid, reason } => {
                if ctx.is_inline() && self.exit_calls_user_code(&st) {
                    drop(st);
                    ctx.decline(Message::Exit { pid, reason });
                    return Ok(());
                }
                self.on_exit(ctx, st, pid, reason, &mut rerouted)
            }
        };
        if closed {
            return Err(ExitReason::normal());
        }
        Ok(())
    }
}
