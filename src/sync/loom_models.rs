//! loom models of the callback-lifetime primitive ([`Registration`]): a `close` racing calls
//! on other threads, and a `close` from inside a call racing another `close`. The registered
//! value is a probe whose calls read a loom cell and whose drop writes it, so loom fails the
//! model if a drop is not ordered after every call (a drop while a call runs, or a call after
//! the drop); counters check "dropped exactly once", "dropped before `close` returned" and "no
//! call after `close` returned".
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --no-default-features --lib loom`

use super::atomic::{AtomicUsize, Ordering::SeqCst};
use super::{Arc, Registration, UnsafeCell};
use loom::thread;

struct Probe {
    /// 0 while alive; the drop writes 1. Calls read it.
    alive: UnsafeCell<u32>,
    calls: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

// SAFETY: `alive` is read by calls and written only by `drop` (`&mut self`); loom checks that
// every read happens before that write.
unsafe impl Sync for Probe {}

impl Probe {
    fn call(&self) {
        // SAFETY: see `Sync` above (loom checks it).
        let alive = self.alive.with(|v| unsafe { *v });
        assert_eq!(alive, 0, "called after the drop");
        self.calls.fetch_add(1, SeqCst);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // SAFETY: exclusive; loom checks no call's read is concurrent with this write.
        self.alive.with_mut(|v| unsafe { *v = 1 });
        self.drops.fetch_add(1, SeqCst);
    }
}

fn probe() -> (Registration<Probe>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let r = Registration::new(Probe {
        alive: UnsafeCell::new(0),
        calls: Arc::clone(&calls),
        drops: Arc::clone(&drops),
    });
    (r, calls, drops)
}

/// `close` racing a call on another thread: the value is dropped exactly once, after the call
/// (never while it runs), before `close` returns, and no call runs after `close` returned.
#[test]
fn loom_registration_close_racing_invoke_drops_once_after_the_call() {
    loom::model(|| {
        let (r, calls, drops) = probe();
        let caller = {
            let r = r.clone();
            thread::spawn(move || r.invoke(|p| p.call()).is_some())
        };
        r.close();
        assert_eq!(drops.load(SeqCst), 1, "close returned before the drop");
        let calls_at_close = calls.load(SeqCst);
        assert!(
            r.invoke(|p| p.call()).is_none(),
            "a call started after close"
        );
        let called = caller.join().unwrap();
        assert_eq!(
            calls.load(SeqCst),
            calls_at_close,
            "a call ran after close returned"
        );
        assert_eq!(calls_at_close, usize::from(called));
        drop(r);
        assert_eq!(drops.load(SeqCst), 1, "dropped more than once");
    });
}

/// `close` from inside a call returns at once (the value stays usable until the call ends)
/// while another thread's `close` waits for that call: the value is dropped once, and before
/// the other thread's `close` returns.
#[test]
fn loom_registration_reentrant_close_racing_close_drops_once_before_close_returns() {
    loom::model(|| {
        let (r, _calls, drops) = probe();
        let caller = {
            let r = r.clone();
            thread::spawn(move || {
                let inner = r.clone();
                r.invoke(|p| {
                    inner.close();
                    p.call(); // still alive: the drop waits for this call to end
                })
            })
        };
        r.close();
        assert_eq!(drops.load(SeqCst), 1, "close returned before the drop");
        caller.join().unwrap();
        drop(r);
        assert_eq!(drops.load(SeqCst), 1, "dropped more than once");
    });
}

/// `close` from inside a call while another thread's call is in flight: the last call to end
/// drops the value, once, after both calls.
#[test]
fn loom_registration_reentrant_close_drops_after_the_last_call() {
    loom::model(|| {
        let (r, calls, drops) = probe();
        let other = {
            let r = r.clone();
            thread::spawn(move || r.invoke(|p| p.call()).is_some())
        };
        let inner = r.clone();
        let ran = r.invoke(|p| {
            inner.close();
            p.call();
        });
        assert_eq!(ran, Some(()));
        let other_ran = other.join().unwrap();
        assert_eq!(calls.load(SeqCst), 1 + usize::from(other_ran));
        assert_eq!(drops.load(SeqCst), 1, "not dropped after the last call");
        drop((r, inner));
        assert_eq!(drops.load(SeqCst), 1, "dropped more than once");
    });
}
