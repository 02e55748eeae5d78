//! The conversation phase machine.
//!
//! ```text
//! CREATED ──send/receive──▶ ACTIVE ──complete──▶ COMPLETING ──close──▶ CLOSED
//!    │                        │                      │
//!    └──── fail ─────────────┴──────────────────────┴──▶ FAILED ──close──▶ CLOSED
//!    └──── deadline ─────────┴──────────────────────┴──▶ DEADLINE_EXCEEDED ──close──▶ CLOSED
//! ```
//!
//! Invariant: CLOSED is final, and the first ending wins — once FAILED or DEADLINE_EXCEEDED, a later
//! failure or deadline does not rewrite why the conversation ended. Every transition not drawn
//! above is refused with a [`PhaseError`] and leaves the phase unchanged.

use std::fmt;

use thiserror::Error;

/// Where a conversation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Opened; nothing sent or received yet.
    Created,
    /// At least one send or receive happened.
    Active,
    /// No more sends; replies still come in and can be received.
    Completing,
    /// Closed (final).
    Closed,
    /// Ended by a participant crash under the `FAIL` policy (or no participant left under
    /// `ROUTE_TO_NEXT`, or a compensation that gave up). Buffered replies are still received.
    Failed,
    /// The configured deadline passed. Buffered replies are still received.
    DeadlineExceeded,
}

impl Phase {
    /// The upper-case name (`"ACTIVE"`, `"DEADLINE_EXCEEDED"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Created => "CREATED",
            Phase::Active => "ACTIVE",
            Phase::Completing => "COMPLETING",
            Phase::Closed => "CLOSED",
            Phase::Failed => "FAILED",
            Phase::DeadlineExceeded => "DEADLINE_EXCEEDED",
        }
    }

    /// The stable number the C API uses (0..=5 in declaration order).
    pub const fn as_raw(self) -> i32 {
        match self {
            Phase::Created => 0,
            Phase::Active => 1,
            Phase::Completing => 2,
            Phase::Closed => 3,
            Phase::Failed => 4,
            Phase::DeadlineExceeded => 5,
        }
    }

    /// True for FAILED, DEADLINE_EXCEEDED and CLOSED: the conversation no longer makes progress.
    pub const fn is_ended(self) -> bool {
        matches!(
            self,
            Phase::Closed | Phase::Failed | Phase::DeadlineExceeded
        )
    }

    /// Applies `event`, giving the next phase or the refusal.
    pub fn apply(self, event: PhaseEvent) -> Result<Phase, PhaseError> {
        use Phase::*;
        use PhaseEvent::*;
        let next = match (self, event) {
            (Created | Active, Send) => Active,
            (Created | Active, Receive) => Active,
            (Completing | Failed | DeadlineExceeded, Receive) => self,
            (Created | Active | Completing, Complete) => Completing,
            (Created | Active | Completing, Fail) => Failed,
            (Failed | DeadlineExceeded, Fail) => self,
            (Created | Active | Completing, Deadline) => DeadlineExceeded,
            (Failed | DeadlineExceeded, Deadline) => self,
            (_, Close) => Closed,
            (from, event) => return Err(PhaseError { from, event }),
        };
        Ok(next)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something that moves the phase machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhaseEvent {
    /// A request is sent to a participant.
    Send,
    /// A reply is taken (or waited for).
    Receive,
    /// The user declares that no more requests will be sent.
    Complete,
    /// A crash policy gave up.
    Fail,
    /// The configured deadline passed.
    Deadline,
    /// `close()`.
    Close,
}

/// A refused transition; the phase did not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{event:?} is not allowed in phase {from}")]
pub struct PhaseError {
    /// The phase the event was refused in.
    pub from: Phase,
    /// The refused event.
    pub event: PhaseEvent,
}

#[cfg(test)]
mod tests {
    use super::Phase::*;
    use super::PhaseEvent::*;
    use super::*;

    const ALL: [Phase; 6] = [
        Created,
        Active,
        Completing,
        Closed,
        Failed,
        DeadlineExceeded,
    ];

    #[test]
    fn the_happy_path_goes_created_active_completing_closed() {
        let p = Created.apply(Send).unwrap();
        assert_eq!(p, Active);
        let p = p.apply(Receive).unwrap().apply(Complete).unwrap();
        assert_eq!(p, Completing);
        assert_eq!(
            p.apply(Receive),
            Ok(Completing),
            "replies drain while completing"
        );
        assert_eq!(p.apply(Close), Ok(Closed));
    }

    #[test]
    fn close_is_valid_from_every_phase_and_final() {
        for p in ALL {
            assert_eq!(p.apply(Close), Ok(Closed));
        }
        for e in [Send, Receive, Complete, Fail, Deadline] {
            assert_eq!(
                Closed.apply(e),
                Err(PhaseError {
                    from: Closed,
                    event: e
                })
            );
        }
    }

    #[test]
    fn any_live_phase_can_fail_or_pass_its_deadline_and_the_first_ending_wins() {
        for p in [Created, Active, Completing] {
            assert_eq!(p.apply(Fail), Ok(Failed));
            assert_eq!(p.apply(Deadline), Ok(DeadlineExceeded));
        }
        assert_eq!(Failed.apply(Deadline), Ok(Failed));
        assert_eq!(DeadlineExceeded.apply(Fail), Ok(DeadlineExceeded));
    }

    #[test]
    fn sends_are_refused_once_completing_or_ended() {
        for p in [Completing, Failed, DeadlineExceeded, Closed] {
            assert_eq!(
                p.apply(Send),
                Err(PhaseError {
                    from: p,
                    event: Send
                })
            );
        }
        assert!(Failed.apply(Complete).is_err());
        assert_eq!(
            Failed.apply(Receive),
            Ok(Failed),
            "buffered replies stay receivable"
        );
    }

    #[test]
    fn raw_numbers_are_distinct_and_ordered() {
        let raws: Vec<_> = ALL.iter().map(|p| p.as_raw()).collect();
        assert_eq!(raws, vec![0, 1, 2, 3, 4, 5]);
        assert!(ALL
            .iter()
            .all(|p| p.is_ended() == matches!(p, Closed | Failed | DeadlineExceeded)));
    }
}
