//! Looking at a store directory from outside a [`Store`](super::Store), at the file level:
//! [`info`] (what it holds), [`verify`] (every frame's CRC and every derived file) and the
//! explicit repair [`recover`] (cut the log at its first damaged frame, after saving the cut
//! bytes in a side file). `transom-store` is a thin command line over these; a program can
//! call them too. They work on a directory a `Store` would refuse (`Corrupt`), which is the
//! point: they report where and how, and `recover` makes it open again.
//!
//! Each takes the directory's lock (`Locked` while a store, or another of these, has it) and
//! refuses a missing directory or one that holds no store (no `MANIFEST`, no segment) with
//! `InvalidArgument`, before creating anything.
//!
//! Invariant: [`info`] and [`verify`] never create, write or delete a file in the directory
//! (the `LOCK` file, which locking creates when it is missing, aside); only [`recover`]
//! changes a store, and only after the bytes it removes are fsynced in the side file.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::disk::is_torn_tail;
use super::error::StoreError;
use super::frame::{self, FrameError};
use super::lock::{DirLock, LOCK_FILE};
use super::lsm::{DirCheck, LsmIndex};
use super::manifest::{Manifest, SegMeta, MANIFEST_FILE};
use super::secondary::key_hash;
use super::segment::{
    index_name, list_segments, segment_header, sync_dir, SEGMENT_HEADER_LEN, SEGMENT_MAGIC_V1,
};
use super::sparse::IdxView;
use super::store::INDEX_DIR;

/// Magic at the start of a side file written by [`recover`].
pub const SIDE_FILE_MAGIC: [u8; 8] = *b"TRNCUT01";

/// One segment file, as [`info`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment file.
    pub file: PathBuf,
    /// Its first sequence (from its name).
    pub base: u64,
    /// Its last sequence (`base - 1` when it holds no event).
    pub last_sequence: u64,
    /// File length in bytes.
    pub bytes: u64,
    /// Listed as sealed in the MANIFEST (every segment but the one being appended to).
    pub sealed: bool,
}

/// What [`info`] reports about a store directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreInfo {
    /// The segment files, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// The first retained sequence (1 until retention or truncate removed segments).
    pub first_retained: u64,
    /// The last sequence in the log (`first_retained - 1` when empty).
    pub last_sequence: u64,
    /// Bytes of the segment files.
    pub segment_bytes: u64,
    /// Bytes of every file of the store: segments, `.idx` files, `MANIFEST`, `LOCK`, `index/`.
    pub bytes_on_disk: u64,
    /// Distinct stream names with at least one retained event: the union of the segments'
    /// stream tables (each segment names every stream it uses; read from its `.idx`, or from
    /// its frames when the `.idx` is missing, stale or behind), counted by 128-bit hash.
    pub streams: u64,
    /// The sequence the secondary index files (`index/`) cover; `None` when they are absent
    /// or damaged (rebuilt on open).
    pub index_covered: Option<u64>,
    /// The MANIFEST's clean-shutdown flag (set by close, cleared by the next open); `None`
    /// when the MANIFEST is missing or damaged.
    pub clean_shutdown: Option<bool>,
    /// The highest sequence the MANIFEST recorded as fsynced; `None` as above.
    pub durable_sequence: Option<u64>,
    /// Things `info` noticed on the way (a frame it could not read: run [`verify`]).
    pub problems: Vec<String>,
}

/// How bad a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Expected after a crash or an older step, handled by open (a torn tail, leftovers).
    Note,
    /// A derived file (`.idx`, `MANIFEST`, `index/`) is missing, stale or damaged: open
    /// rebuilds it from the segments. No event is at risk.
    Derived,
    /// Data damage: the store refuses to open (`Corrupt`) until [`recover`] cuts it.
    Damage,
}

/// One thing [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// The file concerned.
    pub file: PathBuf,
    /// Byte offset in `file`, when it is about a place in it.
    pub offset: Option<u64>,
    /// What is wrong and what open will do about it.
    pub message: String,
}

/// The first data damage [`verify`] found: where [`recover`] cuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file (it may be missing: then that is the damage).
    pub file: PathBuf,
    /// The damaged frame's (or header's) offset, as `Store::open` reports it.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
    /// Where the log would be cut: the start of the batch holding the damaged frame (batches
    /// are all-or-nothing); `None` when the file is missing.
    pub cut_at: Option<u64>,
    /// The last sequence before the cut.
    pub last_good_sequence: u64,
}

/// What [`verify`] checked and found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// One line per file checked: what was checked and what it holds.
    pub checked: Vec<String>,
    /// Problems, in the order found (at most one [`Severity::Damage`]: checking stops there).
    pub findings: Vec<Finding>,
    /// The first data damage, if any.
    pub damage: Option<Damage>,
    /// Frames decoded (and CRC-checked).
    pub frames: u64,
}

impl VerifyReport {
    /// No data damage (derived files may still be rebuilt on open).
    pub fn is_healthy(&self) -> bool {
        self.damage.is_none()
    }
}

