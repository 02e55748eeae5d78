//! The run queue shared by the worker threads, with parking when idle.
//!
//! Invariant: a worker only parks (blocks on the condition variable, using no CPU) while the
//! queue is empty and the scheduler is not stopping, and every push made while a worker is
//! parked wakes one. After [`Scheduler::stop`], workers keep taking jobs until the queue is
//! empty and only then return, so no job accepted before or during the drain is lost.
//!
//! An idle worker spins for a bounded time ([`SPIN`], a busy spin: see `crate::sync::spin` for
//! why it never yields) before parking, so a job that arrives soon after the last one — the
//! reply in a request/response exchange, the next crash in a burst — is taken without a futex
//! sleep and wake-up, which costs several microseconds on a virtual machine. After that it
//! parks and uses no CPU until a push wakes it. At most one worker spins at a time (the others
//! park at once), so idle workers never take more than one CPU from the threads that feed them,
//! and a push made while one spins wakes nobody: the spinner takes it. A worker that takes a job
//! and leaves more queued wakes a parked worker when none is spinning, so the pushes a spinner
//! absorbed still get every idle worker.
//!
//! The queue, the `queued` count and the parking use `crate::sync`'s primitives, so the loom
//! models (`loom_tests` below) run this very code; under loom the spin is one look at `queued`
//! (its outcome only changes timing: the worker re-checks under the lock either way).

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::time::Duration;

/// How long an idle worker keeps looking for work before it parks.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

struct State<J> {
    jobs: VecDeque<J>,
    stopping: bool,
    parked: usize,
    /// A worker is in its spin (outside the lock): pushes need not wake a parked one.
    spinning: bool,
}

/// A FIFO of jobs and the parking lot of the workers that run them.
pub(crate) struct Scheduler<J> {
    state: Mutex<State<J>>,
    wake: Condvar,
    /// `jobs.len()`, readable without the lock by spinning workers. Written only under the lock;
    /// a stale read only shortens or lengthens a spin, never loses a job (the worker re-checks
    /// under the lock before parking).
    queued: AtomicUsize,
}

