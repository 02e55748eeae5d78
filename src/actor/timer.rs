//! Timers: messages delivered after a delay (`send_after`), served by one timer thread per
//! runtime. This is how callback processes — which cannot block — get timeouts.
//!
//! Invariant: a timer is delivered at most once, never before its deadline, and never after
//! [`Timers::cancel`] returned true for it. The thread sleeps until the earliest deadline (or
//! indefinitely when there is none), so it uses no CPU while nothing is due.

use crate::sync::{Condvar, Mutex, MutexGuard};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use super::pid::Pid;

/// A timer's message, handed to the delivery function when it is due.
pub(crate) struct Due {
    pub(crate) from: Pid,
    pub(crate) to: Pid,
    pub(crate) bytes: Box<[u8]>,
}

struct State {
    /// Deadlines with their timer ids, earliest first. Cancelled timers stay here until they
    /// come up and are skipped (their id is no longer in `pending`).
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: HashMap<u64, Due>,
    stopping: bool,
}

pub(crate) struct Timers {
    state: Mutex<State>,
    wake: Condvar,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                pending: HashMap::new(),
                stopping: false,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under this lock; a poisoned lock still guards consistent data.
        self.state.lock()
    }

    /// Schedules `due` for `at` under `id`. False once stopped.
    pub(crate) fn add(&self, id: u64, at: Instant, due: Due) -> bool {
        let mut st = self.lock();
        if st.stopping {
            return false;
        }
        let earliest = match st.heap.peek() {
            Some(Reverse((first, _))) => at < *first,
            None => true,
        };
        st.heap.push(Reverse((at, id)));
        st.pending.insert(id, due);
        if earliest {
            self.wake.notify_one();
        }
        true
    }

    /// True when the timer was still pending: it will never be delivered.
    pub(crate) fn cancel(&self, id: u64) -> bool {
        self.lock().pending.remove(&id).is_some()
    }

    /// Ends [`run`](Timers::run); pending timers are dropped undelivered.
    pub(crate) fn stop(&self) {
        let mut st = self.lock();
        st.stopping = true;
        st.pending.clear();
        st.heap.clear();
        self.wake.notify_all();
    }

    /// The timer thread's loop: delivers each due timer (without the lock) until stopped.
    pub(crate) fn run(&self, mut deliver: impl FnMut(Due)) {
        let mut st = self.lock();
        loop {
            if st.stopping {
                return;
            }
            let Some(&Reverse((at, id))) = st.heap.peek() else {
                st = self.wake.wait(st);
                continue;
            };
            let now = Instant::now();
            if at > now {
                st = self.wake.wait_timeout(st, at - now).0;
                continue;
            }
            st.heap.pop();
            if let Some(due) = st.pending.remove(&id) {
                drop(st);
                deliver(due);
                st = self.lock();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};
    use std::thread;
    use std::time::Duration;

    fn due(tag: u8) -> Due {
        Due {
            from: Pid::NONE,
            to: Pid::from_raw(1),
            bytes: Box::new([tag]),
        }
    }

    fn start() -> (
        Arc<Timers>,
        mpsc::Receiver<(u8, Instant)>,
        thread::JoinHandle<()>,
    ) {
        let timers = Arc::new(Timers::new());
        let (tx, rx) = mpsc::channel();
        let t = {
            let timers = Arc::clone(&timers);
            thread::spawn(move || timers.run(|d| tx.send((d.bytes[0], Instant::now())).unwrap()))
        };
        (timers, rx, t)
    }

    #[test]
    fn timers_fire_in_deadline_order_and_not_early() {
        let (timers, rx, t) = start();
        let base = Instant::now();
        for (tag, ms) in [(3u8, 30u64), (1, 10), (2, 20)] {
            assert!(timers.add(u64::from(tag), base + Duration::from_millis(ms), due(tag)));
        }
        for expected in 1..=3u8 {
            let (tag, at) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(tag, expected);
            assert!(at >= base + Duration::from_millis(u64::from(expected) * 10));
        }
        timers.stop();
        t.join().unwrap();
    }

    #[test]
    fn a_cancelled_timer_is_never_delivered() {
        let (timers, rx, t) = start();
        let base = Instant::now();
        timers.add(1, base + Duration::from_millis(5), due(1));
        timers.add(2, base + Duration::from_millis(15), due(2));
        assert!(timers.cancel(1));
        assert!(!timers.cancel(1), "cancel is once");
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap().0, 2);
        assert!(!timers.cancel(2), "already delivered");
        timers.stop();
        t.join().unwrap();
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn stop_ends_the_thread_with_timers_still_pending() {
        let (timers, _rx, t) = start();
        timers.add(1, Instant::now() + Duration::from_secs(3600), due(1));
        timers.stop();
        t.join().unwrap();
        assert!(
            !timers.add(2, Instant::now(), due(2)),
            "refused once stopped"
        );
    }
}
