//! The `{ctx, call, drop}` callback triple that C hands to transom.
//!
//! Invariant: a [`Closure`] owns its context: dropping it runs `drop(ctx)` once. Registered
//! closures live in the crate's one callback-lifetime primitive ([`crate::sync::Registration`]), which
//! guarantees that drop happens after the last call and that removal waits for calls in flight.

use std::ffi::c_void;

/// The C function that releases a callback's context: `void (*drop)(void *ctx)`.
pub type DropFn = unsafe extern "C" fn(ctx: *mut c_void);

/// A C callback: an opaque context, the function to call (any `Copy` function pointer type)
/// and an optional `drop`. Dropping the value runs `drop(ctx)` once.
pub struct Closure<F: Copy> {
    ctx: *mut c_void,
    call: F,
    drop: Option<DropFn>,
}

// SAFETY: the C API documents that a callback's ctx may be used from any transom thread (calls
// are serialised per registration only where the API says so); the triple itself is plain data.
unsafe impl<F: Copy> Send for Closure<F> {}
// SAFETY: as above; `&Closure` only exposes the context pointer and function pointer copies.
unsafe impl<F: Copy> Sync for Closure<F> {}

impl<F: Copy> Closure<F> {
    /// Takes ownership of a C triple. `drop` may be `None` when the context needs no release.
    pub fn new(ctx: *mut c_void, call: F, drop: Option<DropFn>) -> Self {
        Closure { ctx, call, drop }
    }

    /// The context pointer to pass as the first argument of `call`.
    pub fn ctx(&self) -> *mut c_void {
        self.ctx
    }

    /// The function to call.
    pub fn call(&self) -> F {
        self.call
    }

    /// Moves the context and `drop` into a closure whose function is `f(call)`. When `f` gives
    /// `None` (e.g. a NULL function pointer) `self` is dropped, running its `drop`.
    pub fn try_map<G: Copy>(mut self, f: impl FnOnce(F) -> Option<G>) -> Option<Closure<G>> {
        let call = f(self.call)?;
        let drop = self.drop.take();
        Some(Closure {
            ctx: self.ctx,
            call,
            drop,
        })
    }
}

