//! The fixed-size records of the three indexes and their byte order. A record is its own key:
//! it is compared with `memcmp` (`[u8; R]`'s `Ord`), and every field is big-endian so that
//! byte order is numeric order.
//!
//! | index | bytes | layout |
//! |---|---|---|
//! | streams | 32 | stream hash (16) ++ version (8) ++ sequence (8) |
//! | correlation | 24 | correlation id (16) ++ sequence (8) |
//! | idempotency | 24 | key hash (16) ++ sequence (8) |
//!
//! Records are compared as big-endian integers ([`cmp`]), which is the same order as `memcmp`
//! without a call to it in the innermost loop of searches, sorts and merges.
//!
//! Invariant: the first 16 bytes are the *prefix* (what a lookup asks for and what the bloom
//! filter holds) and the last 8 bytes are the event's sequence, in every index. The sequence in
//! the key makes every record unique, also when two keys collide on their 128-bit hash.

use std::cmp::Ordering;

/// Bytes of a streams record.
pub(super) const STREAM_REC: usize = 32;
/// Bytes of a correlation or idempotency record.
pub(super) const SEQ_REC: usize = 24;

/// Which index a run belongs to (stored in run headers and the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Streams = 1,
    Correlation = 2,
    Idempotency = 3,
}

impl Kind {
    pub(super) fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Streams),
            2 => Some(Kind::Correlation),
            3 => Some(Kind::Idempotency),
            _ => None,
        }
    }

    /// The file-name stem of this index's runs.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Streams => "streams",
            Kind::Correlation => "correlation",
            Kind::Idempotency => "idempotency",
        }
    }

    /// The record size of this index.
    pub(super) fn record_size(self) -> usize {
        match self {
            Kind::Streams => STREAM_REC,
            Kind::Correlation | Kind::Idempotency => SEQ_REC,
        }
    }
}

pub(super) fn stream_record(stream: u128, version: u64, sequence: u64) -> [u8; STREAM_REC] {
    let mut r = [0u8; STREAM_REC];
    r[..16].copy_from_slice(&stream.to_be_bytes());
    r[16..24].copy_from_slice(&version.to_be_bytes());
    r[24..].copy_from_slice(&sequence.to_be_bytes());
    r
}

pub(super) fn seq_record(prefix: u128, sequence: u64) -> [u8; SEQ_REC] {
    let mut r = [0u8; SEQ_REC];
    r[..16].copy_from_slice(&prefix.to_be_bytes());
    r[16..].copy_from_slice(&sequence.to_be_bytes());
    r
}

/// The smallest (`fill` 0x00) or largest (`fill` 0xff) record with this prefix.
pub(super) fn prefix_bound<const R: usize>(prefix: u128, fill: u8) -> [u8; R] {
    let mut r = [fill; R];
    r[..16].copy_from_slice(&prefix.to_be_bytes());
    r
}

pub(super) fn prefix_of<const R: usize>(r: &[u8; R]) -> u128 {
    u128::from_be_bytes(r[..16].try_into().expect("16 bytes"))
}

pub(super) fn sequence_of<const R: usize>(r: &[u8; R]) -> u64 {
    u64::from_be_bytes(r[R - 8..].try_into().expect("8 bytes"))
}

pub(super) fn version_of(r: &[u8; STREAM_REC]) -> u64 {
    u64::from_be_bytes(r[16..24].try_into().expect("8 bytes"))
}

/// `memcmp` order of two records, as integer comparisons.
#[inline]
pub(super) fn cmp<const R: usize>(a: &[u8; R], b: &[u8; R]) -> Ordering {
    let mut o = prefix_of(a).cmp(&prefix_of(b));
    let mut i = 16;
    while o == Ordering::Equal && i < R {
        let x = u64::from_be_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        o = x.cmp(&y);
        i += 8;
    }
    o
}

/// A record ordered by [`cmp`] (for heaps).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Key<const R: usize>(pub(super) [u8; R]);

impl<const R: usize> Ord for Key<R> {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp(&self.0, &other.0)
    }
}

impl<const R: usize> PartialOrd for Key<R> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(Ord::cmp(self, other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_comparison_is_memcmp_order() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..10_000 {
            let (a, b) = (next(), next());
            let ra = stream_record(u128::from(a & 3), a & 7, b & 3);
            let rb = stream_record(u128::from(b & 3), b & 7, a & 3);
            assert_eq!(cmp(&ra, &rb), ra.cmp(&rb));
            let (sa, sb) = (
                seq_record(u128::from(a) << 60, b & 3),
                seq_record(u128::from(b) << 60, a & 3),
            );
            assert_eq!(cmp(&sa, &sb), sa.cmp(&sb));
        }
    }
}