/// One piece of a side file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutPiece {
    /// The segment the bytes came from (removed from the store, or cut).
    pub file: PathBuf,
    /// Their offset in that file.
    pub offset: u64,
    /// How many bytes.
    pub len: u64,
}

/// What [`recover`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverReport {
    /// The damage it cut at (`None`: the store had no data damage and nothing was changed;
    /// no side file was written).
    pub damage: Option<Damage>,
    /// The bytes moved to the side file, in order.
    pub pieces: Vec<CutPiece>,
    /// The log's last sequence after the cut.
    pub last_sequence: u64,
}

fn invalid(msg: String) -> StoreError {
    StoreError::InvalidArgument(msg)
}

/// Refuses a missing directory, something that is not a directory, and a directory that holds
/// no store (neither a `MANIFEST` nor a segment file). Creates nothing.
pub fn check_store_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(invalid(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(invalid(format!("{}: no such directory", dir.display())))
        }
        Err(e) => return Err(StoreError::io(format!("stat {}", dir.display()), e)),
    }
    if dir.join(MANIFEST_FILE).is_file() || !list_segments(dir)?.is_empty() {
        return Ok(());
    }
    Err(invalid(format!(
        "{} is not a store directory (no MANIFEST, no segment file)",
        dir.display()
    )))
}

fn lock(dir: &Path) -> Result<DirLock, StoreError> {
    check_store_dir(dir)?;
    DirLock::acquire(dir)
}

fn io_err(ctx: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |e| StoreError::io(ctx, e)
}

/// A segment's bytes: mapped read-only (the lock keeps stores from writing them meanwhile).
enum SegBytes {
    Map(Mmap),
    Small(Vec<u8>),
}

impl std::ops::Deref for SegBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SegBytes::Map(m) => m,
            SegBytes::Small(v) => v,
        }
    }
}

fn read_segment(path: &Path) -> Result<SegBytes, StoreError> {
    let f = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let len = f
        .metadata()
        .map_err(io_err(format!("stat {}", path.display())))?
        .len();
    if len < 4096 {
        return std::fs::read(path)
            .map(SegBytes::Small)
            .map_err(io_err(format!("reading {}", path.display())));
    }
    // SAFETY: the caller holds the directory lock, so no store writes or truncates the file
    // while it is mapped (the same contract the store's own maps rely on); the map is
    // read-only.
    unsafe { Mmap::map(&f) }
        .map(SegBytes::Map)
        .map_err(io_err(format!("mapping {}", path.display())))
}

fn refuse_v1(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.len() >= 8 && bytes[..8] == SEGMENT_MAGIC_V1 {
        return Err(StoreError::Unsupported(format!(
            "{} is a segment of the v1 format (TRNSEG01, transom 0.2)",
            path.display()
        )));
    }
    Ok(())
}

/// Where a scan of one segment's frames stopped, and what it saw.
struct SegScan {
    /// Up to the end of the last whole batch.
    meta: SegMeta,
    names: Vec<String>,
    frames: u64,
    /// The first frame that failed: offset, why, and the decode error if it was one.
    failure: Option<(u64, String, Option<FrameError>)>,
    /// The scan ended (at the end of the bytes or at `failure`) inside a batch.
    open_batch: bool,
    /// Why the segment's `.idx` does not match its frames, if it was given and does not.
    idx_problem: Option<String>,
}

