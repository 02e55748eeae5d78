//! The unflushed entries of one index: an append-only vector in sequence order plus, per key
//! prefix, the newest entry and a link to the previous entry with the same prefix. Adding is a
//! push and one hash-map update (no ordered insert); a lookup walks its prefix's chain, newest
//! first; a flush sorts a copy.
//!
//! Invariant: `recs`, `prev` are parallel and in arrival order, which is sequence order, so a
//! chain visits its entries in strictly descending sequence. `heads` is current for every
//! prefix except the last one pushed, whose head is `recs.len() - 1` (held back so a run of
//! entries with the same prefix, e.g. a batch to one stream, costs no hash-map update).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::record::{cmp, prefix_of, sequence_of};

const NONE: u32 = u32::MAX;

pub(super) struct Memtable<const R: usize> {
    recs: Vec<[u8; R]>,
    prev: Vec<u32>,
    heads: HashMap<u128, u32, BuildHasherDefault<PrefixHasher>>,
}

impl<const R: usize> Memtable<R> {
    pub(super) fn new() -> Memtable<R> {
        Memtable {
            recs: Vec::new(),
            prev: Vec::new(),
            heads: HashMap::default(),
        }
    }

    pub(super) fn push(&mut self, rec: [u8; R]) {
        let i = u32::try_from(self.recs.len())
            .ok()
            .filter(|&i| i != NONE)
            .expect("memtable holds < 2^32 entries (the store flushes long before)");
        let prefix = prefix_of(&rec);
        let prev = match self.recs.last() {
            Some(last) if prefix_of(last) == prefix => i - 1,
            Some(last) => {
                self.heads.insert(prefix_of(last), i - 1);
                self.heads.get(&prefix).copied().unwrap_or(NONE)
            }
            None => NONE,
        };
        self.recs.push(rec);
        self.prev.push(prev);
    }

    /// The newest entry with this prefix.
    fn head(&self, prefix: u128) -> u32 {
        match self.recs.last() {
            Some(last) if prefix_of(last) == prefix => (self.recs.len() - 1) as u32,
            _ => self.heads.get(&prefix).copied().unwrap_or(NONE),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.recs.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// The entries with this prefix, newest (highest sequence) first.
    pub(super) fn newest_first(&self, prefix: u128) -> impl Iterator<Item = &[u8; R]> + '_ {
        let mut i = self.head(prefix);
        std::iter::from_fn(move || {
            if i == NONE {
                return None;
            }
            let at = i as usize;
            i = self.prev[at];
            Some(&self.recs[at])
        })
    }

    /// A sorted copy of the entries with a sequence `>= first_retained`, for a flush.
    pub(super) fn sorted(&self, first_retained: u64) -> Vec<[u8; R]> {
        let mut v: Vec<[u8; R]> = self
            .recs
            .iter()
            .filter(|&r| sequence_of(r) >= first_retained)
            .copied()
            .collect();
        v.sort_unstable_by(cmp);
        v
    }

    /// Forgets every entry; keeps the allocations (the next flush interval refills them to
    /// about the same size, and `heap_bytes` keeps counting them).
    pub(super) fn clear(&mut self) {
        self.recs.clear();
        self.prev.clear();
        self.heads.clear();
    }

    pub(super) fn heap_bytes(&self) -> usize {
        // hashbrown: one (key, value) slot plus one control byte per bucket.
        let slot = std::mem::size_of::<(u128, u32)>() + 1;
        self.recs.capacity() * R + self.prev.capacity() * 4 + self.heads.capacity() * slot
    }
}

/// The prefixes are 128-bit hashes or time-ordered ids: fold and mix them, no SipHash.
#[derive(Default)]
pub(super) struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u128(&mut self, v: u128) {
        let x = (v as u64) ^ ((v >> 64) as u64).rotate_left(32);
        let x = (x ^ (x >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 = x ^ (x >> 29);
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::seq_record;
    use super::*;

    #[test]
    fn chains_walk_newest_first_and_sorted_filters_retained() {
        let mut m = Memtable::<24>::new();
        for s in 1..=10u64 {
            m.push(seq_record(u128::from(s % 3), s));
        }
        let seqs: Vec<u64> = m.newest_first(1).map(sequence_of).collect();
        assert_eq!(seqs, vec![10, 7, 4, 1]);
        assert_eq!(m.newest_first(99).count(), 0);
        let sorted = m.sorted(5);
        assert_eq!(sorted.len(), 6);
        assert!(sorted.windows(2).all(|w| w[0] < w[1]));
        m.clear();
        assert!(m.is_empty() && m.newest_first(1).next().is_none());
    }
}
