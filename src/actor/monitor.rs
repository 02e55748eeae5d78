//! Monitors: one-way, stackable observers of a process's exit, each a callback that runs at
//! most once.
//!
//! Invariant: a [`MonitorCell`] is a [`Registration`] (the crate's callback-lifetime
//! primitive) of a slot holding the callback until it is taken. Whoever takes it out of the
//! slot — [`MonitorCell::fire`] to call it, [`MonitorCell::cancel`] to drop it uncalled — is
//! the only one that ever gets it, so the callback runs at most once. `fire` runs it inside a
//! registered call and `cancel` closes the registration, so once `cancel` returned on any
//! thread but the one running the callback, the callback has either finished or will never
//! start. No runtime lock is held while the callback runs.

use crate::sync::{Mutex, Registration};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::pid::{MonitorRef, Pid};
use super::reason::ExitReason;

/// A monitor's callback: gets the monitored pid and its exit reason, exactly once, on a runtime
/// worker thread, with no runtime lock held. Dropped without being called when the monitor is
/// cancelled.
pub type MonitorCallback = Box<dyn FnOnce(Pid, &ExitReason) + Send + 'static>;

/// The callback until someone takes it (the lock is held only to take it, never while it runs).
type Slot = Mutex<Option<MonitorCallback>>;

/// One monitor: its reference, the pid it watches and its callback.
pub(crate) struct MonitorCell {
    mref: MonitorRef,
    target: Pid,
    callback: Registration<Slot>,
}

impl MonitorCell {
    pub(crate) fn new(mref: MonitorRef, target: Pid, callback: MonitorCallback) -> Self {
        MonitorCell {
            mref,
            target,
            callback: Registration::new(Mutex::new(Some(callback))),
        }
    }

    pub(crate) fn mref(&self) -> MonitorRef {
        self.mref
    }

    pub(crate) fn target(&self) -> Pid {
        self.target
    }

    /// Runs the callback with `(pid, reason)` if it is still armed. A panic in the callback is
    /// caught and ignored (the worker must survive it). Returns whether the callback ran.
    pub(crate) fn fire(&self, pid: Pid, reason: &ExitReason) -> bool {
        self.callback
            .invoke(|slot| {
                let Some(callback) = slot.lock().take() else {
                    return false;
                };
                let _ = catch_unwind(AssertUnwindSafe(move || callback(pid, reason)));
                true
            })
            .unwrap_or(false)
    }

    /// Cancels the monitor. Returns true when the callback had not started (it is dropped
    /// uncalled). When it is running on another thread, waits for it to finish; when it is
    /// running on this thread (cancel from inside the callback) returns at once.
    pub(crate) fn cancel(&self) -> bool {
        let armed = self.callback.invoke(|slot| slot.lock().take()).flatten();
        // Closing waits for a `fire` in flight on another thread (not for one on this thread).
        self.callback.close();
        match armed {
            Some(callback) => {
                // Dropping user code: outside every lock, and a panic must not escape.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(callback)));
                true
            }
            None => false,
        }
    }
}

#[cfg(all(test, not(loom)))]
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

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use crate::sync::Arc;
    use loom::thread;

    /// `cancel` racing `fire`: the callback runs at most once, exactly one of them wins, and
    /// when `cancel` returns false the callback has already finished.
    #[test]
    fn loom_monitor_cancel_racing_fire_runs_the_callback_at_most_once() {
        loom::model(|| {
            let calls = Arc::new(AtomicUsize::new(0));
            let cb: MonitorCallback = {
                let calls = Arc::clone(&calls);
                Box::new(move |_, _| {
                    calls.fetch_add(1, SeqCst);
                })
            };
            let cell = Arc::new(MonitorCell::new(
                MonitorRef::from_raw(1),
                Pid::from_raw(1),
                cb,
            ));
            let firer = {
                let cell = Arc::clone(&cell);
                thread::spawn(move || cell.fire(Pid::from_raw(1), &ExitReason::normal()))
            };
            let cancelled = cell.cancel();
            let calls_at_cancel = calls.load(SeqCst);
            assert_eq!(
                calls_at_cancel,
                usize::from(!cancelled),
                "cancel returned early"
            );
            let fired = firer.join().unwrap();
            assert_ne!(fired, cancelled, "exactly one of fire and cancel wins");
            assert_eq!(calls.load(SeqCst), usize::from(fired));
        });
    }
}