impl<J> Scheduler<J> {
    pub(crate) fn new() -> Self {
        Scheduler {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                stopping: false,
                parked: 0,
                spinning: false,
            }),
            wake: Condvar::new(),
            queued: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        // No user code runs under this lock and every update is a single push/pop/flag write,
        // so a poisoned lock still guards a consistent queue.
        self.state.lock()
    }

    /// Queues `job` and wakes a parked worker if there is one. Once stopping, the job is
    /// refused and handed back: workers may already have returned, so the caller must run it.
    pub(crate) fn push(&self, job: J) -> Result<(), J> {
        let mut st = self.lock();
        if st.stopping {
            return Err(job);
        }
        st.jobs.push_back(job);
        self.queued.store(st.jobs.len(), Ordering::Release);
        // A spinning worker will take it (it re-checks under the lock after its spin).
        let wake = st.parked > 0 && !st.spinning;
        // Notify after unlocking, so the woken worker does not block on the lock we hold. No
        // wake-up is lost: a counted worker is already waiting on the condition variable.
        drop(st);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The next job, parking while there is none. `None` once stopping and drained.
    pub(crate) fn next(&self) -> Option<J> {
        let mut st = self.lock();
        let mut spun = false;
        loop {
            if let Some(job) = st.jobs.pop_front() {
                self.queued.store(st.jobs.len(), Ordering::Release);
                // Pushes made while a worker spun woke nobody: pass the rest on.
                let wake = !st.jobs.is_empty() && st.parked > 0 && !st.spinning;
                drop(st);
                if wake {
                    self.wake.notify_one();
                }
                return Some(job);
            }
            if st.stopping {
                return None;
            }
            if !spun && !st.spinning {
                spun = true;
                st.spinning = true;
                drop(st);
                // Its outcome only changes timing: the queue is re-checked under the lock.
                crate::sync::spin_while(SPIN, || self.queued.load(Ordering::Acquire) == 0);
                st = self.lock();
                st.spinning = false;
                continue;
            }
            st.parked += 1;
            st = self.wake.wait(st);
            st.parked -= 1;
        }
    }

    /// The next job without waiting.
    pub(crate) fn try_next(&self) -> Option<J> {
        let mut st = self.lock();
        let job = st.jobs.pop_front();
        self.queued.store(st.jobs.len(), Ordering::Release);
        job
    }

    /// Makes workers return from [`next`](Scheduler::next) once the queue is empty.
    pub(crate) fn stop(&self) {
        let mut st = self.lock();
        st.stopping = true;
        self.wake.notify_all();
    }

    #[cfg(all(test, not(loom)))]
    fn parked(&self) -> usize {
        self.lock().parked
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn jobs_come_out_in_push_order() {
        let s = Scheduler::new();
        for i in 0..5 {
            s.push(i).unwrap();
        }
        let got: Vec<_> = std::iter::from_fn(|| s.try_next()).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_parked_worker_is_woken_by_a_push() {
        let s = Arc::new(Scheduler::new());
        let (tx, rx) = mpsc::channel();
        let worker = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                while let Some(j) = s.next() {
                    tx.send(j).unwrap();
                }
            })
        };
        // Wait until the worker is really parked, by observing the parked count (no sleeps).
        while s.parked() == 0 {
            thread::yield_now();
        }
        s.push(42).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(42));
        s.stop();
        worker.join().unwrap();
    }

    #[test]
    fn stop_drains_queued_jobs_before_workers_return() {
        let s = Arc::new(Scheduler::new());
        for i in 0..100 {
            s.push(i).unwrap();
        }
        s.stop();
        assert_eq!(
            s.push(100),
            Err(100),
            "a stopping scheduler hands jobs back"
        );
        let worker = {
            let s = Arc::clone(&s);
            thread::spawn(move || std::iter::from_fn(|| s.next()).count())
        };
        assert_eq!(worker.join().unwrap(), 100);
        assert!(s.try_next().is_none());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;
    use loom::thread;

    /// A push racing a worker on its way to park (spinning, re-checking, counting itself
    /// parked) is taken: the worker is never left parked with the job queued.
    #[test]
    fn loom_scheduler_a_push_racing_an_idle_worker_is_taken() {
        loom::model(|| {
            let s = Arc::new(Scheduler::new());
            let worker = {
                let s = Arc::clone(&s);
                thread::spawn(move || s.next())
            };
            s.push(1u32).unwrap();
            assert_eq!(worker.join().unwrap(), Some(1));
        });
    }

    /// Two idle workers and two pushes: each push reaches a worker (no worker stays parked
    /// while a job waits, even when both pushes come before either woken worker runs, or come
    /// while the other worker spins and so wake nobody: the spinner passes the second on).
    /// Fails if a worker that takes a job with more queued does not wake a parked one.
    #[test]
    fn loom_scheduler_two_pushes_reach_two_idle_workers() {
        loom::model(|| {
            let s = Arc::new(Scheduler::new());
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let s = Arc::clone(&s);
                    thread::spawn(move || s.next())
                })
                .collect();
            s.push(1u32).unwrap();
            s.push(2u32).unwrap();
            let mut got: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            got.sort();
            assert_eq!(got, vec![Some(1), Some(2)]);
        });
    }

    /// `stop` racing a worker: every job accepted before it is run, then the worker returns.
    #[test]
    fn loom_scheduler_stop_drains_accepted_jobs_then_releases_the_worker() {
        loom::model(|| {
            let s = Arc::new(Scheduler::new());
            let worker = {
                let s = Arc::clone(&s);
                thread::spawn(move || std::iter::from_fn(|| s.next()).collect::<Vec<u32>>())
            };
            s.push(1).unwrap();
            s.stop();
            assert_eq!(s.push(2), Err(2));
            assert_eq!(worker.join().unwrap(), vec![1]);
        });
    }
}
