//! Process identifiers and monitor references: by-value numbers that are never reused within a
//! runtime.
//!
//! Invariant: a runtime hands out each pid (and each monitor reference) at most once, counting
//! up from 1, so a stale pid can only ever name a dead process, never a newer one. 0 is never a
//! process: [`Pid::NONE`] marks "outside the runtime" (e.g. the sender of a message sent by a
//! plain thread).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process id. Copy it freely; a pid of a dead process stays dead forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Pid(u64);

impl Pid {
    /// Not a process: the sender of messages and exit signals that come from outside the
    /// runtime (a plain thread calling [`RuntimeHandle::send`](super::RuntimeHandle::send)).
    pub const NONE: Pid = Pid(0);

    /// The pid with the raw number `raw` (as the C API passes it). 0 gives [`Pid::NONE`].
    pub const fn from_raw(raw: u64) -> Pid {
        Pid(raw)
    }

    /// The raw number (as the C API passes it).
    pub const fn as_raw(self) -> u64 {
        self.0
    }

    /// False for [`Pid::NONE`].
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

/// Identifies one monitor, for [`RuntimeHandle::demonitor`](super::RuntimeHandle::demonitor).
/// Never 0, never reused within a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct MonitorRef(u64);

impl MonitorRef {
    /// The reference with the raw number `raw` (as the C API passes it).
    pub const fn from_raw(raw: u64) -> MonitorRef {
        MonitorRef(raw)
    }

    /// The raw number (as the C API passes it).
    pub const fn as_raw(self) -> u64 {
        self.0
    }
}

/// Identifies one timer, for [`RuntimeHandle::cancel_timer`](super::RuntimeHandle::cancel_timer).
/// Never 0, never reused within a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct TimerRef(u64);

impl TimerRef {
    /// The reference with the raw number `raw` (as the C API passes it).
    pub const fn from_raw(raw: u64) -> TimerRef {
        TimerRef(raw)
    }

    /// The raw number (as the C API passes it).
    pub const fn as_raw(self) -> u64 {
        self.0
    }
}

/// Hands out 1, 2, 3, ... once each. Wrapping would need 2^64 allocations, so it is not handled.
#[derive(Debug)]
pub(crate) struct IdSource(AtomicU64);

impl IdSource {
    pub(crate) const fn new() -> Self {
        IdSource(AtomicU64::new(1))
    }

    pub(crate) fn next(&self) -> u64 {
        // Relaxed: uniqueness comes from the atomic read-modify-write itself; the number orders
        // nothing else.
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn ids_are_unique_and_never_zero_across_threads() {
        let src = Arc::new(IdSource::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let src = Arc::clone(&src);
                thread::spawn(move || (0..1000).map(|_| src.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert_ne!(id, 0);
                assert!(seen.insert(id), "id {id} handed out twice");
            }
        }
        assert_eq!(seen.len(), 4000);
    }

    #[test]
    fn pid_none_is_not_valid_and_raw_round_trips() {
        assert!(!Pid::NONE.is_valid());
        assert_eq!(Pid::from_raw(7).as_raw(), 7);
        assert!(Pid::from_raw(7).is_valid());
        assert_eq!(Pid::from_raw(7).to_string(), "<7>");
    }
}
