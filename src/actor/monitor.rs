//! Monitors: one-way, stackable observers of a process's exit, each a callback that runs at
//! most once.
//!
//! Invariant: a [`MonitorCell`] moves Armed → Running → Finished or Armed → Finished
//! (cancelled), under its own lock, and the callback is taken out of the cell in the same step
//! that leaves Armed. So the callback runs at most once, and once [`MonitorCell::cancel`]
//! returned on any thread but the one running the callback, the callback has either finished
//! or will never start. No runtime lock is held while the callback runs.

use crate::sync::{Condvar, Mutex, MutexGuard};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::{self, ThreadId};

use super::pid::{MonitorRef, Pid};
use super::reason::ExitReason;

/// A monitor's callback: gets the monitored pid and its exit reason, exactly once, on a runtime
/// worker thread, with no runtime lock held. Dropped without being called when the monitor is
/// cancelled.
pub type MonitorCallback = Box<dyn FnOnce(Pid, &ExitReason) + Send + 'static>;

enum State {
    Armed(MonitorCallback),
    Running(ThreadId),
    Finished,
}

/// One monitor: its reference, the pid it watches and its callback's state.
pub(crate) struct MonitorCell {
    mref: MonitorRef,
    target: Pid,
    state: Mutex<State>,
    finished: Condvar,
}

impl MonitorCell {
    pub(crate) fn new(mref: MonitorRef, target: Pid, callback: MonitorCallback) -> Self {
        MonitorCell {
            mref,
            target,
            state: Mutex::new(State::Armed(callback)),
            finished: Condvar::new(),
        }
    }

    pub(crate) fn mref(&self) -> MonitorRef {
        self.mref
    }

    pub(crate) fn target(&self) -> Pid {
        self.target
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Only state transitions happen under this lock (the callback runs outside it), so a
        // poisoned lock still holds a valid state.
        self.state.lock()
    }

    /// Runs the callback with `(pid, reason)` if it is still armed. A panic in the callback is
    /// caught and ignored (the worker must survive it). Returns whether the callback ran.
    pub(crate) fn fire(&self, pid: Pid, reason: &ExitReason) -> bool {
        let callback = {
            let mut st = self.lock();
            match std::mem::replace(&mut *st, State::Running(thread::current().id())) {
                State::Armed(cb) => cb,
                other => {
                    *st = other;
                    return false;
                }
            }
        };
        let _ = catch_unwind(AssertUnwindSafe(move || callback(pid, reason)));
        *self.lock() = State::Finished;
        self.finished.notify_all();
        true
    }

    /// Cancels the monitor. Returns true when the callback had not started (it is dropped
    /// uncalled). When it is running on another thread, waits for it to finish; when it is
    /// running on this thread (cancel from inside the callback) returns at once.
    pub(crate) fn cancel(&self) -> bool {
        let mut st = self.lock();
        loop {
            match &*st {
                State::Armed(_) => {
                    let State::Armed(cb) = std::mem::replace(&mut *st, State::Finished) else {
                        unreachable!("matched Armed above")
                    };
                    drop(st);
                    // Dropping user code: outside the lock, and a panic must not escape.
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(cb)));
                    return true;
                }
                State::Running(tid) if *tid == thread::current().id() => return false,
                State::Running(_) => {
                    st = self.finished.wait(st);
                }
                State::Finished => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc, Barrier};
    use std::time::Duration;

    fn counting(calls: &Arc<AtomicUsize>) -> MonitorCallback {
        let calls = Arc::clone(calls);
        Box::new(move |_, _| {
            calls.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[test]
    fn callback_runs_at_most_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cell = MonitorCell::new(MonitorRef::from_raw(1), Pid::from_raw(1), counting(&calls));
        assert!(cell.fire(Pid::from_raw(1), &ExitReason::normal()));
        assert!(!cell.fire(Pid::from_raw(1), &ExitReason::normal()));
        assert!(!cell.cancel());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn cancelled_callback_never_runs() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cell = MonitorCell::new(MonitorRef::from_raw(1), Pid::from_raw(1), counting(&calls));
        assert!(cell.cancel());
        assert!(!cell.fire(Pid::from_raw(1), &ExitReason::normal()));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn cancel_waits_for_a_callback_running_on_another_thread() {
        let entered = Arc::new(Barrier::new(2));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let done = Arc::new(AtomicUsize::new(0));
        let cb: MonitorCallback = {
            let entered = Arc::clone(&entered);
            let done = Arc::clone(&done);
            Box::new(move |_, _| {
                entered.wait();
                release_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                done.fetch_add(1, Ordering::SeqCst);
            })
        };
        let cell = Arc::new(MonitorCell::new(
            MonitorRef::from_raw(1),
            Pid::from_raw(1),
            cb,
        ));
        let firer = {
            let cell = Arc::clone(&cell);
            std::thread::spawn(move || cell.fire(Pid::from_raw(1), &ExitReason::normal()))
        };
        entered.wait();
        let canceller = {
            let cell = Arc::clone(&cell);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let cancelled = cell.cancel();
                (cancelled, done.load(Ordering::SeqCst))
            })
        };
        release_tx.send(()).unwrap();
        assert!(firer.join().unwrap());
        assert_eq!(canceller.join().unwrap(), (false, 1));
    }
}