/// Scans the frames of segment `base` (`bytes` = the whole file, header checked by the
/// caller) from `start`, continuing sequence `meta.last_seq` and id `meta.last_id`, checking
/// the given index against the frames.
fn scan(bytes: &[u8], mut meta: SegMeta, idx: Option<&IdxView<'_>>) -> SegScan {
    let mut names: Vec<String> = Vec::new();
    let mut frames = 0u64;
    let mut off = SEGMENT_HEADER_LEN;
    let mut failure = None;
    let mut batch_meta: Option<SegMeta> = None;
    let mut next_entry = 0usize;
    let mut idx_problem: Option<String> = None;
    let covered = idx.map(|v| v.meta());
    let mut covered_seen = covered.is_some_and(|c| c.len == SEGMENT_HEADER_LEN);
    let mut check_boundary = |off: u64, meta: &SegMeta, idx_problem: &mut Option<String>| {
        if let Some(c) = covered {
            if c.len == off {
                covered_seen = true;
                if c.last_seq != meta.last_seq {
                    idx_problem.get_or_insert(format!(
                        "says sequence {} ends at offset {off}, the frames say {}",
                        c.last_seq, meta.last_seq
                    ));
                }
            }
        }
    };
    while (off as usize) < bytes.len() {
        let at = off;
        let fr = match frame::decode(&bytes[off as usize..]) {
            Ok(fr) => fr,
            Err(e) => {
                failure = Some((at, e.to_string(), Some(e)));
                break;
            }
        };
        frames += 1;
        let want = meta.last_seq + 1;
        let bad = if fr.sequence != want {
            Some(format!(
                "frame has sequence {}, expected {want}",
                fr.sequence
            ))
        } else if fr.id.as_u128() <= meta.last_id {
            Some("event id does not increase".to_string())
        } else {
            match fr.defines {
                Some(name) if fr.stream_ref as usize == names.len() => {
                    names.push(name.to_string());
                    None
                }
                None if (fr.stream_ref as usize) < names.len() => None,
                _ => Some("stream number not defined in this segment".to_string()),
            }
        };
        if let Some(why) = bad {
            failure = Some((at, why, None));
            break;
        }
        if let Some(v) = idx {
            while next_entry < v.len() && v.entry(next_entry).offset < at {
                idx_problem.get_or_insert(format!(
                    "entry {next_entry} points at offset {}, not at a frame",
                    v.entry(next_entry).offset
                ));
                next_entry += 1;
            }
            if next_entry < v.len() && v.entry(next_entry).offset == at {
                let e = v.entry(next_entry);
                if e.seq != fr.sequence || e.id != fr.id.as_u128() {
                    idx_problem.get_or_insert(format!(
                        "entry {next_entry} at offset {at} names sequence {}, the frame is {}",
                        e.seq, fr.sequence
                    ));
                }
                next_entry += 1;
            }
        }
        if batch_meta.is_none() {
            batch_meta = Some(meta);
        }
        if meta.first_id == 0 {
            meta.first_id = fr.id.as_u128();
            meta.first_ts = fr.timestamp_ns;
        }
        meta.last_seq = fr.sequence;
        meta.last_id = fr.id.as_u128();
        meta.last_ts = fr.timestamp_ns;
        off += fr.len as u64;
        if !fr.more_in_batch {
            meta.len = off;
            batch_meta = None;
        }
        check_boundary(off, &meta, &mut idx_problem);
    }
    let open_batch = batch_meta.is_some();
    if let Some(before) = batch_meta {
        meta = SegMeta {
            len: before.len,
            ..before
        };
    }
    if let (Some(v), Some(c)) = (idx, covered) {
        if next_entry < v.len() && v.entry(next_entry).offset < c.len {
            idx_problem.get_or_insert(format!(
                "entry {next_entry} points at offset {}, not at a frame",
                v.entry(next_entry).offset
            ));
        }
        if !covered_seen && c.len <= meta.len {
            idx_problem.get_or_insert(format!(
                "says it covers {} bytes, not a frame boundary",
                c.len
            ));
        }
        let m = v.stream_count();
        let same_names = (0..m as u32)
            .map(|r| v.name(r))
            .zip(names.iter())
            .all(|(a, b)| a == Some(b.as_str()));
        if m > names.len() || !same_names {
            idx_problem.get_or_insert("its stream table differs from the frames'".to_string());
        }
    }
    SegScan {
        meta,
        names,
        frames,
        failure,
        open_batch,
        idx_problem,
    }
}

fn empty_meta(base: u64, prev_last_id: u128) -> SegMeta {
    SegMeta {
        base,
        last_seq: base - 1,
        len: SEGMENT_HEADER_LEN,
        last_id: prev_last_id,
        ..SegMeta::default()
    }
}

/// The meta as the MANIFEST and `.idx` files store it (no ids before the first frame).
fn stored(m: &SegMeta) -> SegMeta {
    let mut m = *m;
    if m.first_id == 0 {
        m.last_id = 0;
    }
    m
}

