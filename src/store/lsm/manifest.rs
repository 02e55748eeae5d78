//! `index/MANIFEST`: the small file that says which runs are live, which sequence they cover
//! and the first retained sequence. It is the commit point of every flush, merge and retention
//! step: written whole to `MANIFEST.tmp`, fsynced, renamed over `MANIFEST`, directory fsynced.
//!
//! ## Format (version 1, little-endian)
//!
//! ```text
//! 0  magic "TRNIMAN1"   8  format u32 = 1   12 run count u32
//! 16 covered u64        24 first retained u64   32 next run id u64
//! 40 runs, 48 bytes each, oldest first per index:
//!    kind u8, level u8, 0 u16, run header CRC u32, id u64, record count u64,
//!    min sequence u64, max sequence u64, file length u64
//! then CRC-32C of everything before it, u32
//! ```
//!
//! Invariant: a run file is live exactly when the manifest names it; any other file in the
//! directory is garbage of an interrupted step and is deleted at open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::record::Kind;
use super::run::RunMeta;

pub(super) const MANIFEST: &str = "MANIFEST";
const TMP: &str = "MANIFEST.tmp";
const MAGIC: &[u8; 8] = b"TRNIMAN1";
const FORMAT: u32 = 1;
const HEAD: usize = 40;
const RUN: usize = 48;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Manifest {
    pub(super) covered: u64,
    pub(super) first_retained: u64,
    pub(super) next_run_id: u64,
    pub(super) runs: Vec<RunMeta>,
}

impl Manifest {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEAD + RUN * self.runs.len() + 4);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&FORMAT.to_le_bytes());
        b.extend_from_slice(&(self.runs.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.covered.to_le_bytes());
        b.extend_from_slice(&self.first_retained.to_le_bytes());
        b.extend_from_slice(&self.next_run_id.to_le_bytes());
        for r in &self.runs {
            b.extend_from_slice(&[r.kind as u8, r.level, 0, 0]);
            b.extend_from_slice(&r.header_crc.to_le_bytes());
            for v in [r.id, r.count, r.min_seq, r.max_seq, r.file_len] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    pub(super) fn decode(b: &[u8]) -> Result<Manifest, String> {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        if b.len() < HEAD + 4 || &b[..8] != MAGIC {
            return Err("not an index manifest".into());
        }
        if u32_at(8) != FORMAT {
            return Err(format!("index manifest format {} unknown", u32_at(8)));
        }
        let n = u32_at(12) as usize;
        if b.len() != HEAD + RUN * n + 4 {
            return Err("index manifest has the wrong length".into());
        }
        let body = b.len() - 4;
        if crc32c::crc32c(&b[..body]) != u32_at(body) {
            return Err("index manifest checksum mismatch".into());
        }
        let mut runs = Vec::with_capacity(n);
        for i in 0..n {
            let at = HEAD + RUN * i;
            let kind = Kind::from_u8(b[at]).ok_or("index manifest names an unknown index")?;
            runs.push(RunMeta {
                kind,
                level: b[at + 1],
                header_crc: u32_at(at + 4),
                id: u64_at(at + 8),
                count: u64_at(at + 16),
                min_seq: u64_at(at + 24),
                max_seq: u64_at(at + 32),
                file_len: u64_at(at + 40),
            });
        }
        Ok(Manifest {
            covered: u64_at(16),
            first_retained: u64_at(24),
            next_run_id: u64_at(32),
            runs,
        })
    }
}

/// Reads the manifest: `Ok(None)` when there is none, `Err(reason)` when it is unreadable or
/// damaged (the index must then be rebuilt).
pub(super) fn read(dir: &Path) -> Result<Option<Manifest>, String> {
    match fs::read(dir.join(MANIFEST)) {
        Ok(b) => Manifest::decode(&b).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("index manifest unreadable: {e}")),
    }
}

/// Replaces the manifest atomically and durably.
pub(super) fn write(dir: &Path, m: &Manifest) -> io::Result<()> {
    let tmp = dir.join(TMP);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(&m.encode())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(MANIFEST))?;
    sync_dir(dir)
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TestDir;

    fn sample() -> Manifest {
        Manifest {
            covered: 42,
            first_retained: 3,
            next_run_id: 9,
            runs: vec![RunMeta {
                kind: Kind::Streams,
                level: 1,
                id: 8,
                count: 40,
                min_seq: 3,
                max_seq: 42,
                file_len: 12_345,
                header_crc: 0xdead_beef,
            }],
        }
    }

    #[test]
    fn manifest_round_trips_and_any_flipped_bit_is_refused() {
        let d = TestDir::new("lsm-manifest");
        assert_eq!(read(d.path()), Ok(None));
        write(d.path(), &sample()).unwrap();
        assert_eq!(read(d.path()), Ok(Some(sample())));
        let good = sample().encode();
        for bit in 0..good.len() * 8 {
            let mut b = good.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(Manifest::decode(&b).is_err(), "bit {bit}");
        }
        assert!(Manifest::decode(&good[..good.len() - 1]).is_err());
    }
}
