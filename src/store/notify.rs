//! Commit notification: the visibility watermark and the ways to wait for it.
//!
//! Invariant: the watermark (`head`) only grows, and every event with a sequence at or below it
//! is committed (durable under `Always`) and readable. Waiters re-check it under the mutex
//! the publisher takes before notifying, so no wakeup is lost and nobody polls.

use crate::sync::{Condvar, Mutex, RwLock};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
