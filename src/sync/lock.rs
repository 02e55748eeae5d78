//! Poison-free `Mutex`, `Condvar` and `RwLock`: std's (or loom's, under `--cfg loom`) with the
//! `LockResult` removed. A panic while a lock is held does not poison it: transom's locks guard
//! plain state whose every update is complete between statements, so the next holder may use it
//! (the same choice as `parking_lot`).

use std::time::Duration;

#[cfg(loom)]
use loom::sync as imp;
#[cfg(not(loom))]
use std::sync as imp;

pub(crate) use imp::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

/// A mutual-exclusion lock that is never poisoned.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value` (`const`, for statics, except in a loom build).
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    /// A new unlocked mutex holding `value`.
    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    /// Locks, blocking until the lock is free.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks if the lock is free now; `None` if it is held (by any thread, this one too).
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The value, through exclusive access (no locking).
    #[allow(dead_code)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// Consumes the mutex, returning its value.
    #[allow(dead_code)]
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// A condition variable for [`Mutex`], never reporting poison.
#[derive(Debug, Default)]
pub(crate) struct Condvar(imp::Condvar);

impl Condvar {
    /// A new condition variable.
    pub(crate) fn new() -> Self {
        Condvar(imp::Condvar::new())
    }

    /// Releases `guard`, sleeps until notified (or spuriously), re-locks.
    #[inline]
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Like [`wait`](Condvar::wait) for at most `timeout`; the flag says the time ran out.
    #[inline]
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let (g, r) = self
            .0
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|e| e.into_inner());
        (g, r.timed_out())
    }

    /// Wakes one waiter.
    #[inline]
    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    /// Wakes every waiter.
    #[inline]
    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A reader-writer lock that is never poisoned.
#[derive(Debug, Default)]
pub(crate) struct RwLock<T>(imp::RwLock<T>);

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`.
    pub(crate) fn new(value: T) -> Self {
        RwLock(imp::RwLock::new(value))
    }

    /// Shared access.
    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive access.
    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The value, through exclusive access (no locking).
    #[allow(dead_code)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[test]
    fn a_panic_while_locked_does_not_poison_the_mutex() {
        let m = Mutex::new(1);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let mut g = m.lock();
            *g = 2;
            panic!("while holding the lock");
        }));
        assert_eq!(*m.lock(), 2);
    }

    #[test]
    fn a_panic_while_write_locked_does_not_poison_the_rwlock() {
        let l = RwLock::new(1);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            *l.write() = 3;
            panic!("while holding the lock");
        }));
        assert_eq!(*l.read(), 3);
    }

    #[test]
    fn wait_timeout_reports_that_the_time_ran_out() {
        let m = Mutex::new(());
        let cv = Condvar::new();
        let (_g, timed_out) = cv.wait_timeout(m.lock(), Duration::from_millis(1));
        assert!(timed_out);
    }
}
