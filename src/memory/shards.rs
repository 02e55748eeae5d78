//! The sharded free list: one Treiber stack ([`FreeList`]) and one free-slot count per shard,
//! each shard on its own cache line, so threads allocating and freeing on different shards
//! share no written cache line (a single shared head and counter bounced between the cores on
//! every operation).
//!
//! A thread works on its *home* shard (chosen by the caller, e.g. a per-thread hint): a free
//! pushes there, an allocation pops there first and *steals* (pops one slot) from the other
//! shards in turn when home is empty. Every free slot is in exactly one shard's list, so nothing
//! is ever hidden from an allocation or a waiter: an allocation that finds every shard empty
//! saw each list empty when it looked, and a slot that stayed free throughout is always found
//! (its list is never empty while it is listed). Cost bound: O(shards) per allocation in the
//! worst case, with shards ≤ [`MAX_SHARDS`] fixed at creation — O(1) in the capacity.
//!
//! Invariant (the counts): `count[s]` is incremented *before* a slot is pushed onto shard `s`
//! and decremented *after* a slot was popped from it, so at every instant
//! `0 <= listed(s) <= count[s]` and `Σ count[s] <= capacity` (a slot is counted by at most one
//! shard: between its pop and the popper's decrement it is still counted by the shard it left,
//! and it cannot be pushed anywhere else before the popper hands it out). [`available`] sums
//! the counts and clamps to `capacity`: a sum read while slots move between shards may count a
//! moving slot twice or not at all, but it is always within `0..=capacity`, and exact whenever
//! no operation is in flight.
//!
//! Invariant (the high-water mark, see [`ShardedFreeList::note_pop`]): every shard also keeps a
//! `low` mark, and `Σ low[s] >= capacity - retired - high_water` holds between operations.
//! So while no pop takes a count below its shard's `low`, `Σ count >= capacity - retired -
//! high_water`, i.e. `in_use <= high_water`: only a pop that crosses its shard's `low` can set
//! a new high-water mark, and only that pop (rare: never in a steady state) reads the other
//! shards. That makes `high_water` exact whenever one thread at a time works on the manager,
//! without a shared counter on the hot path.

use std::sync::atomic::Ordering::Relaxed;

use crossbeam_utils::CachePadded;

use super::freelist::{FreeList, Links};
use super::word::Word;

/// The most shards a manager gets (its memory: 128 bytes each).
pub(crate) const MAX_SHARDS: usize = 32;

struct Shard<W: Word> {
    free: FreeList<W>,
    /// Free slots of this shard: listed ones plus those in transit (see the module invariant).
    count: W,
    /// The high-water re-arm mark (see the module invariant); written by any thread's slow
    /// path, read by every pop of this shard.
    low: W,
}

/// Free lists in `mask + 1` (a power of two) cache-padded shards. Shard 0 is inline, so a
/// single-shard list (the STATIC and HEAP kinds) allocates nothing.
pub(crate) struct ShardedFreeList<W: Word> {
    first: CachePadded<Shard<W>>,
    /// Shards `1..=mask`.
    rest: Box<[CachePadded<Shard<W>>]>,
    mask: usize,
}

impl<W: Word> ShardedFreeList<W> {
    /// `shards` shards (rounded up to a power of two, at most [`MAX_SHARDS`]) holding `0..len`,
    /// all in shard 0 with 0 on top (so the first allocations come out in index order).
    pub(crate) fn new_full<L: Links>(links: &L, len: u32, shards: usize) -> Self {
        let n = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let empty = || {
            CachePadded::new(Shard {
                free: FreeList::empty(),
                count: W::new(0),
                low: W::new(0),
            })
        };
        ShardedFreeList {
            first: CachePadded::new(Shard {
                free: FreeList::new_full(links, len),
                count: W::new(u64::from(len)),
                low: W::new(u64::from(len)),
            }),
            rest: (1..n).map(|_| empty()).collect(),
            mask: n - 1,
        }
    }

    /// A list of one empty shard; allocates nothing.
    pub(crate) fn empty() -> Self {
        ShardedFreeList {
            first: CachePadded::new(Shard {
                free: FreeList::empty(),
                count: W::new(0),
                low: W::new(0),
            }),
            rest: Box::new([]),
            mask: 0,
        }
    }

    /// Shard `i & mask`, without a bounds check (the single-threaded kinds' cycle is a handful
    /// of nanoseconds; a check per access showed in it).
    #[inline(always)]
    fn shard(&self, i: usize) -> &Shard<W> {
        let i = i & self.mask;
        if i == 0 {
            &self.first
        } else {
            // SAFETY: `rest.len() == mask` (set at construction, never changed) and
            // 1 <= i <= mask, so `i - 1` is in bounds.
            unsafe { self.rest.get_unchecked(i - 1) }
        }
    }

    /// The number of shards (a power of two).
    #[inline]
    pub(crate) fn shards(&self) -> usize {
        self.mask + 1
    }

