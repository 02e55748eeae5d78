//! Segment files: names, headers, listing, and the small file-system helpers the on-disk log
//! uses (counted fsyncs, atomic replacement of a small file).
//!
//! A segment is `<first sequence, 20 digits>.seg`: a 16-byte header (`b"TRNSEG02"`, then the
//! first sequence as u64 LE) followed by frames (see [`super::frame`]). A batch never spans
//! two segments. A directory whose segments say `TRNSEG01` was written by transom 0.2 (frame
//! format v1) and is refused with [`StoreError::Unsupported`].
//!
//! Invariant: a segment's name and header are durable (file and directory fsynced) before any
//! frame is written into it, and the previous segment is fsynced before the log moves on
//! (under every policy: rollover is rare), so "fsync the current segment" covers every earlier
//! write.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::StoreError;

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"TRNSEG02";
/// The magic of the v1 format (transom 0.2), refused on open.
pub(crate) const SEGMENT_MAGIC_V1: [u8; 8] = *b"TRNSEG01";
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
const SUFFIX: &str = ".seg";

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SUFFIX}")
}

/// The sparse index file of the segment starting at `first_seq`.
pub(crate) fn index_name(first_seq: u64) -> String {
    format!("{first_seq:020}.idx")
}

/// Writes `bytes` to `dir/name` atomically: a temporary file, fsynced, renamed over the old
/// one, then the directory fsynced. A crash leaves the old or the new content, never a mix.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| StoreError::io(format!("creating {}", tmp.display()), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| StoreError::io(format!("writing {}", tmp.display()), e))?;
    drop(f);
    std::fs::rename(&tmp, &path)
        .map_err(|e| StoreError::io(format!("renaming {}", tmp.display()), e))?;
    sync_dir(dir)
}

/// Replaces `dir/name` with `bytes` atomically (temporary file + rename) but without fsync:
/// for derived, checksummed files only (a machine crash may leave the old file, none, or a
/// torn one, which fails its checksum and is rebuilt). The next directory fsync (the
/// MANIFEST's) makes the rename durable.
pub(crate) fn write_derived(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .map_err(|e| StoreError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, dir.join(name))
        .map_err(|e| StoreError::io(format!("renaming {}", tmp.display()), e))
}

/// The directory's segments, sorted by first sequence. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let ctx = || format!("listing {}", dir.display());
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(ctx(), e))? {
        let entry = entry.map_err(|e| StoreError::io(ctx(), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(first) = stem.parse::<u64>() {
                out.push((first, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// fsyncs a directory so entries created in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(format!("fsync of directory {}", dir.display()), e))
}

pub(crate) fn segment_header(first_seq: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..].copy_from_slice(&first_seq.to_le_bytes());
    h
}

/// Issues and counts data fsyncs (tests assert group commit shares them).
#[derive(Debug, Default)]
pub(crate) struct SyncCounter {
    count: AtomicU64,
    #[cfg(test)]
    fail_next: std::sync::atomic::AtomicBool,
}

impl SyncCounter {
    pub(crate) fn sync(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        self.count.fetch_add(1, Ordering::Relaxed);
        #[cfg(test)]
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(StoreError::io(
                format!("fsync of {}", path.display()),
                std::io::Error::other("injected fsync failure"),
            ));
        }
        file.sync_data()
            .map_err(|e| StoreError::io(format!("fsync of {}", path.display()), e))
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Test hook: the next fsync fails with EIO-like error.
    #[cfg(test)]
    pub(crate) fn fail_next_sync(&self) {
        self.fail_next.store(true, Ordering::SeqCst);
    }
}
