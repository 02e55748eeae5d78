//! Crash policies: what a conversation does when a linked participant exits abnormally.
//!
//! Invariant: the policy is chosen when the conversation is opened and never defaults — a
//! [`ConversationConfig`](super::ConversationConfig) cannot be built without one. A crash is an
//! exit whose kind is neither NORMAL nor SHUTDOWN.

use std::fmt;

use crate::actor::{ExitReason, Pid};

use super::trace::TraceContext;

/// The policy kinds, as reported in crash notifications and state snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashPolicy {
    /// The conversation fails: buffered replies are still delivered, then `receive` returns
    /// `ParticipantCrashed`; later sends fail.
    Fail,
    /// The dead participant's in-flight requests go to the next live participant; the
    /// conversation fails only when none is left.
    RouteToNext,
    /// A user callback gets the in-flight requests and the reason and decides.
    Compensate,
}

impl CrashPolicy {
    /// The upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            CrashPolicy::Fail => "FAIL",
            CrashPolicy::RouteToNext => "ROUTE_TO_NEXT",
            CrashPolicy::Compensate => "COMPENSATE",
        }
    }

    /// The stable number the C API uses.
    pub const fn as_raw(self) -> i32 {
        match self {
            CrashPolicy::Fail => 0,
            CrashPolicy::RouteToNext => 1,
            CrashPolicy::Compensate => 2,
        }
    }
}

impl fmt::Display for CrashPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A request that was forwarded to a participant and has no reply yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The request id (unique within the conversation).
    pub request_id: u64,
    /// The participant it was forwarded to.
    pub participant: Pid,
    /// The request's payload.
    pub payload: Box<[u8]>,
    /// The request's trace context (a child of the conversation's).
    pub trace: TraceContext,
}

/// What a compensation callback decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compensation {
    /// Carry on without the dead participant (its in-flight requests are dropped).
    Continue,
    /// Fail the conversation.
    Fail,
}

/// The compensation callback: `(crashed participant, its reason, its in-flight requests)`.
/// Runs on the conversation actor's worker thread, with no transom lock held. It is dropped
/// when the conversation is (at the latest).
pub type CompensateFn = Box<dyn FnMut(Pid, &ExitReason, &[InFlight]) -> Compensation + Send>;

/// The policy with its data, as given to `open`.
pub enum OnCrash {
    /// See [`CrashPolicy::Fail`].
    Fail,
    /// See [`CrashPolicy::RouteToNext`].
    RouteToNext,
    /// See [`CrashPolicy::Compensate`].
    Compensate(CompensateFn),
}

impl OnCrash {
    /// The policy kind.
    pub fn policy(&self) -> CrashPolicy {
        match self {
            OnCrash::Fail => CrashPolicy::Fail,
            OnCrash::RouteToNext => CrashPolicy::RouteToNext,
            OnCrash::Compensate(_) => CrashPolicy::Compensate,
        }
    }
}

impl fmt::Debug for OnCrash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.policy().name())
    }
}

/// The index of the next live participant after `dead` in circular order, `None` when no other
/// participant is alive. `alive[dead]` itself is ignored.
pub fn next_live(alive: &[bool], dead: usize) -> Option<usize> {
    let n = alive.len();
    (1..n).map(|k| (dead + k) % n).find(|&i| alive[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_live_wraps_around_and_skips_the_dead() {
        assert_eq!(next_live(&[true, false, true], 1), Some(2));
        assert_eq!(next_live(&[true, false, false], 2), Some(0));
        assert_eq!(next_live(&[false, true, false, true], 1), Some(3));
        assert_eq!(
            next_live(&[false, true, false], 1),
            None,
            "only the dead one"
        );
        assert_eq!(next_live(&[true], 0), None);
        assert_eq!(next_live(&[], 0), None);
    }

    #[test]
    fn policy_kinds_have_stable_names_and_numbers() {
        let all = [
            CrashPolicy::Fail,
            CrashPolicy::RouteToNext,
            CrashPolicy::Compensate,
        ];
        let raws: Vec<_> = all.iter().map(|p| p.as_raw()).collect();
        assert_eq!(raws, vec![0, 1, 2]);
        assert_eq!(
            OnCrash::Compensate(Box::new(|_, _, _| Compensation::Continue)).policy(),
            CrashPolicy::Compensate
        );
        assert_eq!(CrashPolicy::RouteToNext.to_string(), "ROUTE_TO_NEXT");
    }
}
