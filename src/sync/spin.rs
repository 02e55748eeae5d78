//! The one bounded spin used before parking (mailbox and conversation receives, idle workers).
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
    fn sees_another_threads_store() {
        let flag = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&flag);
        let t = std::thread::spawn(move || f.store(true, Ordering::Release));
        // Unbounded in practice: the store comes as soon as the thread runs.
        while !spin_while(Duration::from_millis(1), || !flag.load(Ordering::Acquire)) {}
        t.join().unwrap();
    }
}
