//! The conversation actor: a callback process that traps exits (from before it can run), is
//! linked to every participant, takes replies into the buffer, enforces the deadline and
//! applies the crash policy when a participant crashes.
//!
//! Invariant: a participant exit is handled once (health leaves ALIVE once); NORMAL and
//! SHUTDOWN exits are not crashes; a crash is recorded, the policy applied and the callbacks
//! snapshotted under the state lock, and the compensation and crash callbacks run with it
//! released.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::actor::{Behaviour, ExitReason, Message, Pid, ProcessContext};
use crate::sync::{Mutex, Registration};

use super::callbacks::deliver;
use super::clock::monotonic_ns;
use super::phase::{Phase, PhaseEvent};
use super::policy::{next_live, CompensateFn, Compensation, CrashPolicy, InFlight};
use super::shared::Shared;
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
    fn on_deadline(&self) {
        let mut st = self.shared.lock();
        if st.enforce_deadline() {
            self.shared.notify(&mut st);
        }
    }

    fn on_reply(&self, from: Pid, bytes: &[u8]) {
        let Some((id, payload)) = decode_reply(bytes) else {
            return; // not a reply: ignored
        };
        let mut st = self.shared.lock();
        st.answered.remove(&id);
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
            self.shared.notify(&mut st);
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
        // NORMAL and SHUTDOWN (an orderly stop, whoever asked for it) are not crashes: the
        // runtime's own rule for links.
        if !reason.is_abnormal() {
            p.health = Health::Exited;
            self.shared.notify(&mut st);
            return;
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
            Policy::Compensate(callback) => {
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
        // Callbacks first, then the blocked await_crash/receive calls: a crash callback's
        // latency must not include waking other threads (each unpark is a system call).
        let wakes = self.shared.take_wakes(&mut st);
        drop(st);
        deliver(&callbacks, &info);
        wakes.wake();
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
