//! Segment files and the journal that appends to them.
//!
//! A store directory holds `LOCK` and segment files named `<first sequence, 20 digits>.seg`.
//! Each segment starts with a 16-byte header (`b"TRNSEG01"`, then the first sequence as u64 LE)
//! followed by frames (see [`super::frame`]). A batch never spans two segments.
//!
//! Invariant: a segment's name and header are durable (file and directory fsynced) before any
//! frame is written into it, and the previous segment is fsynced before the journal moves on
//! (under every policy: rollover is rare), so "fsync the current segment" covers every earlier
//! write.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::error::StoreError;

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"TRNSEG01";
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
const SUFFIX: &str = ".seg";

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SUFFIX}")
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

/// The open segment being appended to.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub file: Arc<File>,
    pub len: u64,
}

impl Segment {
    /// Creates `<dir>/<first_seq>.seg` with its header, fsyncs it and the directory.
    pub(crate) fn create(
        dir: &Path,
        first_seq: u64,
        counter: &SyncCounter,
    ) -> Result<Segment, StoreError> {
        let path = dir.join(segment_name(first_seq));
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(format!("creating {}", path.display()), e))?;
        file.write_all(&segment_header(first_seq))
            .map_err(|e| StoreError::io(format!("writing {}", path.display()), e))?;
        counter.sync(&file, &path)?;
        sync_dir(dir)?;
        Ok(Segment {
            path,
            file: Arc::new(file),
            len: SEGMENT_HEADER_LEN,
        })
    }

    /// Opens an existing, recovered segment of `len` bytes for appending.
    pub(crate) fn open_append(path: PathBuf, len: u64) -> Result<Segment, StoreError> {
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
        Ok(Segment {
            path,
            file: Arc::new(file),
            len,
        })
    }
}

/// Appends frames to the current segment, rolling over to a new one past `segment_size`.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    current: Segment,
    segment_size: u64,
}

impl Journal {
    pub(crate) fn new(dir: PathBuf, current: Segment, segment_size: u64) -> Journal {
        Journal {
            dir,
            current,
            segment_size,
        }
    }

    /// Writes one batch's frames (`bytes`, whose first frame has sequence `first_seq`) with a
    /// single `write`, in one segment. On error the journal may hold a torn batch: the caller
    /// must stop appending (recovery removes it on reopen).
    pub(crate) fn append(
        &mut self,
        bytes: &[u8],
        first_seq: u64,
        counter: &SyncCounter,
    ) -> Result<(), StoreError> {
        let has_frames = self.current.len > SEGMENT_HEADER_LEN;
        if has_frames && self.current.len + bytes.len() as u64 > self.segment_size {
            counter.sync(&self.current.file, &self.current.path)?;
            self.current = Segment::create(&self.dir, first_seq, counter)?;
        }
        (&*self.current.file)
            .write_all(bytes)
            .map_err(|e| StoreError::io(format!("writing {}", self.current.path.display()), e))?;
        self.current.len += bytes.len() as u64;
        Ok(())
    }

    /// The segment every unsynced write is in.
    pub(crate) fn current(&self) -> (&Arc<File>, &Path) {
        (&self.current.file, &self.current.path)
    }

    /// Current segment's path and length (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn position(&self) -> (PathBuf, u64) {
        (self.current.path.clone(), self.current.len)
    }
}
