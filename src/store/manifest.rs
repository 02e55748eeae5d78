//! `MANIFEST`: the small, checksummed record of what the log holds, atomically replaced at
//! every segment seal, index flush, retention and close.
//!
//! ```text
//! offset  size  field
//! 0       8     magic            b"TRNMAN02"
//! 8       8     first_retained   u64 LE: the lowest sequence not removed by retention (1 = none)
//! 16      8     durable_seq      u64 LE: highest sequence known fsynced when this was written
//! 24      4     flags            u32 LE: bit 0 CLEAN (written by close, nothing after it)
//! 28      4     count            u32 LE: number of segment records
//! 32      80×n  segments         base u64, last_seq u64, len u64, first_ts u64, last_ts u64,
//!                                flags u64 (bit 0 SEALED), first_id u128, last_id u128;
//!                                `len`/`last_seq` of the unsealed (last) segment are its
//!                                fsynced extent when the manifest was written
//! ..      4     crc32c           of every byte before it
//! ```
//!
//! Invariant: every length and sequence it states was on stable storage before it was written,
//! so a listed segment that is missing or shorter than its record is damage (`Corrupt`), and
//! only bytes beyond the last segment's recorded length can be a torn tail.

use std::path::Path;

use super::error::StoreError;
use super::frame::{u128_at, u32_at, u64_at};
use super::segment::write_atomic;

pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
const MAGIC: [u8; 8] = *b"TRNMAN02";
const RECORD_LEN: usize = 80;
const FLAG_CLEAN: u32 = 1;
const SEG_SEALED: u64 = 1;

/// What the manifest (and the log) knows about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SegMeta {
    pub base: u64,
    /// Last sequence in the segment (`base - 1` when it has no frame).
    pub last_seq: u64,
    /// Byte length (header included).
    pub len: u64,
    pub first_ts: u64,
    pub last_ts: u64,
    pub first_id: u128,
    pub last_id: u128,
    pub sealed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Manifest {
    pub first_retained: u64,
    pub durable_seq: u64,
    pub clean: bool,
    pub segments: Vec<SegMeta>,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(36 + RECORD_LEN * self.segments.len());
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&self.first_retained.to_le_bytes());
        b.extend_from_slice(&self.durable_seq.to_le_bytes());
        b.extend_from_slice(&(if self.clean { FLAG_CLEAN } else { 0 }).to_le_bytes());
        b.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for s in &self.segments {
            for v in [s.base, s.last_seq, s.len, s.first_ts, s.last_ts] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(&(if s.sealed { SEG_SEALED } else { 0 }).to_le_bytes());
            b.extend_from_slice(&s.first_id.to_le_bytes());
            b.extend_from_slice(&s.last_id.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// `None` when the bytes are not a valid manifest (damaged: rebuilt from the segments).
    pub(crate) fn decode(b: &[u8]) -> Option<Manifest> {
        if b.len() < 36 || b[..8] != MAGIC {
            return None;
        }
        let body = &b[..b.len() - 4];
        if crc32c::crc32c(body) != u32_at(b, b.len() - 4) {
            return None;
        }
        let count = u32_at(b, 28) as usize;
        if body.len() != 32 + count.checked_mul(RECORD_LEN)? {
            return None;
        }
        let segments = (0..count)
            .map(|i| {
                let r = &body[32 + i * RECORD_LEN..];
                SegMeta {
                    base: u64_at(r, 0),
                    last_seq: u64_at(r, 8),
                    len: u64_at(r, 16),
                    first_ts: u64_at(r, 24),
                    last_ts: u64_at(r, 32),
                    sealed: u64_at(r, 40) & SEG_SEALED != 0,
                    first_id: u128_at(r, 48),
                    last_id: u128_at(r, 64),
                }
            })
            .collect();
        Some(Manifest {
            first_retained: u64_at(b, 8),
            durable_seq: u64_at(b, 16),
            clean: u32_at(b, 24) & FLAG_CLEAN != 0,
            segments,
        })
    }

    /// Reads `dir/MANIFEST`: `Ok(None)` when it is missing, `Err(())`-like `Ok(Some(None))`
    /// when it exists but is damaged.
    pub(crate) fn read(dir: &Path) -> Result<Option<Option<Manifest>>, StoreError> {
        let path = dir.join(MANIFEST_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(Manifest::decode(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(format!("reading {}", path.display()), e)),
        }
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<(), StoreError> {
        write_atomic(dir, MANIFEST_FILE, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_any_flip_is_detected() {
        let m = Manifest {
            first_retained: 7,
            durable_seq: 99,
            clean: true,
            segments: vec![
                SegMeta {
                    base: 7,
                    last_seq: 50,
                    len: 4000,
                    first_ts: 1,
                    last_ts: 2,
                    first_id: 3,
                    last_id: 4,
                    sealed: true,
                },
                SegMeta {
                    base: 51,
                    last_seq: 99,
                    len: 300,
                    ..SegMeta::default()
                },
            ],
        };
        let b = m.encode();
        assert_eq!(Manifest::decode(&b), Some(m));
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 4;
            assert_eq!(Manifest::decode(&d), None, "flip at {i}");
        }
        assert_eq!(Manifest::decode(&b[..b.len() - 1]), None);
    }
}
