//! The two "flavors" of slot words: plain `Cell`s for the single-threaded kinds and atomics for
//! the concurrent kind. The state machine and the free list are written once against these
//! traits, so every kind runs the same algorithm (and loom checks it with loom's atomics).
//!
//! Invariant: a `Cell` word is only ever touched by one thread at a time (its manager is !Sync).

use std::cell::Cell;
use std::sync::atomic::Ordering;

/// A 64-bit word with the operations the slot state machine, free-list head and counters need.
pub trait Word {
    /// A word holding `v`.
    fn new(v: u64) -> Self;
    /// Loads the value.
    fn load(&self, order: Ordering) -> u64;
    /// Stores `v`.
    fn store(&self, v: u64, order: Ordering);
    /// Replaces `current` with `new` if the word holds `current`; returns the value seen.
    fn cas(&self, current: u64, new: u64, success: Ordering, failure: Ordering)
        -> Result<u64, u64>;
    /// Adds `v`, returning the previous value.
    fn fetch_add(&self, v: u64, order: Ordering) -> u64;
    /// Subtracts `v`, returning the previous value.
    fn fetch_sub(&self, v: u64, order: Ordering) -> u64;
}

/// A 32-bit free-list link.
pub trait Link {
    /// Loads the link.
    fn load(&self) -> u32;
    /// Stores the link.
    fn store(&self, v: u32);
}

/// Chooses the word types of a manager kind. Sealed: [`SingleThreaded`] or [`Concurrent`].
pub trait Flavor: private::Sealed + 'static {
    /// Slot state words, the free-list head and the counters.
    type Word: Word;
    /// Free-list links.
    type Link: Link;
    /// How many free-list shards a manager of this flavor gets (see `shards.rs`).
    #[doc(hidden)]
    fn shards() -> usize;
    /// The calling thread's home shard (any value; taken modulo the shard count).
    #[doc(hidden)]
    fn home() -> usize;
    /// Moves the calling thread to another home shard (its home was contended).
    #[doc(hidden)]
    fn rehome();
}

/// The flavor of the STATIC and HEAP kinds: plain cells, one thread at a time.
#[derive(Debug)]
pub enum SingleThreaded {}

/// The flavor of the CONCURRENT kind: atomics, any thread at any time.
#[derive(Debug)]
pub enum Concurrent {}

impl Flavor for SingleThreaded {
    type Word = Cell<u64>;
    type Link = Cell<u32>;
    #[inline]
    fn shards() -> usize {
        1
    }
    #[inline]
    fn home() -> usize {
        0
    }
    #[inline]
    fn rehome() {}
}

impl Flavor for Concurrent {
    type Word = std::sync::atomic::AtomicU64;
    type Link = std::sync::atomic::AtomicU32;
    fn shards() -> usize {
        static SHARDS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *SHARDS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
    #[inline]
    fn home() -> usize {
        home::get()
    }
    #[cold]
    fn rehome() {
        home::next()
    }
}

/// The per-thread home-shard hint of the concurrent flavor. Plain std thread-local and atomic
/// (also under loom): it only picks which shard a thread tries first, never affects correctness,
/// and the loom models pass homes explicitly.
mod home {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

    /// Set once a thread has a hint (so 0 means "none yet").
    const ASSIGNED: u32 = 1 << 31;
    /// Threads get consecutive hints in start order, so two threads land on different shards.
    static NEXT: AtomicU32 = AtomicU32::new(0);

    std::thread_local! {
        static HOME: Cell<u32> = const { Cell::new(0) };
    }

    #[inline]
    pub(super) fn get() -> usize {
        HOME.with(|h| {
            let v = h.get();
            if v != 0 {
                return v as usize;
            }
            let v = NEXT.fetch_add(1, Relaxed) | ASSIGNED;
            h.set(v);
            v as usize
        })
    }

    /// A pseudo-random other hint (xorshift), so two threads colliding on one shard do not
    /// move in step.
    pub(super) fn next() {
        HOME.with(|h| {
            let mut x = h.get() | 1;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            h.set(x | ASSIGNED);
        })
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::SingleThreaded {}
    impl Sealed for super::Concurrent {}
}

impl Word for Cell<u64> {
    fn new(v: u64) -> Self {
        Cell::new(v)
    }
    #[inline]
    fn load(&self, _: Ordering) -> u64 {
        self.get()
    }
    #[inline]
    fn store(&self, v: u64, _: Ordering) {
        self.set(v)
    }
    #[inline]
    fn cas(&self, current: u64, new: u64, _: Ordering, _: Ordering) -> Result<u64, u64> {
        let seen = self.get();
        if seen == current {
            self.set(new);
            Ok(seen)
        } else {
            Err(seen)
        }
    }
    #[inline]
    fn fetch_add(&self, v: u64, _: Ordering) -> u64 {
        let old = self.get();
        self.set(old.wrapping_add(v));
        old
    }
    #[inline]
    fn fetch_sub(&self, v: u64, _: Ordering) -> u64 {
        let old = self.get();
        self.set(old.wrapping_sub(v));
        old
    }
}

impl Link for Cell<u32> {
    #[inline]
    fn load(&self) -> u32 {
        self.get()
    }
    #[inline]
    fn store(&self, v: u32) {
        self.set(v)
    }
}

macro_rules! atomic_word {
    ($w:ty, $l:ty) => {
        impl Word for $w {
            fn new(v: u64) -> Self {
                <$w>::new(v)
            }
            #[inline]
            fn load(&self, order: Ordering) -> u64 {
                <$w>::load(self, order)
            }
            #[inline]
            fn store(&self, v: u64, order: Ordering) {
                <$w>::store(self, v, order)
            }
            #[inline]
            fn cas(
                &self,
                current: u64,
                new: u64,
                success: Ordering,
                failure: Ordering,
            ) -> Result<u64, u64> {
                self.compare_exchange(current, new, success, failure)
            }
            #[inline]
            fn fetch_add(&self, v: u64, order: Ordering) -> u64 {
                <$w>::fetch_add(self, v, order)
            }
            #[inline]
            fn fetch_sub(&self, v: u64, order: Ordering) -> u64 {
                <$w>::fetch_sub(self, v, order)
            }
        }

        impl Link for $l {
            // Relaxed is enough: a link is published by the Release CAS on the free-list head
            // and read after an Acquire load of it; a racy read only feeds a CAS that fails.
            #[inline]
            fn load(&self) -> u32 {
                <$l>::load(self, Ordering::Relaxed)
            }
            #[inline]
            fn store(&self, v: u32) {
                <$l>::store(self, v, Ordering::Relaxed)
            }
        }
    };
}

atomic_word!(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU32);
#[cfg(loom)]
atomic_word!(loom::sync::atomic::AtomicU64, loom::sync::atomic::AtomicU32);
