//! The on-disk log: sealed segments (memory-mapped, each with a memory-mapped sparse index),
//! the active segment (a file, a write buffer and its sparse index in memory), the MANIFEST,
//! and opening a directory (recovery).
//!
//! Files in a store directory:
//!
//! | file | kind | what |
//! |---|---|---|
//! | `LOCK` | data | the exclusive directory lock |
//! | `<20-digit base>.seg` | DATA | frames (see [`super::frame`], [`super::segment`]) |
//! | `MANIFEST` | data (its per-segment ids/timestamps are derived) | see [`super::manifest`] |
//! | `<base>.idx` | DERIVED | sparse index + stream table (see [`super::sparse`]) |
//! | `index/` | DERIVED | the secondary indexes (streams, correlation, keys) |
//!
//! Derived files are rebuilt from the segments when missing, stale or damaged, never reported
//! as `Corrupt`. A MANIFEST that is missing or fails its checksum is rebuilt from a full scan
//! of the segments (then a missing newest segment cannot be noticed: keep the MANIFEST).
//!
//! Torn tail: only bytes beyond the last segment's fsynced extent recorded in the MANIFEST
//! (the whole last segment when no MANIFEST is there) may be cut on open, and only if they look
//! like the end of an interrupted write: a frame cut short or followed by nothing but zeros, and
//! no valid frame with the next sequence after it. An unfinished batch at the very end is
//! removed whole (batches are all-or-nothing and were never acknowledged). Any other damage,
//! and any damage before the recorded extent, is `Corrupt` with the file and offset.
//!
//! Invariant: frames in the active segment's write buffer always form whole batches, and the
//! file holds exactly `file_len` bytes of whole batches before them; readers see both.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use memmap2::Mmap;

use super::batch::{forever, EventView, Keep, Pending};
use super::error::StoreError;
use super::event::{Event, EventId};
use super::frame::{self, FrameError, FrameFields, FrameRef, PREFIX_LEN};
use super::manifest::{Manifest, SegMeta};
use super::recovery::{RecoveryReport, Truncation};
use super::segment::{
    index_name, list_segments, segment_header, segment_name, sync_dir, write_atomic, write_derived,
    SyncCounter, SEGMENT_HEADER_LEN, SEGMENT_MAGIC_V1,
};
use super::sparse::{self, partition, Entry, IdxView};
use crate::sync::Mutex;

/// Readers of the active segment's file read this much at a time.
const READ_WINDOW: usize = 64 << 10;
/// A point lookup reads from a sparse index entry to the frame it wants: about one index
/// interval, so it reads (and zeroes) that much at a time rather than a scan's window.
const POINT_WINDOW: usize = 2 * sparse::INTERVAL as usize;

/// Passes a 128-bit key hash through (it is already a good hash).
#[derive(Default)]
pub(crate) struct PassThrough(u64);
impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}
pub(crate) type PassThroughMap<V> = HashMap<u128, V, BuildHasherDefault<PassThrough>>;

enum Bytes {
    Map(Mmap),
    Heap(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Heap(v) => v,
        }
    }
}

/// A sealed segment's memory map and its sparse index. Shared: a batch of views
/// ([`super::batch`]) keeps the maps it points into alive past retention (an unlinked file's
/// map stays valid until unmapped).
pub(crate) struct SegmentMap {
    seg: Mmap,
    idx: Bytes,
    /// The frames before this offset (from the header on, contiguous) had their CRC checked
    /// through this map: a sealed segment's bytes never change (the store's contract, see the
    /// SAFETY note where it is mapped), so batch reads decode them without checking again.
    verified: AtomicU64,
}

pub(crate) struct Sealed {
    pub(crate) meta: SegMeta,
    path: PathBuf,
    loaded: OnceLock<Arc<SegmentMap>>,
    load_lock: Mutex<()>,
}

impl Sealed {
    fn new(dir: &Path, meta: SegMeta) -> Sealed {
        Sealed {
            meta,
            path: dir.join(segment_name(meta.base)),
            loaded: OnceLock::new(),
            load_lock: Mutex::new(()),
        }
    }
}

/// The segment being appended to.
pub(crate) struct Active {
    /// Covers the buffered frames too.
    meta: SegMeta,
    path: PathBuf,
    file: Arc<File>,
    /// Bytes in the file (header included); `buf` follows them.
    file_len: u64,
    buf: Vec<u8>,
    /// Last sequence in the file (not in `buf`).
    written_seq: u64,
    /// Extent the log itself fsynced (at creation, open, index flush, roll): what the
    /// MANIFEST may record. Group-commit fsyncs go further without telling the log.
    synced_len: u64,
    synced_seq: u64,
    entries: Vec<Entry>,
    last_entry_off: Option<u64>,
    names: Vec<Box<str>>,
    name_map: PassThroughMap<u32>,
    /// The file length the segment's `.idx` on disk covers (0: none known). An index is a
    /// function of the bytes it covers, so one covering `file_len` need not be written again.
    idx_len: u64,
    /// A read-only map of the file (made on the first read, `None` if mapping failed), at
    /// least `segment_size` long so it covers the file as it grows; reads take only its first
    /// `file_len` bytes (see [`Active::mapped`]).
    map: OnceLock<Option<Mmap>>,
}

impl Active {
    fn new(dir: &Path, meta: SegMeta, file: File, file_len: u64, scan: Scan) -> Active {
        let mut name_map = PassThroughMap::default();
        for (i, n) in scan.names.iter().enumerate() {
            name_map
                .entry(super::secondary::key_hash(n.as_bytes()))
                .or_insert(i as u32);
        }
        Active {
            meta,
            path: dir.join(segment_name(meta.base)),
            file: Arc::new(file),
            file_len,
            buf: Vec::new(),
            written_seq: meta.last_seq,
            synced_len: SEGMENT_HEADER_LEN,
            synced_seq: meta.base - 1,
            entries: scan.entries,
            last_entry_off: scan.last_entry_off,
            names: scan.names,
            name_map,
            idx_len: scan.idx_len,
            map: OnceLock::new(),
        }
    }

    /// The file's first `file_len` bytes through the map, if the map covers them.
    fn mapped(&self, segment_size: u64) -> Option<&[u8]> {
        let map = self
            .map
            .get_or_init(|| {
                let len = segment_size.max(self.file_len);
                // SAFETY: the store owns its directory (the documented contract for every
                // segment map) and the log only ever appends to this file: bytes below
                // `file_len` are never rewritten while the file is the active segment. Only
                // those are read, through slices made under the store's lock, and appends
                // (which move `file_len`) take that lock exclusively, so no slice outlives
                // the length it was made for. Pages past the end of the file are mapped but
                // never touched.
                unsafe {
                    memmap2::MmapOptions::new()
                        .len(usize::try_from(len).ok()?)
                        .map(&*self.file)
                }
                .ok()
            })
            .as_ref()?;
        let n = usize::try_from(self.file_len).ok()?;
        // SAFETY: `n <= map.len()` (checked), and the first `n` bytes are file data (see above);
        // the slice is made from the pointer so no reference to the pages past the end of the
        // file is ever formed.
        (n <= map.len()).then(|| unsafe { std::slice::from_raw_parts(map.as_ptr(), n) })
    }