    /// Pops a slot: from shard `home` (taken modulo the shard count) first, then one from each
    /// other shard in turn. Returns (index, the shard it came from, whether `home` was
    /// contended — a failed CAS — so the caller may move this thread to another home).
    #[inline]
    pub(crate) fn pop<L: Links>(&self, links: &L, home: usize) -> Option<(u32, usize, bool)> {
        let home = home & self.mask;
        let (got, contended) = self.shard(home).free.pop_contended(links);
        if let Some(index) = got {
            return Some((index, home, contended));
        }
        self.steal(links, home)
    }

    #[cold]
    #[inline(never)]
    fn steal<L: Links>(&self, links: &L, home: usize) -> Option<(u32, usize, bool)> {
        (1..=self.mask).find_map(|k| {
            let s = (home + k) & self.mask;
            self.shard(s).free.pop(links).map(|index| (index, s, false))
        })
    }

    /// Ends a pop from shard `from` (after the caller has taken the slot): decrements its count
    /// and returns the count after, for [`note_pop`](Self::note_pop).
    #[inline]
    pub(crate) fn count_popped(&self, from: usize) -> u64 {
        // Relaxed: the count is a statistic of the list, not a synchronising flag. It still
        // cannot underflow: the pusher's increment is sequenced before its push, which
        // happens-before our pop (the head's Release/Acquire), so by coherence the increment
        // precedes this decrement in the count's modification order.
        self.shard(from).count.fetch_sub(1, Relaxed).wrapping_sub(1)
    }

    /// Whether a pop from shard `from` that left its count at `after` may have set a new
    /// high-water mark (and the caller must call [`rearm`](Self::rearm)): the fast path's one
    /// load, of a word on the shard's own line.
    #[inline]
    pub(crate) fn note_pop(&self, from: usize, after: u64) -> bool {
        after < self.shard(from).low.load(Relaxed)
    }

    /// The slow path of the high-water mark: sums the counts, gives the caller the in-use figure
    /// to record (`capacity_left - Σ count`, clamped), then re-arms every shard's `low` so that
    /// `Σ low >= capacity_left - high_water` again, where `high_water` is what `record` returns
    /// (the mark after recording). The slack `Σ count - (capacity_left - high_water)` is spread
    /// over the shards, other shards first, so that shards sitting above their own minimum (a
    /// thread between its free and its next store) do not trip the slow path again at once.
    #[cold]
    #[inline(never)]
    pub(crate) fn rearm(&self, home: usize, capacity_left: u64, record: impl FnOnce(u64) -> u64) {
        let home = home & self.mask;
        let n = self.shards();
        let mut counts = [0u64; MAX_SHARDS];
        for (i, c) in counts[..n].iter_mut().enumerate() {
            *c = self.shard(i).count.load(Relaxed);
        }
        let sum: u64 = counts[..n].iter().sum();
        let high_water = record(capacity_left.saturating_sub(sum));
        let mut slack = sum.saturating_sub(capacity_left.saturating_sub(high_water));
        let share = slack / n as u64;
        let mut extra = slack % n as u64;
        for k in 1..=n {
            let s = (home + k) & self.mask;
            let mut give = share;
            if extra > 0 {
                give += 1;
                extra -= 1;
            }
            let give = give.min(counts[s]).min(slack);
            slack -= give;
            self.shard(s).low.store(counts[s] - give, Relaxed);
        }
    }

    /// Pushes `index` (owned by the caller) onto shard `home`; returns whether the push met
    /// contention (a failed CAS).
    #[inline]
    pub(crate) fn push<L: Links>(&self, links: &L, home: usize, index: u32) -> bool {
        let shard = self.shard(home);
        // Before the push: see the module invariant (a popper's decrement never precedes it).
        shard.count.fetch_add(1, Relaxed);
        shard.free.push_contended(links, index)
    }

    /// Free slots: the counts' sum, clamped to `0..=capacity` (exact when nothing is in flight).
    #[inline]
    pub(crate) fn available(&self, capacity: u64) -> u64 {
        if self.mask == 0 {
            return self.shard(0).count.load(Relaxed).min(capacity);
        }
        let sum = (0..self.shards()).fold(0u64, |a, i| {
            a.saturating_add(self.shard(i).count.load(Relaxed))
        });
        sum.min(capacity)
    }

    /// Test hook for the loom models: a shard's count.
    #[cfg(all(test, loom))]
    pub(crate) fn count(&self, shard: usize) -> u64 {
        self.shard(shard).count.load(Relaxed)
    }

    /// Test hook for the loom models: a push that breaks the count invariant (increments the
    /// count *after* the push), to show the models catch it.
    #[cfg(all(test, loom))]
    pub(crate) fn push_counting_late<L: Links>(&self, links: &L, home: usize, index: u32) {
        let shard = self.shard(home);
        shard.free.push_contended(links, index);
        shard.count.fetch_add(1, Relaxed);
    }
}
