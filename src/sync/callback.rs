//! The callback-lifetime primitive: a registered value (a Rust closure, a C `{ctx, call, drop}`
//! triple, …) that many threads may call and one `close` ends. Gates, monitors, crash callbacks
//! and every C closure the library holds go through it.
//!
//! Guarantees (the invariant every user relies on):
//! - the value is dropped exactly once, after the last call has returned;
//! - [`Registration::close`] blocks until calls in flight on *other* threads have returned and
//!   then drops the value before it returns; called from inside one of this registration's own
//!   calls it does not wait (that would deadlock): the value is dropped as soon as the last
//!   call in flight returns (on that call's thread, unless a `close` from another thread is
//!   waiting: then that one drops it);
//! - no call starts after `close` returned, and no lock of this primitive is held while the
//!   value is called or dropped.
//!
//! loom models: `super::loom_models` (close racing a call, re-entrant close racing a close).

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{Arc, Condvar, Mutex, UnsafeCell};

/// Where the registered value is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Value {
    /// In the cell; calls may read it.
    Present,
    /// Taken out by the one thread that drops it; the drop has not finished.
    Dropping,
    /// Dropped (or never there again).
    Dropped,
}

struct CallState {
    in_flight: usize,
    closed: bool,
    /// `close` calls (not from inside a call) waiting for the calls in flight to end. While
    /// there is one, it drops the value; otherwise the last call to end after a close does.
    closers: usize,
    value: Value,
}

impl CallState {
    /// Claims the drop when it is due: closed, no call in flight, value still there. Exactly
    /// one thread gets `true` (the state moves to `Dropping` under the lock).
    fn claim_drop(&mut self) -> bool {
        if self.closed && self.in_flight == 0 && self.value == Value::Present {
            self.value = Value::Dropping;
            true
        } else {
            false
        }
    }
}

struct Shared<T> {
    /// `Some` until the value is dropped. Read (shared) only by calls counted in `in_flight`;
    /// taken only by the thread whose [`CallState::claim_drop`] succeeded, after which no call
    /// can be in flight or start.
    value: UnsafeCell<Option<T>>,
    state: Mutex<CallState>,
    /// Signalled when `in_flight` drops to 0 and when a drop finishes.
    idle: Condvar,
}

// SAFETY: `value` is shared between threads only as `&T` during counted calls (needs T: Sync)
// and moved out for dropping on whichever thread ends the registration (needs T: Send).
unsafe impl<T: Send + Sync> Sync for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> Shared<T> {
    /// Drops the value (outside the lock; a panic in user drop code is contained), then
    /// records that the drop finished and wakes any `close` waiting for it. Called only by the
    /// thread whose `claim_drop` returned true.
    fn drop_value(&self) {
        // SAFETY: the claim guarantees no call is in flight or can start and no other thread
        // touches the cell again, so this access is exclusive.
        let value = self.value.with_mut(|v| unsafe { (*v).take() });
        if let Some(v) = value {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(v)));
        }
        self.state.lock().value = Value::Dropped;
        self.idle.notify_all();
    }
}

impl<T> Drop for Shared<T> {
    /// The last clone went without a `close` (or the close left nothing): drop the value here,
    /// containing a panic like every other drop of user code.
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other reference exists.
        let value = self.value.with_mut(|v| unsafe { (*v).take() });
        if let Some(v) = value {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(v)));
        }
    }
}

