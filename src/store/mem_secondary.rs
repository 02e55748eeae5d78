//! `MemSecondary`: a stand-in [`SecondaryIndex`] held in hash maps, so the on-disk log builds
//! and tests before the real index files exist. **Replaced by `lsm::LsmIndex` at integration**
//! (swap [`open_secondary`]); nothing else in the store names this type.
//!
//! It keeps nothing on disk: `covered()` is always 0, so every open replays the whole log into
//! it, and its memory grows with the number of events (the store's stats report it apart as
//! `index_heap_bytes`).
//!
//! Invariant: it answers from exactly the entries added, in the trait's order and limits.

use std::collections::HashMap;
use std::path::Path;

use super::error::StoreError;
use super::event::EventId;
use super::secondary::{IndexEntry, KeyHash, SecondaryIndex};

#[derive(Debug, Default)]
pub(crate) struct MemSecondary {
    streams: HashMap<KeyHash, Vec<(u64, u64)>>,
    correlation: HashMap<EventId, Vec<u64>>,
    keys: HashMap<KeyHash, Vec<u64>>,
    retained_from: u64,
}

/// Opens the secondary index kept in `dir` (the store's `index/` directory).
pub(crate) fn open_secondary(_dir: &Path) -> Result<Box<dyn SecondaryIndex>, StoreError> {
    Ok(Box::new(MemSecondary::default()))
}

impl SecondaryIndex for MemSecondary {
    fn covered(&self) -> u64 {
        0
    }

    fn add(&mut self, e: &IndexEntry) {
        self.streams
            .entry(e.stream)
            .or_default()
            .push((e.stream_version, e.sequence));
        self.correlation
            .entry(e.correlation)
            .or_default()
            .push(e.sequence);
        if let Some(k) = e.idempotency_key {
            self.keys.entry(k).or_default().push(e.sequence);
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn stream_versions_desc(&self, stream: KeyHash, max: usize) -> Vec<(u64, u64)> {
        self.streams.get(&stream).map_or_else(Vec::new, |v| {
            v.iter()
                .rev()
                .filter(|&&(_, s)| s >= self.retained_from)
                .take(max)
                .copied()
                .collect()
        })
    }

    fn stream_range(&self, stream: KeyHash, from_version: u64, max: usize) -> Vec<(u64, u64)> {
        self.streams.get(&stream).map_or_else(Vec::new, |v| {
            let i = v.partition_point(|&(ver, _)| ver < from_version);
            v[i..]
                .iter()
                .filter(|&&(_, s)| s >= self.retained_from)
                .take(max)
                .copied()
                .collect()
        })
    }

    fn correlated(&self, correlation: EventId) -> Vec<u64> {
        self.correlation
            .get(&correlation)
            .map_or_else(Vec::new, |v| {
                v.iter()
                    .copied()
                    .filter(|&s| s >= self.retained_from)
                    .collect()
            })
    }

    fn by_idempotency_key(&self, key: KeyHash) -> Vec<u64> {
        self.keys.get(&key).map_or_else(Vec::new, |v| {
            v.iter()
                .copied()
                .filter(|&s| s >= self.retained_from)
                .collect()
        })
    }

    fn retain_from(&mut self, first_retained: u64) -> Result<(), StoreError> {
        self.retained_from = self.retained_from.max(first_retained);
        Ok(())
    }

    fn heap_bytes(&self) -> usize {
        let per_map = |cap: usize, item: usize| cap * (item + 8);
        per_map(self.streams.capacity(), 16 + 24)
            + self
                .streams
                .values()
                .map(|v| v.capacity() * 16)
                .sum::<usize>()
            + per_map(self.correlation.capacity(), 16 + 24)
            + self
                .correlation
                .values()
                .map(|v| v.capacity() * 8)
                .sum::<usize>()
            + per_map(self.keys.capacity(), 16 + 24)
            + self.keys.values().map(|v| v.capacity() * 8).sum::<usize>()
    }
}
