//! The one bounded spin used before parking (mailbox and conversation receives, idle workers),
//! and the history that decides whether a receive spins at all.
//!
//! A busy spin only: `spin_loop` hints and a clock read every few iterations, never
//! `sched_yield`. A yield looks cheaper for a CPU shared with other work but is the worse
//! choice on this kernel's scheduler (EEVDF, Linux ≥ 6.6): `sched_yield` pushes the caller's
//! deadline back by a whole slice, so under load the yielding thread stays off its CPU for
//! ~3–4 ms, and a notifier cannot shorten that — the spinner is runnable, not asleep, so there
//! is nobody to wake. Measured with `benches/wake.rs` `spin_handoff_late` (a message 6 µs into a
//! receiver's spin, while other processes kept both CPUs busy): p50 34 µs, p90 4.0 ms with the
//! old spin-then-yield, against a busy spin that is preempted like any running task and then
//! parks, where a notification does wake it.
//!
//! # Spin only where spinning pays ([`SpinHistory`])
//!
//! A spin that ends in a park anyway is not just wasted CPU: it makes the wake-up that follows
//! slower. On a machine with few CPUs the sender is often running on the receiver's CPU when
//! it wakes it, and EEVDF lets a woken thread preempt the running one only while it has not
//! used more than its share: a receiver that spun before parking does not preempt its waker,
//! it waits until the waker blocks. Measured (`benches/wake.rs` `mailbox_send`, a receiver
//! woken 300 µs after it began to wait, with probes on both sides): after a 10 µs spin, 0 of
//! 998 wake-ups preempted the sender and the hand-off took 3.8 µs at the median; with no spin,
//! 486 of 999 did (the bare futex floor: 500 of 1,000), 1.8 µs when they did; even a 1 µs spin
//! left 22 of 998. So each waiting place (a mailbox, a conversation) keeps a short history of
//! whether its spins ended with the message, and stops spinning after [`SpinHistory::MAX`]
//! spins in a row that did not. It still spins on one wait in [`SpinHistory::PROBE_EVERY`], to
//! notice when messages start coming fast again: a request/reply loop keeps spinning and gets
//! its hand-off in a cache-line transfer, a consumer of occasional messages parks at once and
//! is woken like by a bare futex wake.
//!
//! Under loom the spin is one look: its outcome only changes timing (every caller re-checks
//! under its lock afterwards), and spinning would only multiply the explored schedules.

use std::time::Duration;

/// Busy-waits while `busy()` holds, for at most `budget`; true when it ended because `busy()`
/// turned false. A thread that may run on one CPU only does not spin (one look): what it waits
/// for can only come from a thread that needs that CPU.
#[cfg(not(loom))]
pub(crate) fn spin_while(budget: Duration, mut busy: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    if !may_spin(start) {
        return !busy();
    }
    loop {
        // A clock read (~20 ns with the vDSO) every 16 looks keeps the bound without slowing
        // the look that sees the change.
        for _ in 0..16 {
            if !busy() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= budget {
            return !busy();
        }
    }
}

/// Whether this thread may run on more than one CPU. Affinity can change at any time
/// (`taskset`, `sched_setaffinity`), so the answer is re-read at most every
/// [`AFFINITY_RECHECK`] per thread (one system call) and is otherwise a thread-local read.
#[cfg(not(loom))]
fn may_spin(now: std::time::Instant) -> bool {
    use std::cell::Cell;
    use std::time::Instant;
    std::thread_local! {
        static CACHED: Cell<Option<(bool, Instant)>> = const { Cell::new(None) };
    }
    if let Some((may, at)) = CACHED.get() {
        if now.duration_since(at) < AFFINITY_RECHECK {
            return may;
        }
    }
    let may = cpus_of_this_thread() != 1;
    CACHED.set(Some((may, now)));
    may
}

/// How long a thread trusts its last reading of its CPU affinity.
#[cfg(not(loom))]
const AFFINITY_RECHECK: Duration = Duration::from_millis(10);

/// How many CPUs this thread may run on (0 if the system would not say).
#[cfg(all(not(loom), target_os = "linux"))]
fn cpus_of_this_thread() -> usize {
    // SAFETY: `set` is a plain bit set of the size passed; sched_getaffinity(0) writes only it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return 0;
        }
        libc::CPU_COUNT(&set) as usize
    }
}