/// Everything [`verify`] and [`recover`] learn from one pass.
struct Examination {
    report: VerifyReport,
    /// Segments before the damage (all of them when there is none), as scanned, oldest first.
    good: Vec<SegMeta>,
    /// Every segment file on disk at or after the first live base, oldest first.
    on_disk: Vec<(u64, PathBuf)>,
    first_retained: u64,
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn examine(dir: &Path) -> Result<Examination, StoreError> {
    let mut r = VerifyReport::default();
    let note = |r: &mut VerifyReport, severity, file: &Path, offset, message: String| {
        r.findings.push(Finding {
            severity,
            file: file.to_path_buf(),
            offset,
            message,
        })
    };
    let all = list_segments(dir)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = match Manifest::read(dir)? {
        Some(Some(m)) if !m.segments.is_empty() => {
            r.checked.push(format!(
                "MANIFEST: checksum ok, {} segment(s), first retained {}, fsynced up to {}, {}",
                m.segments.len(),
                m.first_retained.max(1),
                m.durable_seq,
                if m.clean {
                    "clean shutdown"
                } else {
                    "not closed cleanly (open scans what came after the last index flush)"
                }
            ));
            Some(m)
        }
        Some(Some(_)) => {
            r.checked
                .push("MANIFEST: checksum ok, lists no segment".to_string());
            None
        }
        Some(None) => {
            note(
                &mut r,
                Severity::Derived,
                &manifest_path,
                None,
                "damaged (checksum or layout): rebuilt from a full scan of the segments on open"
                    .into(),
            );
            None
        }
        None => {
            if !all.is_empty() {
                note(
                    &mut r,
                    Severity::Derived,
                    &manifest_path,
                    None,
                    "missing: rebuilt from a full scan of the segments on open".into(),
                );
            }
            None
        }
    };
    let first_retained = match &manifest {
        Some(m) => m.first_retained.max(1),
        None => all.first().map_or(1, |(b, _)| *b),
    };
    let first_base = manifest
        .as_ref()
        .map_or(first_retained, |m| m.segments[0].base);
    let mut on_disk = Vec::new();
    for (base, path) in &all {
        if *base < first_base {
            note(
                &mut r,
                Severity::Note,
                path,
                None,
                "below the first retained segment (retention was interrupted): deleted on open"
                    .into(),
            );
        } else {
            on_disk.push((*base, path.clone()));
        }
    }
    // The segments the log is made of, in order: the MANIFEST's, then any later on disk.
    struct Want {
        base: u64,
        path: PathBuf,
        record: Option<SegMeta>,
        last_listed: bool,
    }
    let mut wants: Vec<Want> = Vec::new();
    if let Some(m) = &manifest {
        let last_base = m.segments[m.segments.len() - 1].base;
        for (i, s) in m.segments.iter().enumerate() {
            wants.push(Want {
                base: s.base,
                path: dir.join(super::segment::segment_name(s.base)),
                record: Some(*s),
                last_listed: i + 1 == m.segments.len(),
            });
        }
        for (base, path) in &on_disk {
            if !m.segments.iter().any(|s| s.base == *base) {
                wants.push(Want {
                    base: *base,
                    path: path.clone(),
                    record: None,
                    last_listed: *base > last_base,
                });
            }
        }
        wants.sort_by_key(|w| w.base);
    } else {
        for (base, path) in &on_disk {
            wants.push(Want {
                base: *base,
                path: path.clone(),
                record: None,
                last_listed: true,
            });
        }
    }

    let mut good: Vec<SegMeta> = Vec::new();
    let mut prev_last = first_retained.max(first_base) - 1;
    let mut prev_id = 0u128;
    let n = wants.len();
    let mut damage: Option<Damage> = None;
    for (i, w) in wants.iter().enumerate() {
        let is_last = i + 1 == n;
        let name = file_name(&w.path);
        let fail = |offset: u64, cut_at: Option<u64>, last_good: u64, reason: String| Damage {
            file: w.path.clone(),
            offset,
            reason,
            cut_at,
            last_good_sequence: last_good,
        };
        if manifest.is_some() && w.record.is_none() && !w.last_listed {
            damage = Some(fail(
                0,
                Some(0),
                prev_last,
                "segment is not listed in the MANIFEST".into(),
            ));
            break;
        }
        if w.base != prev_last + 1 {
            damage = Some(fail(
                0,
                Some(0),
                prev_last,
                format!(
                    "segment starts at sequence {}, expected {}",
                    w.base,
                    prev_last + 1
                ),
            ));
            break;
        }
        let file_len = match std::fs::metadata(&w.path) {
            Ok(md) => md.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let s = w.record.expect("only listed segments can be missing");
                damage = Some(fail(
                    0,
                    None,
                    prev_last,
                    format!(
                        "segment listed in the MANIFEST (sequences {}..={}, {} bytes fsynced) \
                         is missing",
                        s.base, s.last_seq, s.len
                    ),
                ));
                break;
            }
            Err(e) => return Err(StoreError::io(format!("stat {}", w.path.display()), e)),
        };
        // What the MANIFEST says is durable: damage before it is never a torn tail.
        let durable_len = w.record.map_or(0, |s| s.len);
        let sealed_record = w.record.filter(|s| s.sealed && !is_last);
        let bytes = read_segment(&w.path)?;
        refuse_v1(&w.path, &bytes)?;
        let header = segment_header(w.base);
        if (bytes.len() as u64) < SEGMENT_HEADER_LEN {
            if is_last && header.starts_with(&bytes) && durable_len <= file_len {
                note(
                    &mut r,
                    Severity::Note,
                    &w.path,
                    Some(0),
                    format!(
                        "short header ({file_len} bytes, a crash while creating the segment): \
                         rewritten on open"
                    ),
                );
                good.push(empty_meta(w.base, prev_id));
                r.checked.push(format!("{name}: short header, no frame"));
                continue;
            }
            damage = Some(fail(0, Some(0), prev_last, "short segment header".into()));
            break;
        }
        if bytes[..SEGMENT_HEADER_LEN as usize] != header {
            damage = Some(fail(0, Some(0), prev_last, "bad segment header".into()));
            break;
        }
        // The sparse index, parsed (checksum, layout) and later compared with the frames.
        let idx_path = dir.join(index_name(w.base));
        let idx_bytes = match std::fs::read(&idx_path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io(format!("reading {}", idx_path.display()), e)),
        };
        let idx = idx_bytes.as_deref().map(|b| IdxView::parse(b, w.base));
        let usable_idx = idx.flatten().filter(|v| v.meta().len <= file_len);
        let s = scan(&bytes, empty_meta(w.base, prev_id), usable_idx.as_ref());
        r.frames += s.frames;
        let mut problem: Option<(u64, u64, String)> = None; // offset, cut_at, reason
        if let Some((at, why, err)) = &s.failure {
            let torn = is_last
                && *at >= durable_len
                && err
                    .as_ref()
                    .is_some_and(|e| is_torn_tail(&bytes[*at as usize..], e, s.meta.last_seq + 1));
            if torn {
                note(
                    &mut r,
                    Severity::Note,
                    &w.path,
                    Some(s.meta.len),
                    format!(
                        "torn tail: {} bytes from offset {} ({why} at offset {at}), the end of \
                         an interrupted write: cut on open",
                        file_len - s.meta.len,
                        s.meta.len
                    ),
                );
            } else {
                problem = Some((*at, s.meta.len, why.clone()));
            }
        } else if s.open_batch {
            if is_last && s.meta.len >= durable_len {
                note(
                    &mut r,
                    Severity::Note,
                    &w.path,
                    Some(s.meta.len),
                    format!(
                        "unfinished batch at the end ({} bytes from offset {}), never \
                         acknowledged: cut on open",
                        file_len - s.meta.len,
                        s.meta.len
                    ),
                );
            } else {
                problem = Some((
                    s.meta.len,
                    s.meta.len,
                    "batch continues past the end of its segment".into(),
                ));
            }
        }
        if problem.is_none() {
            if let Some(rec) = w.record {
                if file_len < rec.len {
                    problem = Some((
                        file_len,
                        s.meta.len,
                        format!(
                            "segment is {file_len} bytes, shorter than the {} bytes the \
                             MANIFEST recorded as fsynced",
                            rec.len
                        ),
                    ));
                } else if sealed_record.is_some()
                    && (rec.len != s.meta.len || rec.last_seq != s.meta.last_seq)
                {
                    problem = Some((
                        s.meta.len.min(rec.len),
                        s.meta.len,
                        format!(
                            "sealed segment holds sequences up to {} in {} bytes, the MANIFEST \
                             recorded {} in {}",
                            s.meta.last_seq, file_len, rec.last_seq, rec.len
                        ),
                    ));
                }
            }
        }
        if let Some((offset, cut_at, reason)) = problem {
            r.checked.push(format!(
                "{name}: {} frame(s) CRC-checked before the damage",
                s.frames
            ));
            // The cut keeps whole batches only.
            damage = Some(fail(offset, Some(cut_at), s.meta.last_seq, reason));
            // Keep what came before the damage in this segment.
            good.push(s.meta);
            break;
        }
        r.checked.push(format!(
            "{name}: {} frame(s), CRC ok, sequences {}, {} bytes{}",
            s.frames,
            if s.meta.last_seq >= w.base {
                format!("{}..={}", w.base, s.meta.last_seq)
            } else {
                "none".to_string()
            },
            file_len,
            if sealed_record.is_some() {
                ", sealed"
            } else {
                ""
            }
        ));
        // The sparse index: missing / damaged / stale / inconsistent are all derived damage.
        let idx_name = file_name(&idx_path);
        let sealed = sealed_record.is_some() || !is_last;
        match (idx, usable_idx) {
            (None, _) if !sealed => r.checked.push(format!(
                "{idx_name}: absent (the open segment's index is written at index flushes \
                 and close; open scans its frames)"
            )),
            (None, _) => note(
                &mut r,
                Severity::Derived,
                &idx_path,
                None,
                "missing: rebuilt from the segment on open".into(),
            ),
            (Some(None), _) => note(
                &mut r,
                Severity::Derived,
                &idx_path,
                None,
                "damaged (checksum or layout): rebuilt from the segment on open".into(),
            ),
            (Some(Some(_)), None) => note(
                &mut r,
                Severity::Derived,
                &idx_path,
                None,
                format!("stale (covers more than the segment's {file_len} bytes): rebuilt on open"),
            ),
            (Some(Some(v)), Some(_)) => {
                let c = v.meta();
                if let Some(why) = &s.idx_problem {
                    note(
                        &mut r,
                        Severity::Derived,
                        &idx_path,
                        None,
                        format!(
                            "does not match the segment: {why} (derived: delete it while the \
                             store is closed, open rebuilds it)"
                        ),
                    );
                } else if sealed
                    && (c.len != s.meta.len
                        || c.last_seq != s.meta.last_seq
                        || (c.first_id, c.last_id, c.first_ts, c.last_ts) != {
                            let m = stored(&s.meta);
                            (m.first_id, m.last_id, m.first_ts, m.last_ts)
                        })
                {
                    note(
                        &mut r,
                        Severity::Derived,
                        &idx_path,
                        None,
                        format!(
                            "stale (covers {} bytes up to sequence {}, the segment holds {} \
                             bytes up to {}): rebuilt on open",
                            c.len, c.last_seq, s.meta.len, s.meta.last_seq
                        ),
                    );
                } else {
                    r.checked.push(format!(
                        "{idx_name}: checksum ok, {} entries and {} stream(s) match the frames, \
                         covers {} bytes",
                        v.len(),
                        v.stream_count(),
                        c.len
                    ));
                }
            }
        }
        prev_last = s.meta.last_seq;
        prev_id = s.meta.last_id;
        good.push(s.meta);
    }
    if let Some(d) = &damage {
        let later = wants.iter().filter(|w| w.path > d.file).count();
        note(
            &mut r,
            Severity::Damage,
            &d.file,
            Some(d.offset),
            format!(
                "{}{}",
                d.reason,
                if later > 0 {
                    format!(" ({later} later segment(s) not checked)")
                } else {
                    String::new()
                }
            ),
        );
    } else {
        // The secondary indexes: only worth checking against a sound log.
        let last = good.last().map_or(first_retained - 1, |m| m.last_seq);
        let index_dir = dir.join(INDEX_DIR);
        match LsmIndex::check_dir(&index_dir, true) {
            DirCheck::Absent => {
                if last >= first_retained {
                    r.checked
                        .push(format!("{INDEX_DIR}/: absent (built from the log on open)"));
                }
            }
            DirCheck::Damaged(why) => note(
                &mut r,
                Severity::Derived,
                &index_dir,
                None,
                format!(
                    "{why}: rebuilt from the log when the store first reads the damaged page \
                     (at once on open when the MANIFEST is rebuilt too)"
                ),
            ),
            DirCheck::Sound { covered, .. } if covered > last => note(
                &mut r,
                Severity::Derived,
                &index_dir,
                None,
                format!(
                    "covers sequences up to {covered}, beyond the log's last ({last}): reset \
                     and rebuilt from the log on open"
                ),
            ),
            DirCheck::Sound { covered, runs } => r.checked.push(format!(
                "{INDEX_DIR}/: {runs} run file(s), every page checksum ok, covers sequences up \
                 to {covered} (open replays {} later event(s) into it)",
                last.saturating_sub(covered)
            )),
        }
    }
    r.damage = damage;
    Ok(Examination {
        report: r,
        good,
        on_disk,
        first_retained,
    })
}

