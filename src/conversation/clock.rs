//! transom's monotonic clock in nanoseconds: the one clock of crash records, participant exits
//! and deadlines, so that C callers can order and compare them.
//!
//! Invariant: the epoch is fixed the first time the clock is read in the process; every value
//! is `Instant`-based (never goes back) and saturates instead of wrapping.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds on transom's monotonic clock (0 = the first time transom read it in this
/// process). Crash records, participant exits and deadlines carry it.
pub fn monotonic_ns() -> u64 {
    // The epoch first: the first reading is then not before it.
    let epoch = epoch();
    ns_between(epoch, Instant::now())
}

fn ns_between(epoch: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// `at` on transom's monotonic clock (0 for instants before the epoch).
pub(crate) fn ns_of(at: Instant) -> u64 {
    ns_between(epoch(), at)
}

/// The instant `timeout` from now and the same point on the monotonic clock; `None` when it
/// is too far away to represent (no deadline, in effect).
pub(crate) fn deadline_after(timeout: Duration) -> Option<(Instant, u64)> {
    let at = Instant::now().checked_add(timeout)?;
    Some((at, ns_of(at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_never_goes_back_and_deadlines_are_on_it() {
        let a = monotonic_ns();
        let (_, d) = deadline_after(Duration::from_millis(5)).unwrap();
        let b = monotonic_ns();
        assert!(a <= b);
        assert!(d >= a + 5_000_000 && d <= b + 5_000_000);
        assert_eq!(deadline_after(Duration::MAX), None);
    }
}
