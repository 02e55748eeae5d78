//! transom's monotonic clock in nanoseconds: the one clock of crash records, participant exits
//! and deadlines, so that C callers can order and compare them.
//!
//! Invariant: it is the system's `CLOCK_MONOTONIC` (the clock `Instant` reads on Unix), so a
//! caller can compare its values with `clock_gettime(CLOCK_MONOTONIC)`; values never go back
//! and saturate instead of wrapping.

use std::time::{Duration, Instant};

/// Nanoseconds on `CLOCK_MONOTONIC` (the clock of `clock_gettime(CLOCK_MONOTONIC, ...)`:
/// since an unspecified point, typically boot). Crash records, participant exits and
/// deadlines carry it.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write; CLOCK_MONOTONIC is always available on the
    // platforms transom supports (the call cannot fail with these arguments).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// `at` on the monotonic clock: now's reading moved by the distance from now to `at`.
pub(crate) fn ns_of(at: Instant) -> u64 {
    let (now, now_ns) = (Instant::now(), monotonic_ns());
    if at >= now {
        let ahead = u64::try_from(at.duration_since(now).as_nanos()).unwrap_or(u64::MAX);
        now_ns.saturating_add(ahead)
    } else {
        let behind = u64::try_from(now.duration_since(at).as_nanos()).unwrap_or(u64::MAX);
        now_ns.saturating_sub(behind)
    }
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

    #[test]
    fn the_clock_is_clock_monotonic() {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let before = monotonic_ns();
        // SAFETY: ts is writable.
        assert_eq!(
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) },
            0
        );
        let theirs = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        let after = monotonic_ns();
        assert!(before <= theirs && theirs <= after);
    }
}