/// Checks every frame of every segment (CRC, sequence, id and stream numbering, batch
/// boundaries), the MANIFEST against the segments, every `.idx` file against its segment's
/// frames and every page of the secondary index files (`index/`), without changing anything.
/// Stops checking frames at the first data damage. Holds the directory lock meanwhile.
pub fn verify(dir: &Path) -> Result<VerifyReport, StoreError> {
    let _lock = lock(dir)?;
    Ok(examine(dir)?.report)
}

/// What a store directory holds, read from its MANIFEST, `.idx` files and index manifest
/// (frames are read only where no valid `.idx` covers them: after a crash, the open segment's
/// tail). Changes nothing; holds the directory lock meanwhile.
pub fn info(dir: &Path) -> Result<StoreInfo, StoreError> {
    let _lock = lock(dir)?;
    let mut out = StoreInfo::default();
    let manifest = Manifest::read(dir)?.flatten();
    if let Some(m) = &manifest {
        out.clean_shutdown = Some(m.clean);
        out.durable_sequence = Some(m.durable_seq);
    }
    let segs = list_segments(dir)?;
    out.first_retained = match &manifest {
        Some(m) if !m.segments.is_empty() => m.first_retained.max(1),
        _ => segs.first().map_or(1, |(b, _)| *b),
    };
    let mut streams: HashSet<u128> = HashSet::new();
    for (base, path) in &segs {
        if *base < out.first_retained {
            continue;
        }
        let file_len = std::fs::metadata(path)
            .map_err(io_err(format!("stat {}", path.display())))?
            .len();
        let idx_bytes = std::fs::read(dir.join(index_name(*base))).ok();
        let idx = idx_bytes
            .as_deref()
            .and_then(|b| IdxView::parse(b, *base))
            .filter(|v| v.meta().len == file_len);
        let last_sequence = match idx {
            Some(v) => {
                for r in 0..v.stream_count() as u32 {
                    streams.insert(key_hash(v.name(r).unwrap_or_default().as_bytes()));
                }
                v.meta().last_seq
            }
            None => {
                let bytes = read_segment(path)?;
                refuse_v1(path, &bytes)?;
                if bytes.len() < SEGMENT_HEADER_LEN as usize {
                    base - 1
                } else {
                    let s = scan(&bytes, empty_meta(*base, 0), None);
                    if let Some((at, why, _)) = s.failure {
                        out.problems.push(format!(
                            "{}: stopped reading at offset {at}: {why} (run verify)",
                            path.display()
                        ));
                    }
                    for n in &s.names {
                        streams.insert(key_hash(n.as_bytes()));
                    }
                    s.meta.last_seq
                }
            }
        };
        let sealed = manifest
            .as_ref()
            .and_then(|m| m.segments.iter().find(|s| s.base == *base))
            .is_some_and(|s| s.sealed);
        out.segment_bytes += file_len;
        out.segments.push(SegmentInfo {
            file: path.clone(),
            base: *base,
            last_sequence,
            bytes: file_len,
            sealed,
        });
    }
    out.last_sequence = out
        .segments
        .last()
        .map_or(out.first_retained - 1, |s| s.last_sequence);
    out.streams = streams.len() as u64;
    out.index_covered = match LsmIndex::check_dir(&dir.join(INDEX_DIR), false) {
        DirCheck::Sound { covered, .. } => Some(covered),
        _ => None,
    };
    out.bytes_on_disk = store_bytes(dir);
    Ok(out)
}