    fn has_frames(&self) -> bool {
        self.meta.last_seq >= self.meta.base
    }

    fn heap_bytes(&self) -> usize {
        self.buf.capacity()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.names.capacity() * std::mem::size_of::<Box<str>>()
            + self.names.iter().map(|n| n.len()).sum::<usize>()
            + self.name_map.capacity() * (16 + 4 + 8)
    }
}

/// What a scan of frames accumulated (a segment's sparse index being built).
#[derive(Default)]
struct Scan {
    entries: Vec<Entry>,
    last_entry_off: Option<u64>,
    names: Vec<Box<str>>,
    /// The bytes covered by the valid index file this scan started from (0: none).
    idx_len: u64,
}

pub(crate) struct DiskLog {
    dir: PathBuf,
    segment_size: u64,
    sealed: Vec<Sealed>,
    active: Active,
    first_retained: u64,
    /// The MANIFEST on disk, as last read or durably written by this log (`None`: unknown).
    /// A checkpoint that would write the same bytes again writes nothing: closing a store
    /// nothing was appended to costs no I/O.
    persisted: Option<Manifest>,
}

/// What opening a directory produced.
pub(crate) struct Opened {
    pub log: DiskLog,
    pub report: RecoveryReport,
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StoreError {
    StoreError::corrupt(path, offset, reason)
}

fn io(ctx: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let ctx = ctx.into();
    move |e| StoreError::io(ctx, e)
}

/// Reads `path` from `offset` to its end.
fn read_from(path: &Path, offset: u64) -> Result<Vec<u8>, StoreError> {
    let mut f = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(io(format!("reading {}", path.display())))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)
        .map_err(io(format!("reading {}", path.display())))?;
    Ok(v)
}

fn read_header(path: &Path) -> Result<Vec<u8>, StoreError> {
    let mut f = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut h = Vec::with_capacity(SEGMENT_HEADER_LEN as usize);
    (&mut f)
        .take(SEGMENT_HEADER_LEN)
        .read_to_end(&mut h)
        .map_err(io(format!("reading {}", path.display())))?;
    Ok(h)
}

fn check_header(path: &Path, header: &[u8], base: u64) -> Result<(), StoreError> {
    if header.len() >= 8 && header[..8] == SEGMENT_MAGIC_V1 {
        return Err(StoreError::Unsupported(format!(
            "{} is a segment of the v1 format (TRNSEG01, transom 0.2); this version reads and \
             writes format v2 only (pre-1.0 format break, see CHANGELOG): export the events \
             with the old version and append them to a new store",
            path.display()
        )));
    }
    if header != segment_header(base) {
        return Err(corrupt(path, 0, "bad segment header"));
    }
    Ok(())
}

/// Whether bytes from a frame that failed to decode (`rest`, to the end of the file) look like
/// the torn end of the last write rather than damage.
pub(crate) fn is_torn_tail(rest: &[u8], err: &FrameError, next_seq: u64) -> bool {
    let all_zero = |b: &[u8]| b.iter().all(|&x| x == 0);
    match err {
        FrameError::Incomplete => {
            // A frame cut short: torn, unless a complete frame with a later sequence follows
            // (then a damaged length field made a good frame look long).
            !(1..rest.len()).any(|at| {
                frame::claimed_sequence(&rest[at..])
                    .is_some_and(|s| s > next_seq && s < next_seq + 1024)
                    && frame::decode(&rest[at..]).is_ok()
            })
        }
        FrameError::BadLength(_) => all_zero(rest),
        FrameError::BadChecksum { .. } => {
            let len = frame::claimed_len(rest)
                .unwrap_or(rest.len())
                .min(rest.len());
            all_zero(&rest[len..])
        }
        FrameError::BadHeader(_) => false,
    }
}

/// Where a scan of frames stopped.
struct Stopped {
    /// Offset after the last whole batch.
    end: u64,
    /// The failure at `failed_at`, if the scan did not reach the end of the bytes.
    failure: Option<(u64, FrameError)>,
    /// The frames of an unfinished batch at the end were dropped from the scan.
    dropped_batch: bool,
}

/// Scans frames of the segment `meta.base` in `data` (which starts at file offset `data_off`),
/// checking sequences, ids and stream numbers, adding sparse entries and names to `scan` and
/// advancing `meta`. An unfinished batch at the end is rolled back. `frames` counts decoded
/// frames. Damage that cannot be a torn tail (bad sequence, id or stream number) is `Corrupt`.
fn scan_frames(
    path: &Path,
    data: &[u8],
    data_off: u64,
    meta: &mut SegMeta,
    scan: &mut Scan,
    frames: &mut u64,
) -> Result<Stopped, StoreError> {
    let mut off = 0usize;
    let mut batch: Option<(usize, SegMeta, usize, usize, Option<u64>)> = None;
    let mut failure = None;
    while off < data.len() {
        let f = match frame::decode(&data[off..]) {
            Ok(f) => f,
            Err(e) => {
                failure = Some((data_off + off as u64, e));
                break;
            }
        };
        let at = data_off + off as u64;
        *frames += 1;
        let want = meta.last_seq + 1;
        if f.sequence != want {
            return Err(corrupt(
                path,
                at,
                format!("frame has sequence {}, expected {want}", f.sequence),
            ));
        }
        if f.id.as_u128() <= meta.last_id {
            return Err(corrupt(path, at, "event id does not increase"));
        }
        match f.defines {
            Some(name) if f.stream_ref as usize == scan.names.len() => scan.names.push(name.into()),
            None if (f.stream_ref as usize) < scan.names.len() => {}
            _ => {
                return Err(corrupt(
                    path,
                    at,
                    "stream number not defined in this segment",
                ))
            }
        }
        if batch.is_none() {
            batch = Some((
                off,
                *meta,
                scan.entries.len(),
                scan.names.len() - usize::from(f.defines.is_some()),
                scan.last_entry_off,
            ));
        }
        if scan
            .last_entry_off
            .map_or(true, |l| at >= l + sparse::INTERVAL)
        {
            scan.entries.push(Entry {
                seq: f.sequence,
                offset: at,
                id: f.id.as_u128(),
            });
            scan.last_entry_off = Some(at);
        }
        if meta.first_id == 0 {
            meta.first_id = f.id.as_u128();
            meta.first_ts = f.timestamp_ns;
        }
        meta.last_seq = f.sequence;
        meta.last_id = f.id.as_u128();
        meta.last_ts = f.timestamp_ns;
        off += f.len;
        meta.len = data_off + off as u64;
        if !f.more_in_batch {
            batch = None;
        }
    }
    let mut dropped_batch = false;
    if let Some((start, before, n_entries, n_names, last_entry_off)) = batch {
        *meta = before;
        scan.entries.truncate(n_entries);
        scan.names.truncate(n_names);
        scan.last_entry_off = last_entry_off;
        meta.len = data_off + start as u64;
        dropped_batch = true;
    }
    Ok(Stopped {
        end: meta.len,
        failure,
        dropped_batch,
    })
}