impl<F: Copy> Drop for Closure<F> {
    fn drop(&mut self) {
        if let Some(drop) = self.drop.take() {
            // SAFETY: the C caller gave us ownership of ctx together with this drop function and
            // promised it may be called once, on any thread; Drop runs once.
            unsafe { drop(self.ctx) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A registered C callback, as every owner of one holds it.
    type Registration<F> = crate::sync::Registration<Closure<F>>;
    use crate::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::thread;

    type CallFn = unsafe extern "C" fn(*mut c_void, u32) -> u32;

    struct Ctx {
        calls: AtomicUsize,
        drops: AtomicUsize,
        calls_at_drop: AtomicUsize,
    }

    unsafe extern "C" fn add_one(ctx: *mut c_void, x: u32) -> u32 {
        // SAFETY: tests pass a pointer to a live Ctx.
        let c = unsafe { &*(ctx as *const Ctx) };
        c.calls.fetch_add(1, Ordering::SeqCst);
        x + 1
    }

    unsafe extern "C" fn count_drop(ctx: *mut c_void) {
        // SAFETY: tests pass a pointer to a live Ctx.
        let c = unsafe { &*(ctx as *const Ctx) };
        c.calls_at_drop
            .store(c.calls.load(Ordering::SeqCst), Ordering::SeqCst);
        c.drops.fetch_add(1, Ordering::SeqCst);
    }

    fn ctx() -> Arc<Ctx> {
        Arc::new(Ctx {
            calls: AtomicUsize::new(0),
            drops: AtomicUsize::new(0),
            calls_at_drop: AtomicUsize::new(0),
        })
    }

    fn register(c: &Arc<Ctx>) -> Registration<CallFn> {
        Registration::new(Closure::new(
            Arc::as_ptr(c) as *mut c_void,
            add_one as CallFn,
            Some(count_drop),
        ))
    }

    fn call(r: &Registration<CallFn>, x: u32) -> Option<u32> {
        // SAFETY: the closure's ctx is a live Ctx for the whole test.
        r.invoke(|c| unsafe { (c.call())(c.ctx(), x) })
    }

    #[test]
    fn drop_runs_exactly_once_after_the_last_call() {
        let c = ctx();
        let r = register(&c);
        let r2 = r.clone();
        assert_eq!(call(&r, 1), Some(2));
        assert_eq!(call(&r2, 2), Some(3));
        r.close();
        assert_eq!(
            c.drops.load(Ordering::SeqCst),
            1,
            "close runs drop, clones or not"
        );
        assert_eq!(call(&r2, 3), None, "no call after close");
        drop(r);
        drop(r2);
        assert_eq!(c.drops.load(Ordering::SeqCst), 1, "exactly once");
        assert_eq!(c.calls_at_drop.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn try_map_moves_ownership_or_drops_on_none() {
        let c = ctx();
        let raw: Closure<Option<CallFn>> = Closure::new(
            Arc::as_ptr(&c) as *mut c_void,
            Some(add_one as CallFn),
            Some(count_drop),
        );
        let mapped = raw.try_map(|f| f).expect("non-NULL call");
        assert_eq!(c.drops.load(Ordering::SeqCst), 0, "moved, not dropped");
        drop(mapped);
        assert_eq!(c.drops.load(Ordering::SeqCst), 1);
        let none: Closure<Option<CallFn>> =
            Closure::new(Arc::as_ptr(&c) as *mut c_void, None, Some(count_drop));
        assert!(none.try_map(|f| f).is_none());
        assert_eq!(
            c.drops.load(Ordering::SeqCst),
            2,
            "a refused closure is dropped once"
        );
    }

    #[test]
    fn close_from_another_thread_returns_only_after_the_drop_has_run() {
        // The call closes its own registration (deferring the drop to its end) while another
        // thread closes too: that close must not return before the drop has finished.
        type SlowFn = unsafe extern "C" fn(*mut c_void);
        struct Slow {
            reg: Mutex<Option<Registration<SlowFn>>>,
            entered: Barrier,
            dropping: Barrier,
            dropped: AtomicUsize,
        }
        unsafe extern "C" fn call(ctx: *mut c_void) {
            // SAFETY: ctx is a live Slow.
            let s = unsafe { &*(ctx as *const Slow) };
            let reg = s.reg.lock().clone().unwrap();
            reg.close(); // deferred: this call's end runs the drop
            s.entered.wait();
        }
        unsafe extern "C" fn slow_drop(ctx: *mut c_void) {
            // SAFETY: ctx is a live Slow.
            let s = unsafe { &*(ctx as *const Slow) };
            s.dropping.wait(); // the other closer is already waiting
            s.dropped.fetch_add(1, Ordering::SeqCst);
        }
        let s = Arc::new(Slow {
            reg: Mutex::new(None),
            entered: Barrier::new(2),
            dropping: Barrier::new(2),
            dropped: AtomicUsize::new(0),
        });
        let r: Registration<SlowFn> = Registration::new(Closure::new(
            Arc::as_ptr(&s) as *mut c_void,
            call as SlowFn,
            Some(slow_drop),
        ));
        *s.reg.lock() = Some(r.clone());
        let caller = {
            let r = r.clone();
            // SAFETY: ctx is a live Slow.
            thread::spawn(move || r.invoke(|c| unsafe { (c.call())(c.ctx()) }))
        };
        s.entered.wait();
        let closer = {
            let (r, s) = (r.clone(), Arc::clone(&s));
            thread::spawn(move || {
                r.close();
                s.dropped.load(Ordering::SeqCst)
            })
        };
        s.dropping.wait();
        assert_eq!(caller.join().unwrap(), Some(()));
        assert_eq!(
            closer.join().unwrap(),
            1,
            "close returned before the drop finished"
        );
        s.reg.lock().take();
    }

    #[test]
    fn dropping_the_last_clone_without_close_runs_drop() {
        let c = ctx();
        let r = register(&c);
        assert_eq!(call(&r, 1), Some(2));
        drop(r);
        assert_eq!(c.drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn closure_without_drop_is_fine() {
        let c = ctx();
        let r: Registration<CallFn> = Registration::new(Closure::new(
            Arc::as_ptr(&c) as *mut c_void,
            add_one as CallFn,
            None,
        ));
        assert_eq!(call(&r, 41), Some(42));
        r.close();
        drop(r);
        assert_eq!(c.drops.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn close_waits_for_a_call_in_flight_on_another_thread() {
        struct Gate {
            entered: Barrier,
            release: Barrier,
            finished: AtomicUsize,
        }
        type GateFn = unsafe extern "C" fn(*mut c_void);
        unsafe extern "C" fn slow(ctx: *mut c_void) {
            // SAFETY: ctx is a live Gate.
            let g = unsafe { &*(ctx as *const Gate) };
            g.entered.wait();
            g.release.wait();
            g.finished.fetch_add(1, Ordering::SeqCst);
        }
        let gate = Arc::new(Gate {
            entered: Barrier::new(2),
            release: Barrier::new(2),
            finished: AtomicUsize::new(0),
        });
        let r: Registration<GateFn> = Registration::new(Closure::new(
            Arc::as_ptr(&gate) as *mut c_void,
            slow as GateFn,
            None,
        ));
        let caller = {
            let r = r.clone();
            // SAFETY: ctx is a live Gate.
            thread::spawn(move || r.invoke(|c| unsafe { (c.call())(c.ctx()) }))
        };
        gate.entered.wait();
        let closer = {
            let r = r.clone();
            let gate = Arc::clone(&gate);
            thread::spawn(move || {
                r.close();
                gate.finished.load(Ordering::SeqCst)
            })
        };
        // The closer cannot finish before the call does: it waits for in_flight == 0, which
        // needs the release barrier below.
        gate.release.wait();
        assert_eq!(caller.join().unwrap(), Some(()));
        assert_eq!(
            closer.join().unwrap(),
            1,
            "close returned before the call finished"
        );
    }

    #[test]
    fn close_from_inside_the_callback_does_not_deadlock() {
        type SelfFn = unsafe extern "C" fn(*mut c_void);
        struct Holder {
            reg: Mutex<Option<Registration<SelfFn>>>,
            drops: AtomicUsize,
        }
        unsafe extern "C" fn close_self(ctx: *mut c_void) {
            // SAFETY: ctx is a live Holder.
            let h = unsafe { &*(ctx as *const Holder) };
            let reg = h.reg.lock().clone().unwrap();
            reg.close();
            assert_eq!(
                h.drops.load(Ordering::SeqCst),
                0,
                "drop ran inside the call"
            );
        }
        unsafe extern "C" fn on_drop(ctx: *mut c_void) {
            // SAFETY: ctx is a live Holder.
            let h = unsafe { &*(ctx as *const Holder) };
            h.drops.fetch_add(1, Ordering::SeqCst);
        }
        let h = Arc::new(Holder {
            reg: Mutex::new(None),
            drops: AtomicUsize::new(0),
        });
        let r = Registration::new(Closure::new(
            Arc::as_ptr(&h) as *mut c_void,
            close_self as SelfFn,
            Some(on_drop),
        ));
        *h.reg.lock() = Some(r.clone());
        // SAFETY: ctx is a live Holder.
        assert_eq!(r.invoke(|c| unsafe { (c.call())(c.ctx()) }), Some(()));
        assert!(r.is_closed());
        assert_eq!(
            h.drops.load(Ordering::SeqCst),
            1,
            "drop ran when the outer call ended"
        );
        h.reg.lock().take();
        drop(r);
        assert_eq!(h.drops.load(Ordering::SeqCst), 1);
    }
}