super::thread_local! {
    /// The registrations whose call is running on this thread (innermost last), so that a
    /// `close` from inside a callback can tell it must not wait for itself.
    static ACTIVE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// A registered callback value: many threads may [`invoke`](Registration::invoke) it; one
/// [`close`](Registration::close) ends it and drops the value. Clones share the registration;
/// when the last clone goes without a `close`, the value is dropped then.
pub(crate) struct Registration<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Registration<T> {
    fn clone(&self) -> Self {
        Registration {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Ends one counted call, also when the call panics: the last call to end after a re-entrant
/// close (with no `close` waiting) drops the value.
struct Exit<'a, T>(&'a Shared<T>);

impl<T> Drop for Exit<'_, T> {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|a| a.borrow_mut().pop());
        let shared = self.0;
        let drop_here = {
            let mut st = shared.state.lock();
            st.in_flight -= 1;
            if st.in_flight > 0 {
                false
            } else if st.closers > 0 {
                // A waiting close drops it on its own thread.
                shared.idle.notify_all();
                false
            } else {
                st.claim_drop()
            }
        };
        if drop_here {
            shared.drop_value();
        }
    }
}

impl<T> Registration<T> {
    /// Registers `value`.
    pub(crate) fn new(value: T) -> Self {
        Registration {
            shared: Arc::new(Shared {
                value: UnsafeCell::new(Some(value)),
                state: Mutex::new(CallState {
                    in_flight: 0,
                    closed: false,
                    closers: 0,
                    value: Value::Present,
                }),
                idle: Condvar::new(),
            }),
        }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as *const () as usize
    }

    /// Calls `f` with the value unless the registration is closed (then returns `None`). No
    /// lock is held while `f` runs; `f` may call [`close`](Registration::close) on this same
    /// registration.
    pub(crate) fn invoke<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        {
            let mut st = self.shared.state.lock();
            if st.closed {
                return None;
            }
            st.in_flight += 1;
        }
        let _ = ACTIVE.try_with(|a| a.borrow_mut().push(self.id()));
        let _exit = Exit(&self.shared);
        // SAFETY: this call is counted in `in_flight`, so the value is not taken until it ends;
        // only shared references are handed out.
        self.shared.value.with(|v| unsafe { (*v).as_ref() }.map(f))
    }

    /// True once [`close`](Registration::close) has been called.
    #[allow(dead_code)]
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.state.lock().closed
    }

    /// Ends the registration: no call starts afterwards. Waits for calls in flight on other
    /// threads, then drops the value before returning. From inside one of this registration's
    /// own calls it returns at once, and the value is dropped as soon as the last call in
    /// flight returns. Idempotent: a later `close` returns once the value has been dropped.
    pub(crate) fn close(&self) {
        let me = self.id();
        let reentrant = ACTIVE
            .try_with(|a| a.borrow().contains(&me))
            .unwrap_or(false);
        let mut st = self.shared.state.lock();
        st.closed = true;
        if reentrant {
            // This thread's own call is in flight: the last call to end drops the value.
            return;
        }
        st.closers += 1;
        while st.in_flight > 0 {
            st = self.shared.idle.wait(st);
        }
        st.closers -= 1;
        if st.claim_drop() {
            drop(st);
            self.shared.drop_value();
            return;
        }
        // Another close (or the last call after a re-entrant close) is dropping it: wait until
        // it has finished.
        while st.value != Value::Dropped {
            st = self.shared.idle.wait(st);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Barrier};
    use std::thread;

    /// Counts its drops; records how many calls had finished when it was dropped.
    struct Probe {
        calls: Arc<AtomicUsize>,
        drops: Arc<AtomicUsize>,
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn probe() -> (Registration<Probe>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let r = Registration::new(Probe {
            calls: Arc::clone(&calls),
            drops: Arc::clone(&drops),
        });
        (r, calls, drops)
    }

    #[test]
    fn the_value_is_dropped_once_by_close_and_never_called_after() {
        let (r, calls, drops) = probe();
        assert_eq!(
            r.invoke(|p| p.calls.fetch_add(1, Ordering::SeqCst)),
            Some(0)
        );
        r.close();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(r
            .invoke(|p| p.calls.fetch_add(1, Ordering::SeqCst))
            .is_none());
        r.close();
        drop(r);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropping_the_last_clone_without_close_drops_the_value() {
        let (r, _calls, drops) = probe();
        let r2 = r.clone();
        drop(r);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(r2);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn close_waits_for_a_call_in_flight_on_another_thread() {
        let (r, _calls, drops) = probe();
        let entered = Arc::new(Barrier::new(2));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let t = {
            let r = r.clone();
            let entered = Arc::clone(&entered);
            thread::spawn(move || {
                r.invoke(|_| {
                    entered.wait();
                    release_rx.recv().unwrap();
                });
            })
        };
        entered.wait();
        let (closed_tx, closed_rx) = mpsc::channel();
        let closer = {
            let r = r.clone();
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                r.close();
                closed_tx.send(drops.load(Ordering::SeqCst)).unwrap();
            })
        };
        // The close cannot finish while the call is in flight.
        assert!(closed_rx
            .recv_timeout(std::time::Duration::from_millis(50))
            .is_err());
        release_tx.send(()).unwrap();
        assert_eq!(
            closed_rx.recv().unwrap(),
            1,
            "close returned after the drop"
        );
        t.join().unwrap();
        closer.join().unwrap();
    }

    #[test]
    fn close_from_inside_the_call_defers_the_drop_to_its_end() {
        let (r, _calls, drops) = probe();
        let inner = r.clone();
        let seen = r.invoke(|p| {
            inner.close();
            // Still alive: the drop waits for this call to return.
            p.drops.load(Ordering::SeqCst)
        });
        assert_eq!(seen, Some(0));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(r.is_closed());
    }

    #[test]
    fn a_panicking_drop_is_contained() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("drop panics");
            }
        }
        let r = Registration::new(Bomb);
        r.close();
        assert!(r.invoke(|_| ()).is_none());
    }
}
