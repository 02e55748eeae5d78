//! The interface between the on-disk log and its secondary indexes (streams and their versions,
//! correlation groups, idempotency keys). The log is the truth; a secondary index is derived
//! data that says which sequence it covers, may lag the log, and is rebuilt from the log when
//! it is missing, stale or damaged.
//!
//! Invariant: an index answers with *candidate sequences* only. Keys are hashed to 128 bits, so
//! the caller verifies every candidate against the event it reads from the log (stream name,
//! idempotency key) before using it; a hash collision can cost a read, never a wrong answer.

use super::error::StoreError;
use super::event::EventId;

/// 128-bit hash of a stream name or an idempotency key (stable across processes and versions:
/// it is stored in index files).
pub(crate) type KeyHash = u128;

/// What the secondary indexes record about one committed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// The event's global sequence.
    pub(crate) sequence: u64,
    /// Hash of its stream name.
    pub(crate) stream: KeyHash,
    /// Its version in the stream (dense from 1).
    pub(crate) stream_version: u64,
    /// Its `correlation_id`, if it has one. The store leaves it out for an event without
    /// one (a group's root: its group key is its own id, and the root is found by that id),
    /// so the index holds only the members that point at a root.
    pub(crate) correlation: Option<EventId>,
    /// Hash of its idempotency key, if it has one.
    pub(crate) idempotency_key: Option<KeyHash>,
}

/// The secondary indexes of an on-disk store. Every method sees the entries added so far,
/// flushed or not. Implementations bound their memory (the unflushed part included) and their
/// open time (no full scan of their files).
pub(crate) trait SecondaryIndex: Send + Sync {
    /// The highest sequence whose entry is durable in the index files (0: none). On open the
    /// store replays the log from `covered() + 1` into [`add`](SecondaryIndex::add).
    fn covered(&self) -> u64;

    /// Records one event; entries arrive in sequence order with no gaps.
    fn add(&mut self, entry: &IndexEntry);

    /// Makes every added entry durable in the index files and records `covered` (the sequence
    /// of the last added entry) atomically with them.
    fn flush(&mut self) -> Result<(), StoreError>;

    /// Candidates for the highest version of the stream hashing to `stream`:
    /// `(version, sequence)` pairs, highest version first, at most `max` of them (the caller
    /// verifies each against the log and takes the first that matches). Empty: no version.
    fn stream_versions_desc(&self, stream: KeyHash, max: usize) -> Vec<(u64, u64)>;

    /// Candidates `(version, sequence)` of the stream hashing to `stream` with
    /// `version >= from_version`, ascending, at most `max`.
    fn stream_range(&self, stream: KeyHash, from_version: u64, max: usize) -> Vec<(u64, u64)>;

    /// Sequences of the correlation group `correlation`, ascending.
    fn correlated(&self, correlation: EventId) -> Vec<u64>;

    /// Candidate sequences of events appended with an idempotency key hashing to `key`.
    fn by_idempotency_key(&self, key: KeyHash) -> Vec<u64>;

    /// Forgets entries with a sequence below `first_retained` (after retention removed the
    /// segments holding them). May be lazy (e.g. done at the next merge), but lookups must not
    /// return such sequences afterwards.
    ///
    /// The store does not call it (yet): it keeps the entries of removed events so stream
    /// versions keep counting and a removed event's idempotency key is still refused
    /// (`Truncated`) rather than appended again. A compaction that folds them into per-stream
    /// maxima and a key set would use it.
    #[allow(dead_code)]
    fn retain_from(&mut self, first_retained: u64) -> Result<(), StoreError>;

    /// Bytes of heap the index holds (memtable, tables, caches), for the store's stats.
    fn heap_bytes(&self) -> usize;

    /// Whether a lookup or flush found damage in the index files (a page whose checksum
    /// failed). From then on answers may be incomplete: the store rebuilds the index from the
    /// log ([`reset`](SecondaryIndex::reset) + replay) before trusting it again.
    fn damaged(&self) -> bool;

    /// Forgets everything (files included): the index is empty and covers nothing.
    fn reset(&mut self) -> Result<(), StoreError>;
}

/// The 128-bit hash used for stream names and idempotency keys: two independent 64-bit
/// FNV-1a-style lanes mixed with splitmix64. Not cryptographic; stable forever (on disk).
pub(crate) fn key_hash(bytes: &[u8]) -> KeyHash {
    const P: u64 = 0x0000_0100_0000_01b3;
    let (mut a, mut b) = (0xcbf2_9ce4_8422_2325u64, 0x6c62_272e_07bb_0142u64);
    for &x in bytes {
        a = (a ^ u64::from(x)).wrapping_mul(P);
        b = (b ^ u64::from(x)).wrapping_mul(P).rotate_left(29);
    }
    let len = bytes.len() as u64;
    (u128::from(splitmix(a ^ len)) << 64) | u128::from(splitmix(b ^ len.rotate_left(32)))
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_is_stable_and_spreads() {
        // Stored in index files: this value must never change (computed independently).
        assert_eq!(key_hash(b"orders/1"), 0x1de3b4f48a6065cecbf585709bfd0be1);
        assert_ne!(key_hash(b"orders/1"), key_hash(b"orders/2"));
        assert_ne!(key_hash(b"ab"), key_hash(b"ba"));
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000u32 {
            assert!(seen.insert(key_hash(format!("stream-{i}").as_bytes())));
        }
    }
}
