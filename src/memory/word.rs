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
}

impl Flavor for Concurrent {
    type Word = std::sync::atomic::AtomicU64;
    type Link = std::sync::atomic::AtomicU32;
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
