//! `<base>.idx`: a segment's sparse index (DERIVED data, rebuilt from the segment when it is
//! missing, stale or damaged). One entry per ~2 KiB of frames maps sequence and id to a byte
//! offset; the segment's stream table maps the per-segment stream numbers of its frames to
//! names. Sealed segments' index files are memory-mapped and searched in place.
//!
//! ```text
//! offset  size   field
//! 0       8      magic         b"TRNIDX02"
//! 8       8      base          u64 LE: the segment's first sequence
//! 16      8      covered_len   u64 LE: segment bytes covered (ends on a frame boundary)
//! 24      8      last_seq      u64 LE: last sequence in the covered bytes (base-1: none)
//! 32      8      first_ts      u64 LE
//! 40      8      last_ts       u64 LE
//! 48      16     first_id      u128 LE (0: none)
//! 64      16     last_id       u128 LE
//! 80      4      n             u32 LE: entries
//! 84      4      m             u32 LE: streams
//! 88      8      names_len     u64 LE
//! 96      32×n   entries       sequence u64, offset u64, id u128 (ascending)
//! ..      4×(m+1) name offsets u32 LE into the names blob (name i = [off i, off i+1))
//! ..      names_len            the names, UTF-8, back to back
//! ..      4      crc32c        of every byte before it
//! ```
//!
//! Invariant: an index file is used only after its CRC, magic, base and every offset in it
//! were checked, and only for the bytes it says it covers.

use super::disk::prefetch;
use super::frame::{u128_at, u32_at, u64_at};
use super::manifest::SegMeta;

const MAGIC: [u8; 8] = *b"TRNIDX02";
const HEADER_LEN: usize = 96;
const ENTRY_LEN: usize = 32;
/// An entry is added when a frame starts this many bytes after the previous entry. (Readers
/// accept any spacing: index files written with another interval stay valid.) 2 KiB: a point
/// read by id hops over ~6 small frames on average instead of ~12 at 4 KiB, for 16 B of
/// index per KiB of log (the active segment's entries are heap: up to 1 MiB at 64 MiB).
pub(crate) const INTERVAL: u64 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub seq: u64,
    pub offset: u64,
    pub id: u128,
}