/// Bytes of the store's own files (segments, `.idx`, MANIFEST, LOCK, `index/`).
fn store_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| if m.is_file() { m.len() } else { 0 });
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".seg")
                || name.ends_with(".idx")
                || name == MANIFEST_FILE
                || name == LOCK_FILE
            {
                total += size(&e.path());
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join(INDEX_DIR)) {
        for e in rd.flatten() {
            total += size(&e.path());
        }
    }
    total
}

/// Cuts the store at its first damaged frame, so that it opens again: the bytes from the start
/// of the batch holding that frame to the end of its segment, and every later segment file,
/// are first copied to `side_file` (created; it must not exist) and fsynced; then the segment
/// is truncated there (or reduced to its header), later segments and stale derived files are
/// deleted and the MANIFEST is rewritten to describe the cut log. Events before the damage are
/// untouched; the events after it are only in the side file. Without data damage nothing is
/// changed and no side file is written (`damage: None`).
///
/// Side file format: [`SIDE_FILE_MAGIC`], then per piece: name length `u16` LE, the segment's
/// file name, offset `u64` LE, length `u64` LE, that many bytes of the segment from offset.
pub fn recover(dir: &Path, side_file: &Path) -> Result<RecoverReport, StoreError> {
    let _lock = lock(dir)?;
    let ex = examine(dir)?;
    let Some(damage) = ex.report.damage.clone() else {
        let last = ex.good.last().map_or(ex.first_retained - 1, |m| m.last_seq);
        return Ok(RecoverReport {
            damage: None,
            pieces: Vec::new(),
            last_sequence: last,
        });
    };
    // The damaged segment's base: from the file name (it may be missing).
    let damaged_base = ex
        .on_disk
        .iter()
        .find(|(_, p)| *p == damage.file)
        .map(|(b, _)| *b);
    let damaged_base = match damaged_base {
        Some(b) => b,
        None => file_name(&damage.file)
            .strip_suffix(".seg")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("cannot parse {}", damage.file.display())))?,
    };
    let mut pieces = Vec::new();
    if let Some(cut) = damage.cut_at {
        let len = std::fs::metadata(&damage.file)
            .map_err(io_err(format!("stat {}", damage.file.display())))?
            .len();
        pieces.push(CutPiece {
            file: damage.file.clone(),
            offset: cut,
            len: len - cut.min(len),
        });
    }
    for (base, path) in &ex.on_disk {
        if *base > damaged_base {
            let len = std::fs::metadata(path)
                .map_err(io_err(format!("stat {}", path.display())))?
                .len();
            pieces.push(CutPiece {
                file: path.clone(),
                offset: 0,
                len,
            });
        }
    }
    write_side_file(side_file, &pieces)?;

    // The segments that stay: every one scanned sound before the damage, plus the damaged
    // one cut at `cut_at` when it keeps its header and belongs where it is.
    let mut keep: Vec<SegMeta> = ex
        .good
        .iter()
        .copied()
        .filter(|m| m.base < damaged_base)
        .collect();
    let expected_base = keep.last().map_or(ex.first_retained, |m| m.last_seq + 1);
    let mut cut_meta = ex.good.iter().copied().find(|m| m.base == damaged_base);
    match damage.cut_at {
        Some(cut) if damaged_base == expected_base => {
            let mut f = OpenOptions::new()
                .write(true)
                .open(&damage.file)
                .map_err(io_err(format!("opening {}", damage.file.display())))?;
            let meta = if cut >= SEGMENT_HEADER_LEN {
                f.set_len(cut)
                    .map_err(io_err(format!("truncating {}", damage.file.display())))?;
                cut_meta
                    .take()
                    .unwrap_or_else(|| empty_meta(damaged_base, 0))
            } else {
                f.set_len(0)
                    .and_then(|()| f.write_all(&segment_header(damaged_base)))
                    .map_err(io_err(format!("rewriting {}", damage.file.display())))?;
                empty_meta(damaged_base, 0)
            };
            f.sync_all()
                .map_err(io_err(format!("fsync of {}", damage.file.display())))?;
            keep.push(meta);
        }
        Some(_) => remove(&damage.file)?,
        None => {}
    }
    let _ = remove(&dir.join(index_name(damaged_base)));
    for (base, path) in &ex.on_disk {
        if *base > damaged_base {
            remove(path)?;
            let _ = remove(&dir.join(index_name(*base)));
        }
    }
    let n = keep.len();
    let segments: Vec<SegMeta> = keep
        .iter()
        .enumerate()
        .map(|(i, m)| SegMeta {
            sealed: i + 1 < n,
            ..stored(m)
        })
        .collect();
    let last_sequence = keep.last().map_or(ex.first_retained - 1, |m| m.last_seq);
    Manifest {
        first_retained: ex.first_retained,
        durable_seq: last_sequence,
        clean: false,
        segments,
    }
    .write(dir)?;
    // The secondary indexes may describe sequences the cut removed: they are derived, and
    // rebuilt from the log on open.
    let index_dir = dir.join(INDEX_DIR);
    match LsmIndex::check_dir(&index_dir, false) {
        DirCheck::Sound { covered, .. } if covered <= last_sequence => {}
        DirCheck::Absent => {}
        _ => {
            let _ = std::fs::remove_dir_all(&index_dir);
        }
    }
    sync_dir(dir)?;
    Ok(RecoverReport {
        damage: Some(damage),
        pieces,
        last_sequence,
    })
}

