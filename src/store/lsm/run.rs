//! One run file: an immutable, sorted array of fixed-size records with a bloom filter, written
//! once, fsynced, then memory-mapped read-only and binary-searched in place.
//!
//! ## Format (version 1; all integers little-endian unless inside a record)
//!
//! ```text
//! page 0 (4 KiB)     header, zero-padded:
//!   0  magic "TRNIRUN1"        8  format u32 = 1       12 kind u8   13 level u8
//!   14 record size u16         16 run id u64           24 record count u64
//!   32 min sequence u64        40 max sequence u64     48 bloom blocks u64
//!   56 record pages u64        64 fence pages u64      72 data pages u64
//!   80 file length u64         88 CRC-32C of the page-CRC table u32
//!   92 CRC-32C of bytes 0..92 u32
//! data pages         records (count × size, sorted, memcmp order), zero-padded to a page;
//!                    fences: the 16-byte prefix of every 128th record, zero-padded to a page;
//!                    the bloom filter (blocks × 64 B), zero-padded to a page
//! page-CRC table     one CRC-32C (u32) per data page
//! ```
//!
//! The fences (0.4–0.5% of the records' size) narrow a binary search to one or two blocks of
//! 128 records before it touches the records, so a lookup costs a few cache misses in a small,
//! hot array plus one or two record pages, instead of ~20 misses spread over the whole run.
//!
//! Why a CRC per 4 KiB page instead of one over the file: verifying a whole file is a read of
//! every byte, and open must cost O(runs), not O(index size). Open checks the header, the file
//! length and the page-CRC table (4 bytes per 4 KiB); each data page is checked the first time
//! a lookup or a merge touches it (one bit per page remembers it), so no record or filter byte
//! is ever used unverified.
//!
//! Invariant: a run file is never written after it was fsynced and opened; the map therefore
//! never changes under a reader.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;

use super::bloom::{self, BloomBuilder, BLOCK_BYTES};
use super::record::{cmp, prefix_of, sequence_of, Kind};
use std::cmp::Ordering::{Greater, Less};

pub(super) const PAGE: usize = 4096;
const MAGIC: &[u8; 8] = b"TRNIRUN1";
const FORMAT: u32 = 1;
const HEADER_CRC_AT: usize = 92;
/// Bytes of the header (the rest of page 0 is zero and unused).
pub(super) const HEADER_LEN: usize = 96;
/// Records per fence.
const FENCE_EVERY: usize = 128;

/// What a run is, as the manifest records it (and the run's header repeats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RunMeta {
    pub(super) kind: Kind,
    pub(super) level: u8,
    pub(super) id: u64,
    pub(super) count: u64,
    pub(super) min_seq: u64,
    pub(super) max_seq: u64,
    pub(super) file_len: u64,
    /// The CRC of the run's header: ties the manifest entry to this exact file.
    pub(super) header_crc: u32,
}

impl RunMeta {
    pub(super) fn file_name(&self) -> String {
        file_name(self.kind, self.id)
    }
}

pub(super) fn file_name(kind: Kind, id: u64) -> String {
    format!("{}-{id:020}.run", kind.name())
}

/// A page (or the header) of a run failed its checksum or was inconsistent: the index must be
/// rebuilt from the log.
#[derive(Debug, Clone)]
pub(super) struct Damaged(pub(super) String);

/// Why writing a run failed.
#[derive(Debug)]
pub(super) enum RunError {
    Io(io::Error),
    /// An input run (of a merge) was damaged.
    Damaged(Damaged),
}

impl From<io::Error> for RunError {
    fn from(e: io::Error) -> Self {
        RunError::Io(e)
    }
}

impl From<Damaged> for RunError {
    fn from(d: Damaged) -> Self {
        RunError::Damaged(d)
    }
}

/// Streams bytes into the data pages, keeping one CRC per page.
struct PagedWriter {
    w: BufWriter<File>,
    in_page: usize,
    crc: u32,
    table: Vec<u32>,
}