fn empty_meta(base: u64, prev_last_id: u128) -> SegMeta {
    SegMeta {
        base,
        last_seq: base - 1,
        len: SEGMENT_HEADER_LEN,
        first_ts: 0,
        last_ts: 0,
        first_id: 0,
        last_id: prev_last_id,
        sealed: false,
    }
}

/// The meta as stored (no id before the segment's first frame).
fn stored_meta(m: &SegMeta) -> SegMeta {
    let mut m = *m;
    if m.first_id == 0 {
        m.last_id = 0;
    }
    m
}

/// Scans a whole sealed segment and returns its index bytes (also written to its `.idx`,
/// best effort: the index is derived, a failed write only costs a rebuild next time).
fn rebuild_index(
    dir: &Path,
    path: &Path,
    data: &[u8],
    meta: &SegMeta,
    frames: &mut u64,
) -> Result<Vec<u8>, StoreError> {
    let mut m = empty_meta(meta.base, 0);
    let mut scan = Scan::default();
    let hdr = data.get(..SEGMENT_HEADER_LEN as usize).unwrap_or(data);
    check_header(path, hdr, meta.base)?;
    let stop = scan_frames(
        path,
        &data[SEGMENT_HEADER_LEN as usize..],
        SEGMENT_HEADER_LEN,
        &mut m,
        &mut scan,
        frames,
    )?;
    if let Some((at, e)) = stop.failure {
        return Err(corrupt(path, at, e.to_string()));
    }
    if stop.dropped_batch {
        return Err(corrupt(
            path,
            stop.end,
            "batch continues past the end of its segment",
        ));
    }
    if m.last_seq != meta.last_seq || m.len != meta.len {
        return Err(corrupt(
            path,
            m.len,
            format!(
                "segment holds sequences up to {} in {} bytes, MANIFEST recorded {} in {}",
                m.last_seq, m.len, meta.last_seq, meta.len
            ),
        ));
    }
    let bytes = sparse::encode(&stored_meta(&m), &scan.entries, &scan.names);
    let _ = write_atomic(dir, &index_name(meta.base), &bytes);
    Ok(bytes)
}

/// One segment to recover frame by frame (the last listed segment and any after it).
struct TailSeg {
    base: u64,
    path: PathBuf,
    /// Bytes known fsynced: damage before this is never a torn tail.
    durable_len: u64,
    /// Whether its `.idx` may be used (not when the MANIFEST is being rebuilt: then every
    /// segment is scanned in full).
    use_index: bool,
}

impl DiskLog {
    /// Opens (recovers) the log in `dir`; the caller holds the directory lock.
    pub(crate) fn open(
        dir: &Path,
        segment_size: u64,
        counter: &SyncCounter,
    ) -> Result<Opened, StoreError> {
        let on_disk = list_segments(dir)?;
        for (base, path) in &on_disk {
            let h = read_header(path)?;
            if h.len() >= 8 && h[..8] == SEGMENT_MAGIC_V1 {
                check_header(path, &h, *base)?;
            }
        }
        let mut report = RecoveryReport {
            segments: on_disk.len(),
            ..RecoveryReport::default()
        };
        let manifest = match Manifest::read(dir)? {
            Some(Some(m)) if !m.segments.is_empty() => Some(m),
            Some(_) => {
                report.manifest_rebuilt = !on_disk.is_empty();
                None
            }
            None => {
                report.manifest_rebuilt = !on_disk.is_empty();
                None
            }
        };
        let mut sealed: Vec<Sealed> = Vec::new();
        let mut tail: Vec<TailSeg> = Vec::new();
        let first_retained;
        match &manifest {
            Some(m) => {
                first_retained = m.first_retained.max(1);
                let first_base = m.segments[0].base;
                let last_base = m.segments[m.segments.len() - 1].base;
                for (base, path) in &on_disk {
                    if *base < first_base {
                        // Left over from retention interrupted after the MANIFEST was written.
                        let _ = std::fs::remove_file(path);
                        let _ = std::fs::remove_file(dir.join(index_name(*base)));
                    } else if !m.segments.iter().any(|s| s.base == *base) {
                        if *base < last_base {
                            return Err(corrupt(path, 0, "segment is not listed in the MANIFEST"));
                        }
                        tail.push(TailSeg {
                            base: *base,
                            path: path.clone(),
                            durable_len: 0,
                            use_index: true,
                        });
                    }
                }
                let mut prev_last = first_retained.max(first_base) - 1;
                for (i, s) in m.segments.iter().enumerate() {
                    let path = dir.join(segment_name(s.base));
                    let len = match std::fs::metadata(&path) {
                        Ok(md) => md.len(),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            return Err(corrupt(
                                &path,
                                0,
                                format!(
                                    "segment listed in the MANIFEST (sequences {}..={}, {} bytes \
                                     fsynced) is missing",
                                    s.base, s.last_seq, s.len
                                ),
                            ))
                        }
                        Err(e) => {
                            return Err(StoreError::io(format!("stat {}", path.display()), e))
                        }
                    };
                    if len < s.len {
                        return Err(corrupt(
                            &path,
                            len,
                            format!(
                                "segment is {len} bytes, shorter than the {} bytes the MANIFEST \
                                 recorded as fsynced",
                                s.len
                            ),
                        ));
                    }
                    if s.base != prev_last + 1 {
                        return Err(corrupt(
                            &path,
                            0,
                            format!(
                                "segment starts at sequence {}, expected {}",
                                s.base,
                                prev_last + 1
                            ),
                        ));
                    }
                    let is_last = i + 1 == m.segments.len();
                    if is_last || !s.sealed {
                        if !is_last {
                            return Err(corrupt(
                                &path,
                                0,
                                "MANIFEST lists an unsealed segment before the last",
                            ));
                        }
                        tail.insert(
                            0,
                            TailSeg {
                                base: s.base,
                                path,
                                durable_len: s.len,
                                use_index: true,
                            },
                        );
                    } else {
                        if len > s.len {
                            return Err(corrupt(
                                &path,
                                s.len,
                                format!(
                                    "sealed segment is {len} bytes, the MANIFEST recorded {}",
                                    s.len
                                ),
                            ));
                        }
                        let h = read_header(&path)?;
                        check_header(&path, &h, s.base)?;
                        let mut meta = *s;
                        meta.sealed = true;
                        sealed.push(Sealed::new(dir, meta));
                    }
                    prev_last = s.last_seq;
                }
            }
            None => {
                first_retained = on_disk.first().map_or(1, |(b, _)| *b);
                for (base, path) in &on_disk {
                    tail.push(TailSeg {
                        base: *base,
                        path: path.clone(),
                        durable_len: 0,
                        use_index: false,
                    });
                }
            }
        }