#[cfg(all(not(loom), not(target_os = "linux")))]
fn cpus_of_this_thread() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The history of one waiting place: whether its spins ended with the message (see the
/// module doc). A saturating count from 0 to [`SpinHistory::MAX`]: a spin that saw the message
/// adds one, a spin that ran out takes one away. The place spins while the count is above 0,
/// and on one wait in [`SpinHistory::PROBE_EVERY`] while it is 0 (a probe: one spin that sees
/// the message brings the place back). A new place starts at the top.
///
/// It lives in the state its waits lock anyway (a mailbox's process state, a conversation's
/// state): read and updated under that lock, it costs no atomic and no cache line of its own.
#[derive(Debug)]
pub(crate) struct SpinHistory {
    count: u8,
    /// Waits that did not spin since the last probe, while `count` is 0.
    skipped: u8,
}

impl SpinHistory {
    /// The top of the count: this many spins in a row that ran out stop the spinning.
    pub(crate) const MAX: u8 = 4;
    /// While stopped, one wait in this many spins anyway.
    pub(crate) const PROBE_EVERY: u8 = 16;

    /// A new place: spins until its spins show that they do not pay.
    pub(crate) const fn new() -> Self {
        SpinHistory {
            count: Self::MAX,
            skipped: 0,
        }
    }

    /// Whether a wait that found nothing should spin before it parks; when it does,
    /// [`record`](Self::record) the outcome. Call once per such wait.
    pub(crate) fn should_spin(&mut self) -> bool {
        if self.count > 0 {
            return true;
        }
        self.skipped += 1;
        if self.skipped < Self::PROBE_EVERY {
            return false;
        }
        self.skipped = 0;
        true
    }

    /// Records a spin's outcome: `saw_it` when the message came during the spin.
    pub(crate) fn record(&mut self, saw_it: bool) {
        self.count = if saw_it {
            self.count.saturating_add(1).min(Self::MAX)
        } else {
            self.count.saturating_sub(1)
        };
    }

    /// The count (tests).
    #[cfg(test)]
    pub(crate) fn count(&self) -> u8 {
        self.count
    }
}

/// The spin in a model: one look.
#[cfg(loom)]
pub(crate) fn spin_while(_budget: Duration, mut busy: impl FnMut() -> bool) -> bool {
    !busy()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn ends_when_the_condition_turns_false() {
        let mut n = 0;
        let seen = spin_while(Duration::from_secs(10), || {
            n += 1;
            n < 100
        });
        if cpus_of_this_thread() == 1 {
            // Run pinned (`taskset -c 0 cargo test`): one look, no spin.
            assert!(!seen);
            assert_eq!(n, 1);
        } else {
            assert!(seen);
            assert_eq!(n, 100);
        }
    }

    #[test]
    fn gives_up_after_the_budget() {
        let t = Instant::now();
        assert!(!spin_while(Duration::from_micros(50), || true));
        if cpus_of_this_thread() != 1 {
            assert!(t.elapsed() >= Duration::from_micros(50));
        }
    }

    #[test]
    fn a_thread_pinned_to_one_cpu_does_not_spin() {
        // A new thread (its own affinity cache), pinned to the CPU it runs on, then restored.
        std::thread::spawn(|| {
            // SAFETY: plain bit sets of the size passed; only this thread's affinity changes.
            unsafe {
                let mut all: libc::cpu_set_t = std::mem::zeroed();
                let size = std::mem::size_of::<libc::cpu_set_t>();
                assert_eq!(libc::sched_getaffinity(0, size, &mut all), 0);
                let mut one: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(libc::sched_getcpu() as usize, &mut one);
                assert_eq!(libc::sched_setaffinity(0, size, &one), 0);
                assert_eq!(cpus_of_this_thread(), 1);
                let t = Instant::now();
                // One look, not a 10 s spin.
                assert!(!spin_while(Duration::from_secs(10), || true));
                assert!(t.elapsed() < Duration::from_secs(5));
                assert_eq!(libc::sched_setaffinity(0, size, &all), 0);
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_history_stops_after_max_missed_spins_probes_and_resumes_after_one_hit() {
        let mut h = SpinHistory::new();
        let miss = |h: &mut SpinHistory| {
            assert!(h.should_spin());
            h.record(false);
        };
        for _ in 0..SpinHistory::MAX {
            miss(&mut h);
        }
        assert_eq!(h.count(), 0, "MAX missed spins in a row stop the spinning");
        // Stopped: one wait in PROBE_EVERY spins, twice over; a missed probe stays at 0.
        for _ in 0..2 {
            for _ in 0..SpinHistory::PROBE_EVERY - 1 {
                assert!(!h.should_spin());
            }
            miss(&mut h);
            assert_eq!(h.count(), 0, "the count does not go below 0");
        }
        for _ in 0..SpinHistory::PROBE_EVERY - 1 {
            assert!(!h.should_spin());
        }
        assert!(h.should_spin(), "the probe");
        h.record(true);
        assert_eq!(h.count(), 1, "one spin that saw the message brings it back");
        for _ in 0..10 {
            assert!(h.should_spin());
            h.record(true);
        }
        assert_eq!(h.count(), SpinHistory::MAX, "the count saturates at MAX");
    }

    #[test]
    fn sees_another_threads_store() {
        let flag = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&flag);
        let t = std::thread::spawn(move || f.store(true, Ordering::Release));
        // Unbounded in practice: the store comes as soon as the thread runs.
        while !spin_while(Duration::from_millis(1), || !flag.load(Ordering::Acquire)) {}
        t.join().unwrap();
    }
}