impl PagedWriter {
    fn write(&mut self, mut b: &[u8]) -> io::Result<()> {
        while !b.is_empty() {
            let n = (PAGE - self.in_page).min(b.len());
            self.crc = crc32c::crc32c_append(self.crc, &b[..n]);
            self.w.write_all(&b[..n])?;
            self.in_page += n;
            b = &b[n..];
            if self.in_page == PAGE {
                self.table.push(self.crc);
                self.crc = 0;
                self.in_page = 0;
            }
        }
        Ok(())
    }

    fn pad_to_page(&mut self) -> io::Result<()> {
        if self.in_page > 0 {
            self.write(&[0u8; PAGE][..PAGE - self.in_page])?;
        }
        Ok(())
    }
}

/// Writes the sorted records of `recs` (at most `upper` of them) as run `id` at `path`, fsyncs
/// it and returns its metadata; `None` (and no file) when `recs` yields nothing.
pub(super) fn write_run<const R: usize>(
    path: &Path,
    kind: Kind,
    level: u8,
    id: u64,
    upper: usize,
    recs: impl Iterator<Item = Result<[u8; R], RunError>>,
) -> Result<Option<RunMeta>, RunError> {
    debug_assert_eq!(kind.record_size(), R);
    let result = write_run_inner(path, kind, level, id, upper, recs);
    if !matches!(result, Ok(Some(_))) {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn write_run_inner<const R: usize>(
    path: &Path,
    kind: Kind,
    level: u8,
    id: u64,
    upper: usize,
    recs: impl Iterator<Item = Result<[u8; R], RunError>>,
) -> Result<Option<RunMeta>, RunError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    w.write_all(&[0u8; PAGE])?;
    let mut pw = PagedWriter {
        w,
        in_page: 0,
        crc: 0,
        table: Vec::new(),
    };
    let mut bloom = BloomBuilder::new(bloom::blocks_for(upper));
    let (mut count, mut min_seq, mut max_seq) = (0u64, u64::MAX, 0u64);
    let mut last: Option<[u8; R]> = None;
    // Whole pages at a time through the CRC and the writer, not one call per record.
    let mut chunk = Vec::with_capacity(16 * PAGE);
    let mut fences = Vec::with_capacity(upper.div_ceil(FENCE_EVERY) * 16);
    for rec in recs {
        let rec = rec?;
        let new_prefix = match &last {
            Some(prev) => {
                debug_assert!(cmp(prev, &rec) == Less, "run records must ascend strictly");
                prefix_of(prev) != prefix_of(&rec)
            }
            None => true,
        };
        if new_prefix {
            bloom.insert(bloom::prefix_hash(prefix_of(&rec)));
        }
        if count as usize % FENCE_EVERY == 0 {
            fences.extend_from_slice(&rec[..16]);
        }
        chunk.extend_from_slice(&rec);
        if chunk.len() >= 16 * PAGE {
            pw.write(&chunk)?;
            chunk.clear();
        }
        count += 1;
        let s = sequence_of(&rec);
        (min_seq, max_seq) = (min_seq.min(s), max_seq.max(s));
        last = Some(rec);
    }
    if count == 0 {
        return Ok(None);
    }
    pw.write(&chunk)?;
    assert!(count as usize <= upper, "more records than announced");
    pw.pad_to_page()?;
    let record_pages = pw.table.len() as u64;
    pw.write(&fences)?;
    pw.pad_to_page()?;
    let fence_pages = pw.table.len() as u64 - record_pages;
    pw.write(bloom.bytes())?;
    pw.pad_to_page()?;
    let data_pages = pw.table.len() as u64;
    let table: Vec<u8> = pw.table.iter().flat_map(|c| c.to_le_bytes()).collect();
    let mut w = pw.w;
    w.write_all(&table)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    let file_len = (PAGE as u64) + data_pages * PAGE as u64 + data_pages * 4;

    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT.to_le_bytes());
    h[12] = kind as u8;
    h[13] = level;
    h[14..16].copy_from_slice(&(R as u16).to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    h[24..32].copy_from_slice(&count.to_le_bytes());
    h[32..40].copy_from_slice(&min_seq.to_le_bytes());
    h[40..48].copy_from_slice(&max_seq.to_le_bytes());
    h[48..56].copy_from_slice(&(bloom.blocks() as u64).to_le_bytes());
    h[56..64].copy_from_slice(&record_pages.to_le_bytes());
    h[64..72].copy_from_slice(&fence_pages.to_le_bytes());
    h[72..80].copy_from_slice(&data_pages.to_le_bytes());
    h[80..88].copy_from_slice(&file_len.to_le_bytes());
    h[88..92].copy_from_slice(&crc32c::crc32c(&table).to_le_bytes());
    let header_crc = crc32c::crc32c(&h[..HEADER_CRC_AT]);
    h[92..96].copy_from_slice(&header_crc.to_le_bytes());
    file.write_all_at(&h, 0)?;
    file.sync_all()?;
    Ok(Some(RunMeta {
        kind,
        level,
        id,
        count,
        min_seq,
        max_seq,
        file_len,
        header_crc,
    }))
}

/// An open, memory-mapped run of `R`-byte records.
pub(super) struct Run<const R: usize> {
    pub(super) meta: RunMeta,
    map: Mmap,
    fence_at: usize,
    bloom_at: usize,
    bloom_blocks: usize,
    table_at: usize,
    data_pages: usize,
    /// One bit per data page: its CRC was checked.
    verified: Box<[AtomicU64]>,
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl<const R: usize> Run<R> {
    /// Maps the run at `path` and checks it is exactly the run `meta` describes: length,
    /// header (and its CRC), layout and the page-CRC table. Reads 4 bytes per data page, not
    /// the records. `Err`: why the run cannot be used.
    pub(super) fn open(path: &Path, meta: &RunMeta) -> Result<Run<R>, String> {
        let name = path.display();
        let file = File::open(path).map_err(|e| format!("{name}: {e}"))?;
        let len = file.metadata().map_err(|e| format!("{name}: {e}"))?.len();
        if len != meta.file_len {
            return Err(format!(
                "{name}: {len} bytes, the manifest says {}",
                meta.file_len
            ));
        }
        if len < PAGE as u64 || usize::try_from(len).is_err() {
            return Err(format!("{name}: impossible length {len}"));
        }
        // SAFETY: run files are immutable once written and fsynced (module invariant), and the
        // store's directory lock keeps other stores from writing the directory; the map is
        // read-only and the length was checked against the manifest just above. (An outside
        // process truncating the file while it is mapped is outside the contract, as for any
        // mapped file.)
        let map = unsafe { Mmap::map(&file) }.map_err(|e| format!("{name}: mmap: {e}"))?;
        let h = &map[..PAGE];
        let bad = |what: &str| Err(format!("{name}: {what}"));
        if &h[0..8] != MAGIC || le32(h, 8) != FORMAT {
            return bad("not a format-1 index run");
        }
        let header_crc = le32(h, HEADER_CRC_AT);
        if crc32c::crc32c(&h[..HEADER_CRC_AT]) != header_crc {
            return bad("header checksum mismatch");
        }
        if header_crc != meta.header_crc {
            return bad("not the run the manifest names (header CRC differs)");
        }
        let count = le64(h, 24);
        if Kind::from_u8(h[12]) != Some(meta.kind)
            || h[13] != meta.level
            || usize::from(u16::from_le_bytes([h[14], h[15]])) != R
            || le64(h, 16) != meta.id
            || count != meta.count
            || le64(h, 32) != meta.min_seq
            || le64(h, 40) != meta.max_seq
            || le64(h, 80) != len
        {
            return bad("header does not match the manifest");
        }
        let (bloom_blocks, record_pages) = (le64(h, 48), le64(h, 56));
        let (fence_pages, data_pages) = (le64(h, 64), le64(h, 72));
        let pages = |bytes: u64| bytes.div_ceil(PAGE as u64);
        let fits = count
            .checked_mul(R as u64)
            .is_some_and(|b| pages(b) == record_pages)
            && pages(count.div_ceil(FENCE_EVERY as u64) * 16) == fence_pages
            && bloom_blocks >= 1
            && bloom_blocks
                .checked_mul(BLOCK_BYTES as u64)
                .is_some_and(|b| record_pages + fence_pages + pages(b) == data_pages)
            && data_pages
                .checked_mul(PAGE as u64 + 4)
                .is_some_and(|b| b + PAGE as u64 == len);
        if !fits {
            return bad("inconsistent layout");
        }
        let (data_pages, record_pages) = (data_pages as usize, record_pages as usize);
        let table_at = PAGE + data_pages * PAGE;
        if crc32c::crc32c(&map[table_at..]) != le32(h, 88) {
            return bad("page checksum table damaged");
        }
        Ok(Run {
            meta: *meta,
            fence_at: PAGE + record_pages * PAGE,
            bloom_at: PAGE + (record_pages + fence_pages as usize) * PAGE,
            bloom_blocks: bloom_blocks as usize,
            table_at,
            data_pages,
            verified: (0..data_pages.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            map,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.meta.count as usize
    }

    /// Checks the CRC of data page `p` once.
    fn verify_page(&self, p: usize) -> Result<(), Damaged> {
        let word = &self.verified[p / 64];
        let bit = 1u64 << (p % 64);
        // Relaxed: the mapped bytes never change, so a racing reader at worst checks twice.
        if word.load(Ordering::Relaxed) & bit != 0 {
            return Ok(());
        }
        let start = PAGE * (p + 1);
        if crc32c::crc32c(&self.map[start..start + PAGE]) != le32(&self.map, self.table_at + 4 * p)
        {
            return Err(Damaged(format!(
                "index run {}: page {p} checksum mismatch",
                self.meta.file_name()
            )));
        }
        word.fetch_or(bit, Ordering::Relaxed);
        Ok(())
    }

    fn verified_bytes(&self, at: usize, len: usize) -> Result<&[u8], Damaged> {
        for p in (at / PAGE - 1)..=((at + len - 1) / PAGE - 1) {
            self.verify_page(p)?;
        }
        Ok(&self.map[at..at + len])
    }

    /// Record `i` (< len), checked.
    pub(super) fn rec(&self, i: usize) -> Result<&[u8; R], Damaged> {
        let b = self.verified_bytes(PAGE + i * R, R)?;
        Ok(b.try_into().expect("R bytes"))
    }

    /// Whether the run may hold records with the prefix whose filter hash is `hash`.
    pub(super) fn may_contain(&self, hash: u64) -> Result<bool, Damaged> {
        let at = self.bloom_at + bloom::block_of(hash, self.bloom_blocks) * BLOCK_BYTES;
        Ok(bloom::block_may_contain(
            self.verified_bytes(at, BLOCK_BYTES)?,
            hash,
        ))
    }

    /// The first index whose record is `>= probe`.
    pub(super) fn lower_bound(&self, probe: &[u8; R]) -> Result<usize, Damaged> {
        let (lo, hi) = self.window(prefix_of(probe))?;
        self.search(lo, hi, |r| cmp(r, probe) == Less)
    }

    /// The first index whose record is `> probe`.
    pub(super) fn upper_bound(&self, probe: &[u8; R]) -> Result<usize, Damaged> {
        let (lo, hi) = self.window(prefix_of(probe))?;
        self.search(lo, hi, |r| cmp(r, probe) != Greater)
    }

    /// Records `[lo, hi)` hold every record with this prefix, and every record before `lo`
    /// (after `hi`) has a smaller (larger) prefix: found from the fences alone.
    fn window(&self, prefix: u128) -> Result<(usize, usize), Damaged> {
        let fences = self.len().div_ceil(FENCE_EVERY);
        let fence = |j: usize| -> Result<u128, Damaged> {
            let b = self.verified_bytes(self.fence_at + 16 * j, 16)?;
            Ok(u128::from_be_bytes(b.try_into().expect("16 bytes")))
        };
        let (mut lo, mut hi) = (0, fences);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if fence(mid)? < prefix {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // Blocks before `lo - 1` end below the fence of `lo - 1`, which is `< prefix`.
        let first = lo.saturating_sub(1);
        let mut hi = fences;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if fence(mid)? <= prefix {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // Blocks from `lo` on start above `prefix`.
        Ok((first * FENCE_EVERY, (lo * FENCE_EVERY).min(self.len())))
    }

    /// The first index in `[lo, hi)` whose record does not satisfy `pred` (`hi` if all do).
    fn search(
        &self,
        mut lo: usize,
        mut hi: usize,
        pred: impl Fn(&[u8; R]) -> bool,
    ) -> Result<usize, Damaged> {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.rec(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Checks every data page (for `verify` tools; lookups check lazily).
    pub(super) fn verify_all(&self) -> Result<(), Damaged> {
        (0..self.data_pages).try_for_each(|p| self.verify_page(p))
    }

    pub(super) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.verified.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{seq_record, SEQ_REC};
    use super::*;
    use crate::store::test_dir::TestDir;

    fn write(dir: &Path, n: u64) -> (std::path::PathBuf, RunMeta) {
        let path = dir.join(file_name(Kind::Correlation, 7));
        let recs = (0..n).map(|i| Ok(seq_record(u128::from(i / 3), i + 1)));
        let meta = write_run::<SEQ_REC>(&path, Kind::Correlation, 0, 7, n as usize, recs)
            .unwrap()
            .unwrap();
        (path, meta)
    }

    #[test]
    fn written_run_reopens_and_searches() {
        let d = TestDir::new("lsm-run");
        let (path, meta) = write(d.path(), 1000);
        assert_eq!((meta.count, meta.min_seq, meta.max_seq), (1000, 1, 1000));
        let run = Run::<SEQ_REC>::open(&path, &meta).unwrap();
        for p in [0u128, 1, 100, 332, 333, 334, 1000] {
            let (lo, hi) = (seq_record(p, 0), seq_record(p, u64::MAX));
            let want_lo = (0..1000)
                .find(|&i| run.rec(i).unwrap() >= &lo)
                .unwrap_or(1000);
            let want_hi = (0..1000)
                .find(|&i| run.rec(i).unwrap() > &hi)
                .unwrap_or(1000);
            assert_eq!(run.lower_bound(&lo).unwrap(), want_lo, "prefix {p}");
            assert_eq!(run.upper_bound(&hi).unwrap(), want_hi, "prefix {p}");
        }
        assert!(run.may_contain(bloom::prefix_hash(100)).unwrap());
        run.verify_all().unwrap();
    }

    #[test]
    fn empty_input_writes_no_file() {
        let d = TestDir::new("lsm-run-empty");
        let path = d.path().join("x.run");
        let r = write_run::<SEQ_REC>(&path, Kind::Idempotency, 0, 1, 0, std::iter::empty());
        assert!(matches!(r, Ok(None)));
        assert!(!path.exists());
    }

    #[test]
    fn flipped_record_byte_is_caught_when_touched() {
        let d = TestDir::new("lsm-run-flip");
        let (path, meta) = write(d.path(), 1000);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[PAGE + 24 * 500 + 3] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let run = Run::<SEQ_REC>::open(&path, &meta).unwrap();
        assert!(run.rec(500).is_err());
        assert!(run.verify_all().is_err());
        assert!(run.rec(0).is_ok(), "other pages stay usable");
    }

    #[test]
    fn truncated_or_foreign_run_is_refused_at_open() {
        let d = TestDir::new("lsm-run-trunc");
        let (path, meta) = write(d.path(), 1000);
        let mut other = meta;
        other.header_crc ^= 1;
        assert!(Run::<SEQ_REC>::open(&path, &other).is_err());
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(meta.file_len - 1).unwrap();
        assert!(Run::<SEQ_REC>::open(&path, &meta).is_err());
    }
}