/// Serialises a segment's index.
pub(crate) fn encode<S: AsRef<str>>(meta: &SegMeta, entries: &[Entry], names: &[S]) -> Vec<u8> {
    let names_len: usize = names.iter().map(|n| n.as_ref().len()).sum();
    let mut b = Vec::with_capacity(
        HEADER_LEN + ENTRY_LEN * entries.len() + 4 * (names.len() + 1) + names_len + 4,
    );
    b.extend_from_slice(&MAGIC);
    for v in [
        meta.base,
        meta.len,
        meta.last_seq,
        meta.first_ts,
        meta.last_ts,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&meta.first_id.to_le_bytes());
    b.extend_from_slice(&meta.last_id.to_le_bytes());
    b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    b.extend_from_slice(&(names.len() as u32).to_le_bytes());
    b.extend_from_slice(&(names_len as u64).to_le_bytes());
    for e in entries {
        b.extend_from_slice(&e.seq.to_le_bytes());
        b.extend_from_slice(&e.offset.to_le_bytes());
        b.extend_from_slice(&e.id.to_le_bytes());
    }
    let mut off = 0u32;
    b.extend_from_slice(&off.to_le_bytes());
    for n in names {
        off += n.as_ref().len() as u32;
        b.extend_from_slice(&off.to_le_bytes());
    }
    for n in names {
        b.extend_from_slice(n.as_ref().as_bytes());
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// A validated index, borrowing its bytes (a map of the file, or a rebuilt buffer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdxView<'a> {
    bytes: &'a [u8],
    n: usize,
    m: usize,
    offsets_at: usize,
    names_at: usize,
}

impl<'a> IdxView<'a> {
    /// Checks everything; `None` when the bytes are not a valid index of the segment `base`.
    pub(crate) fn parse(bytes: &'a [u8], base: u64) -> Option<IdxView<'a>> {
        if bytes.len() < HEADER_LEN + 8 || bytes[..8] != MAGIC || u64_at(bytes, 8) != base {
            return None;
        }
        let body = &bytes[..bytes.len() - 4];
        if crc32c::crc32c(body) != u32_at(bytes, bytes.len() - 4) {
            return None;
        }
        let n = u32_at(bytes, 80) as usize;
        let m = u32_at(bytes, 84) as usize;
        let names_len = usize::try_from(u64_at(bytes, 88)).ok()?;
        let offsets_at = HEADER_LEN + n.checked_mul(ENTRY_LEN)?;
        let names_at = offsets_at + (m + 1).checked_mul(4)?;
        if names_at.checked_add(names_len)? != body.len() {
            return None;
        }
        let v = IdxView {
            bytes,
            n,
            m,
            offsets_at,
            names_at,
        };
        let covered = v.meta().len;
        let mut prev = 0u32;
        for i in 0..=m {
            let o = u32_at(bytes, offsets_at + 4 * i);
            if o < prev || o as usize > names_len || (i == 0 && o != 0) {
                return None;
            }
            prev = o;
        }
        if prev as usize != names_len {
            return None;
        }
        for i in 0..m {
            let name = v.name_bytes(i);
            if name.is_empty() || std::str::from_utf8(name).is_err() {
                return None;
            }
        }
        let mut last = Entry {
            seq: 0,
            offset: 0,
            id: 0,
        };
        for i in 0..n {
            let e = v.entry(i);
            if e.seq < base
                || e.offset >= covered
                || (i > 0 && (e.seq <= last.seq || e.offset <= last.offset || e.id <= last.id))
            {
                return None;
            }
            last = e;
        }
        Some(v)
    }

    /// Rebuilds a view of bytes that `parse` accepted before (no checks).
    pub(crate) fn trusted(bytes: &'a [u8]) -> IdxView<'a> {
        let n = u32_at(bytes, 80) as usize;
        let m = u32_at(bytes, 84) as usize;
        let offsets_at = HEADER_LEN + n * ENTRY_LEN;
        IdxView {
            bytes,
            n,
            m,
            offsets_at,
            names_at: offsets_at + (m + 1) * 4,
        }
    }

    pub(crate) fn meta(&self) -> SegMeta {
        let b = self.bytes;
        SegMeta {
            base: u64_at(b, 8),
            len: u64_at(b, 16),
            last_seq: u64_at(b, 24),
            first_ts: u64_at(b, 32),
            last_ts: u64_at(b, 40),
            first_id: u128_at(b, 48),
            last_id: u128_at(b, 64),
            sealed: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    pub(crate) fn entry(&self, i: usize) -> Entry {
        let at = HEADER_LEN + i * ENTRY_LEN;
        Entry {
            seq: u64_at(self.bytes, at),
            offset: u64_at(self.bytes, at + 8),
            id: u128_at(self.bytes, at + 16),
        }
    }

    pub(crate) fn stream_count(&self) -> usize {
        self.m
    }

    fn name_bytes(&self, i: usize) -> &'a [u8] {
        let a = u32_at(self.bytes, self.offsets_at + 4 * i) as usize;
        let b = u32_at(self.bytes, self.offsets_at + 4 * i + 4) as usize;
        &self.bytes[self.names_at + a..self.names_at + b]
    }

    /// The name of stream number `r` in this segment.
    pub(crate) fn name(&self, r: u32) -> Option<&'a str> {
        let i = r as usize;
        if i >= self.m {
            return None;
        }
        // Checked to be UTF-8 in `parse`.
        std::str::from_utf8(self.name_bytes(i)).ok()
    }

    /// Offset to start scanning from for sequence `seq` (the last entry at or before it).
    pub(crate) fn seek_seq(&self, seq: u64) -> Option<u64> {
        let i = partition(self.n, |i| self.entry(i).seq <= seq);
        (i > 0).then(|| self.entry(i - 1).offset)
    }

    /// Offset to start scanning from for id `id`. A point read's binary search over a mapped
    /// index misses the cache at most steps: each step also asks for both entries the next
    /// step may probe, so their misses overlap instead of queueing.
    pub(crate) fn seek_id(&self, id: u128) -> Option<u64> {
        let id_at = |i: usize| HEADER_LEN + i * ENTRY_LEN + 16;
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            prefetch(self.bytes, id_at(lo + (mid - lo) / 2));
            prefetch(self.bytes, id_at(mid + 1 + (hi - mid - 1) / 2));
            if u128_at(self.bytes, id_at(mid)) <= id {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo > 0).then(|| self.entry(lo - 1).offset)
    }
}

/// The number of leading indices in `0..n` for which `pred` holds (`pred` must be monotone).
pub(crate) fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips_and_any_flip_is_refused() {
        let meta = SegMeta {
            base: 10,
            last_seq: 30,
            len: 9000,
            first_id: 5,
            last_id: 50,
            ..SegMeta::default()
        };
        let entries = [
            Entry {
                seq: 10,
                offset: 16,
                id: 5,
            },
            Entry {
                seq: 20,
                offset: 4200,
                id: 20,
            },
        ];
        let b = encode(&meta, &entries, &["a", "bb"]);
        let v = IdxView::parse(&b, 10).unwrap();
        assert_eq!(v.meta(), meta);
        assert_eq!((v.len(), v.stream_count()), (2, 2));
        assert_eq!(
            (v.name(0), v.name(1), v.name(2)),
            (Some("a"), Some("bb"), None)
        );
        assert_eq!(v.seek_seq(9), None);
        assert_eq!(v.seek_seq(19), Some(16));
        assert_eq!(v.seek_seq(25), Some(4200));
        assert_eq!(v.seek_id(20), Some(4200));
        assert!(IdxView::parse(&b, 11).is_none());
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 1;
            assert!(IdxView::parse(&d, 10).is_none(), "flip at {i}");
        }
    }
}