fn remove(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(format!("removing {}", path.display()), e)),
    }
}

fn write_side_file(path: &Path, pieces: &[CutPiece]) -> Result<(), StoreError> {
    let ctx = || format!("writing the side file {}", path.display());
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| StoreError::io(ctx(), e))?;
    let mut out = std::io::BufWriter::new(&mut f);
    out.write_all(&SIDE_FILE_MAGIC)
        .map_err(|e| StoreError::io(ctx(), e))?;
    for p in pieces {
        let name = file_name(&p.file);
        let src = File::open(&p.file).map_err(io_err(format!("opening {}", p.file.display())))?;
        out.write_all(&(name.len() as u16).to_le_bytes())
            .and_then(|()| out.write_all(name.as_bytes()))
            .and_then(|()| out.write_all(&p.offset.to_le_bytes()))
            .and_then(|()| out.write_all(&p.len.to_le_bytes()))
            .map_err(|e| StoreError::io(ctx(), e))?;
        let mut src = std::io::Read::take(
            {
                let mut s = src;
                std::io::Seek::seek(&mut s, std::io::SeekFrom::Start(p.offset))
                    .map_err(io_err(format!("reading {}", p.file.display())))?;
                s
            },
            p.len,
        );
        let copied = std::io::copy(&mut src, &mut out).map_err(|e| StoreError::io(ctx(), e))?;
        if copied != p.len {
            return Err(StoreError::io(
                ctx(),
                std::io::Error::other(format!("{} changed while it was copied", p.file.display())),
            ));
        }
    }
    out.flush().map_err(|e| StoreError::io(ctx(), e))?;
    drop(out);
    f.sync_all().map_err(|e| StoreError::io(ctx(), e))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    sync_dir(&parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::secondary::{IndexEntry, SecondaryIndex};
    use crate::store::test_dir::TestDir;
    use crate::store::{AppendRequest, Config, EventId, Store};

    #[test]
    fn verify_checks_every_page_of_the_index_runs_and_changes_nothing() {
        let dir = TestDir::new("inspect-lsm");
        let s = Store::open(Config::on_disk(dir.path())).unwrap();
        for _ in 0..20 {
            s.append(AppendRequest::new("s", 1, vec![1])).unwrap();
        }
        s.close().unwrap();
        drop(s);
        // The secondary index files as the store keeps them in index/ (written here directly
        // when the store did not, so this holds whichever secondary index the store uses).
        let idir = dir.path().join(INDEX_DIR);
        if !idir.join("MANIFEST").exists() {
            let (mut ix, _) = LsmIndex::open(&idir).unwrap();
            for seq in 1..=20u64 {
                ix.add(&IndexEntry {
                    sequence: seq,
                    stream: key_hash(b"s"),
                    stream_version: seq,
                    correlation: EventId::from_u128(u128::from(seq)),
                    idempotency_key: None,
                });
            }
            ix.flush().unwrap();
        }
        let r = verify(dir.path()).unwrap();
        assert!(r.findings.is_empty(), "{r:?}");
        assert!(r.checked.iter().any(|c| c.starts_with("index/: ")), "{r:?}");
        assert_eq!(info(dir.path()).unwrap().index_covered, Some(20));

        let run = std::fs::read_dir(&idir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "run"))
            .unwrap();
        let mut b = std::fs::read(&run).unwrap();
        let at = b.len() - 10;
        b[at] ^= 1;
        std::fs::write(&run, &b).unwrap();
        let listing = |d: &Path| {
            let mut v: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        let before = (listing(dir.path()), listing(&idir));
        let r = verify(dir.path()).unwrap();
        assert!(r.is_healthy());
        assert!(
            r.findings
                .iter()
                .any(|f| f.severity == Severity::Derived && f.file == idir),
            "{r:?}"
        );
        assert_eq!(
            (listing(dir.path()), listing(&idir)),
            before,
            "verify wrote nothing"
        );
        assert_eq!(std::fs::read(&run).unwrap(), b);
    }
}
