//! Commit notification: the visibility watermark and the ways to wait for it.
//!
//! Invariant: the watermark (`head`) only grows, and every event with a sequence at or below it
//! is committed (durable under `Always`) and readable. Waiters re-check it under the mutex
//! the publisher takes before notifying, so no wakeup is lost and nobody polls.
//!
//! The head/waiter handshake uses `crate::sync`'s atomics, mutex and condition variable, so
//! its loom models (`loom_tests` below) run this very code. Listeners are outside the model (their
//! `Arc<dyn Fn>` is std's: loom's `Arc` cannot hold an unsized value).

use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex, RwLock};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How [`Store::wait_for_sequence`](super::Store::wait_for_sequence) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The head passed the awaited sequence; carries the head at wake-up.
    Ready(u64),
    /// The timeout expired first.
    TimedOut,
    /// The store was closed and the head is final (reads now fail with `Closed`).
    Closed,
}

/// Names a commit listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

/// A commit listener: called with the new head after events became visible.
pub type CommitListener = dyn Fn(u64) + Send + Sync;

#[derive(Default)]
pub(crate) struct CommitNotifier {
    head: AtomicU64,
    closed: Mutex<bool>,
    cv: Condvar,
    /// Threads in `wait_beyond`. A waiter counts itself *before* it reads the head, so a
    /// notifier that advanced the head and then reads 0 here is ordered before that read
    /// (SeqCst), and the waiter sees the new head: skipping the wake-up loses nothing.
    waiters: AtomicUsize,
    listeners: RwLock<Vec<(u64, Arc<CommitListener>)>>,
    next: AtomicU64,
}

impl CommitNotifier {
    pub(crate) fn new(head: u64) -> Self {
        CommitNotifier {
            head: AtomicU64::new(head),
            ..CommitNotifier::default()
        }
    }

    pub(crate) fn head(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    /// Moves the head up to `seq` (never down). Cheap; call [`Self::notify`] afterwards, with no
    /// lock held.
    pub(crate) fn advance(&self, seq: u64) {
        self.head.fetch_max(seq, Ordering::SeqCst);
    }

    /// Wakes waiters and calls listeners. Listener panics are caught and ignored. Without
    /// waiters or listeners (the common case of a plain append) this takes no lock and makes no
    /// system call.
    pub(crate) fn notify(&self) {
        // The head was advanced (SeqCst) before this read of `waiters` (see `waiters`).
        crate::sync::seqcst_handshake();
        if self.waiters.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders us after a waiter's head check or into its wait.
            drop(self.closed.lock());
            self.cv.notify_all();
        }
        if self.listeners.read().is_empty() {
            return;
        }
        let listeners: Vec<Arc<CommitListener>> = self
            .listeners
            .read()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        let head = self.head();
        for l in listeners {
            let _ = catch_unwind(AssertUnwindSafe(|| l(head)));
        }
    }

    pub(crate) fn close(&self) {
        *self.closed.lock() = true;
        self.cv.notify_all();
        let listeners: Vec<Arc<CommitListener>> = self
            .listeners
            .read()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        let head = self.head();
        for l in listeners {
            let _ = catch_unwind(AssertUnwindSafe(|| l(head)));
        }
    }

    /// Parks until the head exceeds `after`, the store closes, or `timeout` (None = forever).
    pub(crate) fn wait_beyond(&self, after: u64, timeout: Option<Duration>) -> WaitOutcome {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut closed = self.closed.lock();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Counted (SeqCst) before the head is read (see `waiters`).
        crate::sync::seqcst_handshake();
        struct Counted<'a>(&'a AtomicUsize);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _counted = Counted(&self.waiters);
        loop {
            let head = self.head();
            if head > after {
                return WaitOutcome::Ready(head);
            }
            if *closed {
                return WaitOutcome::Closed;
            }
            match deadline {
                None => closed = self.cv.wait(closed),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return WaitOutcome::TimedOut;
                    }
                    closed = self.cv.wait_timeout(closed, d - now).0;
                }
            }
        }
    }

    pub(crate) fn add_listener(&self, l: Arc<CommitListener>) -> ListenerId {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.listeners.write().push((id, l));
        ListenerId(id)
    }

    pub(crate) fn remove_listener(&self, id: ListenerId) -> bool {
        let mut list = self.listeners.write();
        let before = list.len();
        list.retain(|(i, _)| *i != id.0);
        list.len() != before
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;
    use loom::thread;

    /// A waiter that registers while a commit publishes a new head is never left sleeping:
    /// `wait_beyond` returns `Ready` whichever way the waiter's count-then-read and the
    /// committer's advance-then-notify interleave (a lost wake-up is a loom deadlock).
    #[test]
    fn loom_notify_a_waiter_racing_a_commit_is_never_left_sleeping() {
        loom::model(|| {
            let n = Arc::new(CommitNotifier::new(0));
            let committer = {
                let n = Arc::clone(&n);
                thread::spawn(move || {
                    n.advance(1);
                    n.notify();
                })
            };
            assert_eq!(n.wait_beyond(0, None), WaitOutcome::Ready(1));
            committer.join().unwrap();
        });
    }

    /// A waiter for sequence 2 racing two commits: woken (or not) by the first, it re-checks,
    /// sleeps again if it must, and is woken by the second.
    #[test]
    fn loom_notify_a_waiter_is_woken_by_the_commit_it_waits_for() {
        loom::model(|| {
            let n = Arc::new(CommitNotifier::new(0));
            let committer = {
                let n = Arc::clone(&n);
                thread::spawn(move || {
                    for seq in 1..=2 {
                        n.advance(seq);
                        n.notify();
                    }
                })
            };
            assert_eq!(n.wait_beyond(1, None), WaitOutcome::Ready(2));
            committer.join().unwrap();
        });
    }

    /// A waiter racing `close` wakes with `Closed` (the head did not move).
    #[test]
    fn loom_notify_a_waiter_racing_close_is_never_left_sleeping() {
        loom::model(|| {
            let n = Arc::new(CommitNotifier::new(0));
            let closer = {
                let n = Arc::clone(&n);
                thread::spawn(move || n.close())
            };
            assert_eq!(n.wait_beyond(0, None), WaitOutcome::Closed);
            closer.join().unwrap();
        });
    }
}