        // Sealed segments whose index file is missing get it back now; damaged ones are
        // noticed (checksum) and rebuilt when first read.
        for s in &sealed {
            if !dir.join(index_name(s.meta.base)).exists() {
                let data =
                    std::fs::read(&s.path).map_err(io(format!("reading {}", s.path.display())))?;
                rebuild_index(dir, &s.path, &data, &s.meta, &mut report.frames_scanned)?;
                report.indexes_rebuilt += 1;
            }
        }

        let mut prev = sealed.last().map(|s| s.meta);
        let mut active = None;
        let mut active_durable = 0;
        let n_tail = tail.len();
        let mut changed = manifest.is_none();
        for (j, t) in tail.into_iter().enumerate() {
            let is_last = j + 1 == n_tail;
            let expect = prev.map_or(first_retained, |p| p.last_seq + 1);
            if t.base != expect {
                return Err(corrupt(
                    &t.path,
                    0,
                    format!("segment starts at sequence {}, expected {expect}", t.base),
                ));
            }
            if t.durable_len == 0 {
                changed = true; // a segment the MANIFEST does not list yet
            }
            let (meta, file, file_len, scan) =
                Self::recover_segment(dir, &t, prev, is_last, counter, &mut report)?;
            if is_last {
                active_durable = t.durable_len;
                active = Some(Active::new(dir, meta, file, file_len, scan));
            } else {
                let mut m = meta;
                m.sealed = true;
                let bytes = sparse::encode(&stored_meta(&m), &scan.entries, &scan.names);
                write_atomic(dir, &index_name(m.base), &bytes)?;
                sealed.push(Sealed::new(dir, m));
            }
            prev = Some(meta);
        }
        let active = match active {
            Some(a) => a,
            None => {
                changed = true;
                let base = prev.map_or(first_retained, |p| p.last_seq + 1);
                Self::create_segment(dir, base, prev.map_or(0, |p| p.last_id), counter)?
            }
        };
        if report.truncated.is_some() || report.indexes_rebuilt > 0 {
            changed = true;
        }
        let persisted = if changed { None } else { manifest };
        let mut log = DiskLog {
            dir: dir.to_path_buf(),
            segment_size,
            sealed,
            active,
            first_retained,
            persisted,
        };
        if changed || log.active.file_len > active_durable {
            counter.sync(&log.active.file, &log.active.path)?;
        }
        log.active.synced_len = log.active.file_len;
        log.active.synced_seq = log.active.written_seq;
        if changed {
            log.write_manifest(false)?;
        }
        Ok(Opened { log, report })
    }

    /// Recovers one tail segment: its index (if valid) plus a scan of the frames after it.
    fn recover_segment(
        dir: &Path,
        t: &TailSeg,
        prev: Option<SegMeta>,
        is_last: bool,
        counter: &SyncCounter,
        report: &mut RecoveryReport,
    ) -> Result<(SegMeta, File, u64, Scan), StoreError> {
        let path = &t.path;
        let prev_id = prev.map_or(0, |p| p.last_id);
        let header = segment_header(t.base);
        let file_len = std::fs::metadata(path)
            .map_err(io(format!("stat {}", path.display())))?
            .len();
        let open_rw = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io(format!("opening {}", path.display())))
        };
        if file_len < SEGMENT_HEADER_LEN {
            let h = read_header(path)?;
            // Only a crash while creating the last segment leaves a short header.
            if !is_last || !header.starts_with(&h) || t.durable_len > file_len {
                return Err(corrupt(path, 0, "short segment header"));
            }
            let mut f = open_rw()?;
            f.set_len(0)
                .and_then(|()| f.write_all(&header))
                .map_err(io(format!("writing {}", path.display())))?;
            counter.sync(&f, path)?;
            report.truncated = Some(Truncation {
                file: path.clone(),
                offset: 0,
                removed: file_len,
            });
            return Ok((
                empty_meta(t.base, prev_id),
                f,
                SEGMENT_HEADER_LEN,
                Scan::default(),
            ));
        }
        check_header(path, &read_header(path)?, t.base)?;

        // Start from the index file when it is valid and covers no more than the file holds.
        let mut meta = empty_meta(t.base, prev_id);
        let mut scan = Scan::default();
        let idx_file = if t.use_index {
            std::fs::read(dir.join(index_name(t.base)))
        } else {
            Err(std::io::ErrorKind::NotFound.into())
        };
        if let Ok(bytes) = idx_file {
            match IdxView::parse(&bytes, t.base) {
                Some(v) if v.meta().len <= file_len && v.meta().len >= SEGMENT_HEADER_LEN => {
                    let m = v.meta();
                    meta.len = m.len;
                    if m.first_id != 0 {
                        meta = SegMeta { sealed: false, ..m };
                    }
                    scan.entries = (0..v.len()).map(|i| v.entry(i)).collect();
                    scan.last_entry_off = scan.entries.last().map(|e| e.offset);
                    scan.names = (0..v.stream_count() as u32)
                        .map(|r| v.name(r).unwrap_or_default().into())
                        .collect();
                    scan.idx_len = m.len;
                }
                _ => report.indexes_rebuilt += 1,
            }
        } else if t.durable_len > SEGMENT_HEADER_LEN {
            report.indexes_rebuilt += 1;
        }
        let start = meta.len;
        let data = read_from(path, start)?;
        let stop = scan_frames(
            path,
            &data,
            start,
            &mut meta,
            &mut scan,
            &mut report.frames_scanned,
        )?;
        let mut cut = None;
        if let Some((at, err)) = &stop.failure {
            let rest = &data[(at - start) as usize..];
            if !is_last || *at < t.durable_len || !is_torn_tail(rest, err, meta.last_seq + 1) {
                return Err(corrupt(path, *at, err.to_string()));
            }
            cut = Some(stop.end);
        }
        if stop.dropped_batch {
            if !is_last || stop.end < t.durable_len {
                return Err(corrupt(
                    path,
                    stop.end,
                    "batch continues past the end of its segment",
                ));
            }
            cut = Some(stop.end);
        }
        if stop.end < t.durable_len {
            return Err(corrupt(
                path,
                stop.end,
                "frames end before the MANIFEST's fsynced length",
            ));
        }
        let file = open_rw()?;
        if let Some(at) = cut {
            file.set_len(at)
                .map_err(io(format!("truncating {}", path.display())))?;
            counter.sync(&file, path)?;
            report.truncated = Some(Truncation {
                file: path.clone(),
                offset: at,
                removed: file_len - at,
            });
        }
        Ok((meta, file, meta.len, scan))
    }

    /// Creates `<dir>/<base>.seg` with its header, fsyncs it and the directory.
    fn create_segment(
        dir: &Path,
        base: u64,
        prev_id: u128,
        counter: &SyncCounter,
    ) -> Result<Active, StoreError> {
        let path = dir.join(segment_name(base));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(format!("creating {}", path.display())))?;
        file.write_all(&segment_header(base))
            .map_err(io(format!("writing {}", path.display())))?;
        counter.sync(&file, &path)?;
        sync_dir(dir)?;
        Ok(Active::new(
            dir,
            empty_meta(base, prev_id),
            file,
            SEGMENT_HEADER_LEN,
            Scan::default(),
        ))
    }

    fn manifest(&self, clean: bool) -> Manifest {
        let mut segments: Vec<SegMeta> = self.sealed.iter().map(|s| s.meta).collect();
        let mut a = stored_meta(&self.active.meta);
        a.len = self.active.synced_len;
        a.last_seq = self.active.synced_seq;
        segments.push(a);
        Manifest {
            first_retained: self.first_retained,
            durable_seq: self.active.synced_seq,
            clean,
            segments,
        }
    }

    /// Writes the MANIFEST; it records the active segment's extent the log fsynced.
    fn write_manifest(&mut self, clean: bool) -> Result<(), StoreError> {
        let m = self.manifest(clean);
        if self.persisted.as_ref() == Some(&m) {
            return Ok(());
        }
        self.persisted = None;
        m.write(&self.dir)?;
        self.persisted = Some(m);
        Ok(())
    }

    /// Writes the active segment's index file if the one on disk does not cover `file_len`.
    /// Not fsynced: it is derived and checksummed (a torn or lost one is rebuilt), and it only
    /// covers bytes that were fsynced before it was written.
    fn write_active_index(&mut self) -> Result<(), StoreError> {
        let a = &self.active;
        if a.idx_len == a.file_len {
            return Ok(());
        }
        let len = a.file_len;
        write_derived(
            &self.dir,
            &index_name(a.meta.base),
            &self.active_index_bytes(),
        )?;
        self.active.idx_len = len;
        Ok(())
    }

    // ---- writing -------------------------------------------------------------------------

    /// The number of the stream in the active segment, and whether this frame must define it.
    fn stream_ref(&mut self, stream: &str, hash: u128) -> (u32, bool) {
        let a = &mut self.active;
        if let Some(&r) = a.name_map.get(&hash) {
            if &*a.names[r as usize] == stream {
                return (r, false);
            }
        }
        // A 128-bit hash collision (or a name the map could not take): search the table.
        if let Some(r) = a.names.iter().position(|n| &**n == stream) {
            return (r as u32, false);
        }
        let r = a.names.len() as u32;
        a.names.push(stream.into());
        a.name_map.entry(hash).or_insert(r);
        (r, true)
    }

    /// Encodes one frame into the write buffer. `fields.stream_ref`/`defines` are filled here.
    pub(crate) fn push_frame<'a>(
        &mut self,
        stream: &'a str,
        hash: u128,
        mut fields: FrameFields<'a>,
    ) {
        let (r, defines) = self.stream_ref(stream, hash);
        fields.stream_ref = r;
        fields.defines = defines.then_some(stream);
        let a = &mut self.active;
        let at = a.file_len + a.buf.len() as u64;
        if a.last_entry_off
            .map_or(true, |l| at >= l + sparse::INTERVAL)
        {
            a.entries.push(Entry {
                seq: fields.sequence,
                offset: at,
                id: fields.id,
            });
            a.last_entry_off = Some(at);
        }
        frame::encode(&fields, &mut a.buf);
        let m = &mut a.meta;
        if m.first_id == 0 {
            m.first_id = fields.id;
            m.first_ts = fields.timestamp_ns;
        }
        m.last_seq = fields.sequence;
        m.last_id = fields.id;
        m.last_ts = fields.timestamp_ns;
        m.len = a.file_len + a.buf.len() as u64;
    }

    /// Reserves room for a batch of about `bytes` in the write buffer.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.active.buf.reserve(bytes);
    }

    pub(crate) fn buffered(&self) -> usize {
        self.active.buf.len()
    }

    /// Writes the buffer to the file with one `write(2)` (or a few, for a short write).
    pub(crate) fn write_out(&mut self) -> Result<(), StoreError> {
        let a = &mut self.active;
        if a.buf.is_empty() {
            return Ok(());
        }
        a.file
            .write_all_at(&a.buf, a.file_len)
            .map_err(|e| StoreError::io(format!("writing {}", a.path.display()), e))?;
        if a.buf.len() >= WRITEBACK_MIN {
            start_writeback(&a.file, a.file_len, a.buf.len());
        }
        a.file_len += a.buf.len() as u64;
        a.written_seq = a.meta.last_seq;
        a.buf.clear();
        if a.buf.capacity() > 4 * READ_WINDOW.max(super::store::WRITE_BUFFER) {
            a.buf.shrink_to(super::store::WRITE_BUFFER * 2);
        }
        Ok(())
    }

    /// Drops unwritten frames (a simulated process crash).
    #[cfg(test)]
    pub(crate) fn discard_buffer(&mut self) {
        self.active.buf.clear();
    }

    pub(crate) fn written_seq(&self) -> u64 {
        self.active.written_seq
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.active.meta.last_seq
    }

    pub(crate) fn active_file(&self) -> (&Arc<File>, &Path) {
        (&self.active.file, &self.active.path)
    }

    /// Whether a batch of about `bytes` must go to a new segment.
    pub(crate) fn needs_roll(&self, bytes: usize) -> bool {
        self.active.has_frames() && self.active.meta.len + bytes as u64 > self.segment_size
    }

    fn active_index_bytes(&self) -> Vec<u8> {
        let mut m = stored_meta(&self.active.meta);
        m.len = self.active.file_len;
        m.last_seq = self.active.written_seq;
        sparse::encode(&m, &self.active.entries, &self.active.names)
    }

    /// Seals the active segment and starts a new one: the buffer is written, the segment
    /// fsynced and its index written before the new segment exists; then the MANIFEST.
    pub(crate) fn roll(&mut self, counter: &SyncCounter) -> Result<(), StoreError> {
        self.write_out()?;
        counter.sync(&self.active.file, &self.active.path)?;
        self.write_active_index()?;
        let next = Self::create_segment(
            &self.dir,
            self.active.meta.last_seq + 1,
            self.active.meta.last_id,
            counter,
        )?;
        let old = std::mem::replace(&mut self.active, next);
        let mut meta = stored_meta(&old.meta);
        meta.sealed = true;
        self.sealed.push(Sealed::new(&self.dir, meta));
        self.write_manifest(false)
    }

    /// Makes everything written durable and records it: buffer written, segment fsynced,
    /// active index and MANIFEST written (at index flushes and at close). Each step is skipped
    /// when it has nothing new to persist (no bytes past the fsynced extent, an index file
    /// that already covers the segment, a MANIFEST on disk with the same content).
    pub(crate) fn checkpoint(
        &mut self,
        counter: &SyncCounter,
        clean: bool,
    ) -> Result<(), StoreError> {
        self.write_out()?;
        if self.active.file_len > self.active.synced_len {
            counter.sync(&self.active.file, &self.active.path)?;
            self.active.synced_len = self.active.file_len;
            self.active.synced_seq = self.active.written_seq;
        }
        self.write_active_index()?;
        self.write_manifest(clean)
    }

    /// The number of oldest sealed segments retention by bytes and age would remove.
    pub(crate) fn retention_count(&self, max_bytes: u64, min_ts: u64) -> usize {
        let mut total: u64 =
            self.sealed.iter().map(|s| s.meta.len).sum::<u64>() + self.active.meta.len;
        let mut k = 0;
        for s in &self.sealed {
            let by_bytes = max_bytes > 0 && total > max_bytes;
            let by_age = min_ts > 0 && s.meta.last_ts < min_ts;
            if !by_bytes && !by_age {
                break;
            }
            total -= s.meta.len;
            k += 1;
        }
        k
    }

    /// The last sequence the `k` oldest sealed segments hold.
    pub(crate) fn last_seq_of_first(&self, k: usize) -> u64 {
        if k == 0 {
            self.first_retained - 1
        } else {
            self.sealed[k - 1].meta.last_seq
        }
    }

    pub(crate) fn remove_first(&mut self, k: usize) -> Result<u64, StoreError> {
        if k == 0 {
            return Ok(self.first_retained);
        }
        let removed: Vec<Sealed> = self.sealed.drain(..k).collect();
        self.first_retained = self
            .sealed
            .first()
            .map_or(self.active.meta.base, |s| s.meta.base);
        self.write_manifest(false)?;
        for s in &removed {
            let _ = std::fs::remove_file(&s.path);
            let _ = std::fs::remove_file(self.dir.join(index_name(s.meta.base)));
        }
        sync_dir(&self.dir)?;
        Ok(self.first_retained)
    }

    pub(crate) fn first_retained(&self) -> u64 {
        self.first_retained
    }

    // ---- reading -------------------------------------------------------------------------

    fn load<'a>(&self, s: &'a Sealed) -> Result<(&'a [u8], IdxView<'a>), StoreError> {
        let l = self.load_map(s)?;
        Ok((&l.seg, IdxView::trusted(&l.idx)))
    }

    /// The segment's map and index, mapped (and the index checked or rebuilt) on first use.
    fn load_map<'a>(&self, s: &'a Sealed) -> Result<&'a Arc<SegmentMap>, StoreError> {
        if let Some(l) = s.loaded.get() {
            return Ok(l);
        }
        let _g = s.load_lock.lock();
        if s.loaded.get().is_none() {
            let file = File::open(&s.path).map_err(io(format!("opening {}", s.path.display())))?;
            let len = file
                .metadata()
                .map_err(io(format!("stat {}", s.path.display())))?
                .len();
            if len != s.meta.len {
                return Err(corrupt(
                    &s.path,
                    len.min(s.meta.len),
                    format!(
                        "sealed segment is {len} bytes, the MANIFEST recorded {}",
                        s.meta.len
                    ),
                ));
            }
            // SAFETY: the store holds the directory lock and never writes to a sealed segment;
            // retention unlinks it (a map of an unlinked file stays valid: batches of views may
            // keep it past retention, see `SegmentMap`); the map is only invalid if another
            // program truncates the file, which the store's contract (an exclusively locked
            // directory) rules out.
            let seg =
                unsafe { Mmap::map(&file) }.map_err(io(format!("mapping {}", s.path.display())))?;
            let idx_path = self.dir.join(index_name(s.meta.base));
            let mapped = File::open(&idx_path).ok().and_then(|f| {
                // SAFETY: as above; the index file is only ever replaced by rename, never
                // written in place, so this map keeps seeing the file it opened.
                unsafe { Mmap::map(&f) }.ok()
            });
            let valid = |b: &[u8]| {
                IdxView::parse(b, s.meta.base).is_some_and(|v| {
                    let m = v.meta();
                    m.len == s.meta.len && m.last_seq == s.meta.last_seq
                })
            };
            let idx = match mapped {
                Some(m) if valid(&m) => Bytes::Map(m),
                _ => {
                    let mut frames = 0;
                    Bytes::Heap(rebuild_index(
                        &self.dir,
                        &s.path,
                        &seg,
                        &s.meta,
                        &mut frames,
                    )?)
                }
            };
            let _ = s.loaded.set(Arc::new(SegmentMap {
                seg,
                idx,
                verified: AtomicU64::new(SEGMENT_HEADER_LEN),
            }));
        }
        Ok(s.loaded.get().expect("loaded above"))
    }

    /// Index into `sealed` of the segment holding `seq`, or `sealed.len()` for the active one.
    fn segment_of(&self, seq: u64) -> usize {
        partition(self.sealed.len(), |i| self.sealed[i].meta.last_seq < seq)
    }

    /// Calls `f` on each frame of segment `i` (`sealed.len()` = active) from byte `start`,
    /// until it returns `false` (then this returns `false`) or the segment ends.
    fn visit_segment(
        &self,
        i: usize,
        start: Option<u64>,
        f: &mut dyn FnMut(&FrameRef<'_>, &str) -> bool,
    ) -> Result<bool, StoreError> {
        self.visit_segment_with(i, start, READ_WINDOW, f)
    }

    /// [`Self::visit_segment`] reading the active segment's file `window` bytes at a time
    /// (at least a whole frame).
    fn visit_segment_with(
        &self,
        i: usize,
        start: Option<u64>,
        window: usize,
        f: &mut dyn FnMut(&FrameRef<'_>, &str) -> bool,
    ) -> Result<bool, StoreError> {
        let mut off = start.unwrap_or(SEGMENT_HEADER_LEN);
        if let Some(s) = self.sealed.get(i) {
            let (seg, idx) = self.load(s)?;
            while off < s.meta.len {
                let fr = frame::decode(&seg[off as usize..s.meta.len as usize])
                    .map_err(|e| corrupt(&s.path, off, e.to_string()))?;
                let name = idx.name(fr.stream_ref).ok_or_else(|| {
                    corrupt(&s.path, off, "stream number not in the segment's table")
                })?;
                if !f(&fr, name) {
                    return Ok(false);
                }
                off += fr.len as u64;
            }
            return Ok(true);
        }
        let a = &self.active;
        let end = a.file_len + a.buf.len() as u64;
        let mut win: Vec<u8> = Vec::new();
        let mut win_off = 0u64;
        let mapped = if off < a.file_len {
            a.mapped(self.segment_size)
        } else {
            None
        };
        while off < end {
            let bytes: &[u8] = if off >= a.file_len {
                &a.buf[(off - a.file_len) as usize..]
            } else if let Some(m) = mapped {
                // The file holds whole batches: a frame never continues into `buf`.
                &m[off as usize..]
            } else {
                let have = |win: &Vec<u8>, win_off: u64, need: u64| {
                    off >= win_off && off + need <= win_off + win.len() as u64
                };
                if !have(&win, win_off, PREFIX_LEN as u64) {
                    Self::fill(a, &mut win, &mut win_off, off, PREFIX_LEN, window)?;
                }
                let need = frame::claimed_len(&win[(off - win_off) as usize..])
                    .unwrap_or(PREFIX_LEN) as u64;
                if !have(&win, win_off, need) {
                    Self::fill(a, &mut win, &mut win_off, off, need as usize, window)?;
                }
                &win[(off - win_off) as usize..]
            };
            let fr = frame::decode(bytes).map_err(|e| corrupt(&a.path, off, e.to_string()))?;
            let name = a
                .names
                .get(fr.stream_ref as usize)
                .ok_or_else(|| corrupt(&a.path, off, "stream number not in the segment's table"))?;
            if !f(&fr, name) {
                return Ok(false);
            }
            off += fr.len as u64;
        }
        Ok(true)
    }

    fn fill(
        a: &Active,
        win: &mut Vec<u8>,
        win_off: &mut u64,
        off: u64,
        need: usize,
        window: usize,
    ) -> Result<(), StoreError> {
        let n = (need.max(window) as u64).min(a.file_len - off) as usize;
        win.resize(n, 0);
        a.file
            .read_exact_at(win, off)
            .map_err(|e| StoreError::io(format!("reading {}", a.path.display()), e))?;
        *win_off = off;
        Ok(())
    }

    /// Calls `f` on every frame with a sequence in `from..=to`, in order, until it returns
    /// `false`. Sequences below the first retained one are skipped (callers check first).
    pub(crate) fn visit(
        &self,
        from: u64,
        to: u64,
        f: &mut dyn FnMut(&FrameRef<'_>, &str) -> bool,
    ) -> Result<(), StoreError> {
        let from = from.max(self.first_retained);
        if from > to || from > self.active.meta.last_seq {
            return Ok(());
        }
        let mut i = self.segment_of(from);
        let mut start = self.seek_seq(i, from)?;
        loop {
            let go_on = self.visit_segment(i, start, &mut |fr, name| {
                if fr.sequence < from {
                    return true;
                }
                fr.sequence <= to && f(fr, name)
            })?;
            if !go_on || i == self.sealed.len() {
                return Ok(());
            }
            if self.sealed[i].meta.last_seq >= to {
                return Ok(());
            }
            i += 1;
            start = None;
        }
    }

    /// Hands every event with a sequence in `from..=to` to `sink` as a view, in order, until
    /// `sink` returns `false`. Sealed segments: views into their memory maps (which `keep`
    /// holds), nothing copied. The active segment: payloads, keys and stream names are copied
    /// once into a fresh chunk of `keep`. Sequences below the first retained one are skipped
    /// (callers check first).
    pub(crate) fn views(
        &self,
        from: u64,
        to: u64,
        keep: &mut Keep,
        sink: &mut impl FnMut(EventView<'static>) -> bool,
    ) -> Result<(), StoreError> {
        let from = from.max(self.first_retained);
        if from > to || from > self.active.meta.last_seq {
            return Ok(());
        }
        let mut i = self.segment_of(from);
        let mut start = self.seek_seq(i, from)?;
        while let Some(s) = self.sealed.get(i) {
            let map = self.load_map(s)?;
            keep.map(map);
            // SAFETY: `keep` holds the map (an Arc: it does not move) until the views are
            // cleared, and a sealed segment's bytes never change.
            let (seg, idx) =
                unsafe { (forever(&map.seg[..s.meta.len as usize]), forever(&*map.idx)) };
            let idx = IdxView::trusted(idx);
            let mut off = start.unwrap_or(SEGMENT_HEADER_LEN) as usize;
            // Frames below `edge` were checked before; a scan from the edge moves it on.
            let mut edge = map.verified.load(Ordering::Acquire) as usize;
            let (mut last_ref, mut name) = (u32::MAX, "");
            let mut go_on = true;
            let mut failed = None;
            while off < seg.len() {
                prefetch(seg, off + PREFETCH_AHEAD);
                let decoded = if off < edge {
                    frame::decode_verified(&seg[off..])
                } else {
                    frame::decode(&seg[off..])
                };
                let fr = match decoded {
                    Ok(fr) => fr,
                    Err(e) => {
                        failed = Some(corrupt(&s.path, off as u64, e.to_string()));
                        break;
                    }
                };
                let at = off;
                off += fr.len;
                if at == edge {
                    edge = off;
                }
                if fr.sequence < from {
                    continue;
                }
                if fr.sequence > to {
                    go_on = false;
                    break;
                }
                if fr.stream_ref != last_ref {
                    match idx.name(fr.stream_ref) {
                        Some(n) => name = n,
                        None => {
                            failed = Some(corrupt(
                                &s.path,
                                at as u64,
                                "stream number not in the segment's table",
                            ));
                            break;
                        }
                    }
                    last_ref = fr.stream_ref;
                }
                if !sink(view(&fr, name, fr.payload, fr.key)) {
                    go_on = false;
                    break;
                }
            }
            map.verified.fetch_max(edge as u64, Ordering::AcqRel);
            if let Some(e) = failed {
                return Err(e);
            }
            if !go_on {
                return Ok(());
            }
            if s.meta.last_seq >= to {
                return Ok(());
            }
            i += 1;
            start = None;
        }
        let mut pending = std::mem::take(&mut keep.pending);
        pending.clear();
        let chunk = keep.chunk();
        self.visit_segment(i, start, &mut |fr, name| {
            if fr.sequence < from {
                return true;
            }
            if fr.sequence > to {
                return false;
            }
            let mut put = |b: &[u8]| {
                let at = chunk.len();
                chunk.extend_from_slice(b);
                (at, b.len())
            };
            pending.push(Pending {
                view: view(fr, "", &[], None),
                stream: put(name.as_bytes()),
                payload: put(fr.payload),
                key: fr.key.map(&mut put),
            });
            true
        })?;
        // SAFETY: the chunk is not written again until `keep` is cleared (the next fill takes
        // a fresh one), and moving chunks within `keep` does not move their buffers.
        let bytes = unsafe { forever(keep.last_chunk()) };
        for p in pending.drain(..) {
            let mut v = p.view;
            let (a, n) = p.stream;
            // SAFETY: copied from a `&str` just above.
            v.stream = unsafe { std::str::from_utf8_unchecked(&bytes[a..a + n]) };
            v.payload = &bytes[p.payload.0..p.payload.0 + p.payload.1];
            v.idempotency_key = p.key.map(|(a, n)| &bytes[a..a + n]);
            if !sink(v) {
                break;
            }
        }
        keep.pending = pending;
        Ok(())
    }

    fn seek_seq(&self, i: usize, seq: u64) -> Result<Option<u64>, StoreError> {
        match self.sealed.get(i) {
            Some(s) => Ok(self.load(s)?.1.seek_seq(seq)),
            None => {
                let e = &self.active.entries;
                let k = partition(e.len(), |j| e[j].seq <= seq);
                Ok((k > 0).then(|| e[k - 1].offset))
            }
        }
    }

    /// The event with sequence `seq`, if the log holds it.
    pub(crate) fn event_at(&self, seq: u64) -> Result<Option<Event>, StoreError> {
        let mut out = None;
        self.visit(seq, seq, &mut |fr, name| {
            out = Some(to_event(fr, name));
            false
        })?;
        Ok(out)
    }

    /// Whether the event at `seq` belongs to `stream` (no allocation).
    pub(crate) fn stream_is(&self, seq: u64, stream: &str) -> Result<bool, StoreError> {
        let mut out = false;
        self.visit(seq, seq, &mut |_, name| {
            out = name == stream;
            false
        })?;
        Ok(out)
    }

    /// The event with this id, if the log holds it. `Truncated` for an id below the first
    /// retained event's once retention removed something.
    pub(crate) fn find_id(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        let id = id.as_u128();
        let first_id = self
            .sealed
            .first()
            .map_or(self.active.meta.first_id, |s| s.meta.first_id);
        if self.first_retained > 1 && (first_id == 0 || id < first_id) {
            return Err(StoreError::Truncated {
                first_retained: self.first_retained,
            });
        }
        let i = partition(self.sealed.len(), |i| self.sealed[i].meta.last_id < id);
        let start = match self.sealed.get(i) {
            Some(s) => {
                if id < s.meta.first_id {
                    return Ok(None);
                }
                self.load(s)?.1.seek_id(id)
            }
            None => {
                let a = &self.active;
                if !a.has_frames() || id < a.meta.first_id || id > a.meta.last_id {
                    return Ok(None);
                }
                let k = partition(a.entries.len(), |j| a.entries[j].id <= id);
                (k > 0).then(|| a.entries[k - 1].offset)
            }
        };
        let hop = match self.sealed.get(i) {
            Some(s) => {
                let (seg, idx) = self.load(s)?;
                let seg = &seg[..(s.meta.len as usize).min(seg.len())];
                hop_to_id(seg, start, id)
                    .and_then(|fr| Some(to_event(&fr, idx.name(fr.stream_ref)?)))
            }
            None => self
                .active
                .mapped(self.segment_size)
                .and_then(|seg| hop_to_id(seg, start, id))
                .and_then(|fr| {
                    let name = self.active.names.get(fr.stream_ref as usize)?;
                    Some(to_event(&fr, name))
                }),
        };
        if let Some(e) = hop {
            return Ok(Some(e));
        }
        // The careful path: every frame decoded and checked until the id is passed (also what
        // tells a missing id from damage in a sealed segment).
        let mut out = None;
        self.visit_segment_with(i, start, POINT_WINDOW, &mut |fr, name| {
            let fid = fr.id.as_u128();
            if fid == id {
                out = Some(to_event(fr, name));
            }
            fid < id
        })?;
        Ok(out)
    }

    // ---- stats ----------------------------------------------------------------------------

    pub(crate) fn segments(&self) -> usize {
        self.sealed.len() + 1
    }

    pub(crate) fn bytes_on_disk(&self) -> u64 {
        self.sealed.iter().map(|s| s.meta.len).sum::<u64>() + self.active.meta.len
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.active.heap_bytes()
            + self.sealed.capacity() * std::mem::size_of::<Sealed>()
            + self
                .sealed
                .iter()
                .map(|s| {
                    s.path.as_os_str().len()
                        + match s.loaded.get() {
                            Some(m) => match &m.idx {
                                Bytes::Heap(v) => v.capacity(),
                                Bytes::Map(_) => 0,
                            },
                            _ => 0,
                        }
                })
                .sum::<usize>()
    }

    #[cfg(test)]
    pub(crate) fn position(&self) -> (PathBuf, u64) {
        (self.active.path.clone(), self.active.meta.len)
    }
}

/// Writes of at least this many bytes ask the kernel to start writing them back at once.
const WRITEBACK_MIN: usize = 16 << 10;

/// Starts writeback of `len` bytes at `off` without waiting for it (Linux
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`; nothing elsewhere). Durability is unchanged (this
/// is no fsync and promises nothing), but the fsync at the next index flush, rollover or
/// close then finds most of the data already on its way instead of writing a whole
/// interval's worth of dirty pages while the appender waits. Best effort: errors are ignored
/// (the fsync reports real I/O errors).
fn start_writeback(file: &File, off: u64, len: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor; it reads no memory of ours.
        let _ = unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                off as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, off, len);
}

/// How far ahead of the frame being decoded a batch read asks the CPU to fetch the segment's
/// bytes: without it a scan of a mapped segment waits on memory at every cache line (the
/// hardware prefetcher stops at each 4 KiB page).
const PREFETCH_AHEAD: usize = 2048;

/// Hints the CPU to load the cache line of `b[at]` (nothing if out of bounds).
#[inline(always)]
pub(crate) fn prefetch(b: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < b.len() {
        // SAFETY: a prefetch never faults and reads nothing architecturally; the address is
        // inside `b` anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                b.as_ptr().add(at).cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (b, at);
}

/// Point lookup in a segment's bytes (`seg`: whole frames from the header on): hops from the
/// frame at `start` to the next reading only the length and id fields, then decodes (CRC
/// included) just the frame with the id. `None` when the hop does not land on the id (a
/// missing id, bytes past `seg`, or damage): the caller then takes the careful path, which
/// checks every frame.
fn hop_to_id(seg: &[u8], start: Option<u64>, id: u128) -> Option<FrameRef<'_>> {
    const ID_AT: usize = PREFIX_LEN + 16;
    let mut off = start.unwrap_or(SEGMENT_HEADER_LEN) as usize;
    // The id is within about one index interval: ask for all of its cache lines at once, so
    // the hop (each step's address depends on the previous frame's length) does not wait on
    // memory at every frame.
    for ahead in (0..sparse::INTERVAL as usize + 256).step_by(64) {
        prefetch(seg, off + ahead);
    }
    while off + ID_AT + 16 <= seg.len() {
        let fid = frame::u128_at(seg, off + ID_AT);
        if fid == id {
            return frame::decode(&seg[off..]).ok();
        }
        if fid > id {
            return None;
        }
        let body = frame::u32_at(seg, off) as usize;
        if body < frame::FIXED_LEN {
            return None;
        }
        off += PREFIX_LEN + body;
    }
    None
}

/// A view of a decoded frame with these borrowed parts.
fn view<'a>(
    fr: &FrameRef<'_>,
    stream: &'a str,
    payload: &'a [u8],
    key: Option<&'a [u8]>,
) -> EventView<'a> {
    EventView {
        id: fr.id,
        sequence: fr.sequence,
        stream,
        stream_version: fr.stream_version,
        kind: fr.kind,
        correlation_id: fr.correlation_id,
        causation_id: fr.causation_id,
        timestamp_ns: fr.timestamp_ns,
        payload,
        idempotency_key: key,
    }
}

pub(crate) fn to_event(fr: &FrameRef<'_>, stream: &str) -> Event {
    Event {
        id: fr.id,
        sequence: fr.sequence,
        stream: stream.to_owned(),
        stream_version: fr.stream_version,
        kind: fr.kind,
        correlation_id: fr.correlation_id,
        causation_id: fr.causation_id,
        timestamp_ns: fr.timestamp_ns,
        payload: fr.payload.to_vec(),
        idempotency_key: fr.key.map(<[u8]>::to_vec),
    }
}
