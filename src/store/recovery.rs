//! Opening a store directory: scan every segment, check every frame, cut a torn tail.
//!
//! Invariant: the only damage repaired silently is a torn tail, i.e. a prefix of the last write
//! (possibly followed by zero fill) at the end of the last segment, together with the rest of
//! the batch it belongs to, since batches are all-or-nothing and were never acknowledged.
//! Anything else (a bad CRC with data after it, a gap in sequences, a foreign header) is
//! `Corrupt` with the file and offset, and nothing is modified.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::event::Event;
use super::frame::{self, FrameError, HEADER_LEN, PREFIX_LEN};
use super::segment::{list_segments, segment_header, SyncCounter, SEGMENT_HEADER_LEN};

/// What recovery cut off the end of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The last segment.
    pub file: PathBuf,
    /// Everything from this offset on was removed (0 when a segment header was torn: the
    /// header was then written again).
    pub offset: u64,
    /// How many bytes were removed.
    pub removed: u64,
}

/// What opening a directory found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files scanned.
    pub segments: usize,
    /// Events recovered.
    pub events: u64,
    /// The torn tail removed, if there was one.
    pub truncated: Option<Truncation>,
}

pub(crate) struct Recovered {
    /// Every event, in sequence order (sequence = index + 1).
    pub events: Vec<Event>,
    /// The last segment and its (possibly truncated) length, to append to.
    pub tail: Option<(PathBuf, u64)>,
    pub report: RecoveryReport,
}

/// A batch whose last frame (the one without MORE_IN_BATCH) has not been seen yet.
struct OpenBatch {
    /// Offset of its first frame.
    offset: usize,
    /// Events recovered before it.
    events_before: usize,
    /// The last event id before it.
    id_before: u128,
    /// (stream, version before the batch) for each of its events, to undo it.
    touched: Vec<(String, u64)>,
}

/// Whether everything in `bytes` is zero (fill left by a crash after the file grew).
fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Whether a frame that failed to decode at the start of `rest` (the remainder of the last
/// segment) looks like the torn end of the last write rather than damage.
fn is_torn_tail(rest: &[u8], err: &FrameError) -> bool {
    match err {
        FrameError::Incomplete => {
            if rest.len() < PREFIX_LEN + HEADER_LEN || frame::header_is_consistent(rest) {
                return true;
            }
            // The header itself was cut and the rest is zero fill.
            let last_nonzero = rest.iter().rposition(|&b| b != 0).unwrap_or(0);
            last_nonzero < PREFIX_LEN + HEADER_LEN
        }
        FrameError::BadLength(_) => all_zero(rest),
        FrameError::BadChecksum { .. } => {
            let len = PREFIX_LEN + u32::from_le_bytes(rest[..4].try_into().expect("4")) as usize;
            all_zero(&rest[len..])
        }
        FrameError::BadHeader(_) => false,
    }
}

fn corrupt(path: &Path, offset: usize, reason: impl Into<String>) -> StoreError {
    StoreError::corrupt(path, offset as u64, reason)
}

/// Scans `dir`. Truncates a torn tail (and fsyncs the file); fails with `Corrupt` otherwise.
pub(crate) fn recover(dir: &Path, counter: &SyncCounter) -> Result<Recovered, StoreError> {
    let segments = list_segments(dir)?;
    let mut events: Vec<Event> = Vec::new();
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut last_id = 0u128;
    let mut report = RecoveryReport {
        segments: segments.len(),
        ..RecoveryReport::default()
    };
    let mut tail = None;

    for (i, (first_seq, path)) in segments.iter().enumerate() {
        let is_last = i + 1 == segments.len();
        let data = std::fs::read(path)
            .map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
        let next_seq = events.len() as u64 + 1;
        if *first_seq != next_seq {
            return Err(corrupt(
                path,
                0,
                format!("segment starts at sequence {first_seq}, expected {next_seq}"),
            ));
        }
        let header = segment_header(*first_seq);
        if data.len() < SEGMENT_HEADER_LEN as usize {
            // Only a crash while creating the last segment leaves a short header.
            if !is_last || !header.starts_with(&data) {
                return Err(corrupt(path, 0, "short segment header"));
            }
            rewrite_header(path, &header, counter)?;
            report.truncated = Some(Truncation {
                file: path.clone(),
                offset: 0,
                removed: data.len() as u64,
            });
            tail = Some((path.clone(), SEGMENT_HEADER_LEN));
            continue;
        }
        if data[..SEGMENT_HEADER_LEN as usize] != header {
            return Err(corrupt(path, 0, "bad segment header"));
        }

        let mut off = SEGMENT_HEADER_LEN as usize;
        let mut open_batch: Option<OpenBatch> = None;
        let mut cut_at: Option<usize> = None;
        while off < data.len() {
            match frame::decode(&data[off..]) {
                Ok(d) => {
                    let e = d.event;
                    let want = events.len() as u64 + 1;
                    if e.sequence != want {
                        return Err(corrupt(
                            path,
                            off,
                            format!("frame has sequence {}, expected {want}", e.sequence),
                        ));
                    }
                    if e.id.as_u128() <= last_id {
                        return Err(corrupt(path, off, "event id does not increase"));
                    }
                    let version = versions.get(&e.stream).copied().unwrap_or(0);
                    if e.stream_version != version + 1 {
                        return Err(corrupt(
                            path,
                            off,
                            format!(
                                "stream {:?} version {}, expected {}",
                                e.stream,
                                e.stream_version,
                                version + 1
                            ),
                        ));
                    }
                    let batch = open_batch.get_or_insert_with(|| OpenBatch {
                        offset: off,
                        events_before: events.len(),
                        id_before: last_id,
                        touched: Vec::new(),
                    });
                    batch.touched.push((e.stream.clone(), version));
                    versions.insert(e.stream.clone(), e.stream_version);
                    last_id = e.id.as_u128();
                    events.push(e);
                    off += d.len;
                    if !d.more_in_batch {
                        open_batch = None;
                    }
                }
                Err(err) => {
                    if !is_last || !is_torn_tail(&data[off..], &err) {
                        return Err(corrupt(path, off, err.to_string()));
                    }
                    cut_at = Some(off);
                    break;
                }
            }
        }
        if let Some(OpenBatch {
            offset: start,
            events_before: n_before,
            id_before,
            touched,
        }) = open_batch
        {
            if !is_last {
                return Err(corrupt(
                    path,
                    start,
                    "batch continues past the end of its segment",
                ));
            }
            // The batch was never acknowledged: drop all of it.
            events.truncate(n_before);
            last_id = id_before;
            for (stream, v) in touched.into_iter().rev() {
                versions.insert(stream, v);
            }
            cut_at = Some(start);
        }
        let len = match cut_at {
            Some(at) => {
                truncate(path, at as u64, counter)?;
                report.truncated = Some(Truncation {
                    file: path.clone(),
                    offset: at as u64,
                    removed: (data.len() - at) as u64,
                });
                at as u64
            }
            None => data.len() as u64,
        };
        if is_last {
            tail = Some((path.clone(), len));
        }
    }
    report.events = events.len() as u64;
    Ok(Recovered {
        events,
        tail,
        report,
    })
}

fn truncate(path: &Path, len: u64, counter: &SyncCounter) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
    file.set_len(len)
        .map_err(|e| StoreError::io(format!("truncating {}", path.display()), e))?;
    counter.sync(&file, path)
}

fn rewrite_header(path: &Path, header: &[u8], counter: &SyncCounter) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
    file.write_all(header)
        .map_err(|e| StoreError::io(format!("writing {}", path.display()), e))?;
    counter.sync(&file, path)
}

#[cfg(test)]
mod tests {
    use super::super::frame::{HEADER_LEN, PREFIX_LEN};
    use super::super::test_dir::TestDir;
    use super::super::{AppendRequest, Config, Store, StoreError, SyncPolicy};
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::path::PathBuf;

    const STREAM: &str = "s";
    const PAYLOAD: usize = 32;
    /// Every frame in these tests: no key, stream "s", 32-byte payload.
    const FRAME: u64 = (PREFIX_LEN + HEADER_LEN + STREAM.len() + PAYLOAD) as u64;
    const FIRST: u64 = super::SEGMENT_HEADER_LEN;

    fn cfg(dir: &TestDir) -> Config {
        Config {
            sync: SyncPolicy::Always,
            ..Config::on_disk(dir.path())
        }
    }

    /// Writes `n` single appends and (if `batch`) one batch of 3, returns the segment.
    fn populate(dir: &TestDir, n: u8, batch: bool) -> (PathBuf, u64) {
        let s = Store::open(cfg(dir)).unwrap();
        for i in 0..n {
            s.append(AppendRequest::new(STREAM, 1, vec![i; PAYLOAD]))
                .unwrap();
        }
        if batch {
            s.append_batch(
                (0..3)
                    .map(|i| AppendRequest::new(STREAM, 2, vec![100 + i; PAYLOAD]))
                    .collect(),
            )
            .unwrap();
        }
        s.journal_position().unwrap()
    }

    fn set_len(path: &PathBuf, len: u64) {
        OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(len)
            .unwrap();
    }

    #[test]
    fn torn_tail_is_truncated_and_appends_continue_after_it() {
        let dir = TestDir::new("torn");
        let (path, len) = populate(&dir, 5, false);
        assert_eq!(len, FIRST + 5 * FRAME);
        set_len(&path, len - 10); // the fifth frame lost its last 10 bytes
        let s = Store::open(cfg(&dir)).unwrap();
        assert_eq!(s.head(), 4);
        let cut = s.recovery_report().truncated.clone().unwrap();
        assert_eq!(
            (cut.file, cut.offset, cut.removed),
            (path.clone(), FIRST + 4 * FRAME, FRAME - 10)
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), FIRST + 4 * FRAME);
        let r = s
            .append(AppendRequest::new(STREAM, 1, vec![9; PAYLOAD]))
            .unwrap();
        assert_eq!((r.sequence, r.stream_version), (5, 5));
        drop(s);
        let s = Store::open(cfg(&dir)).unwrap();
        assert_eq!(s.head(), 5);
        assert_eq!(s.recovery_report().truncated, None);
    }

    #[test]
    fn torn_batch_is_removed_whole() {
        let dir = TestDir::new("torn-batch");
        let (path, len) = populate(&dir, 2, true);
        set_len(&path, len - 1); // only the batch's last frame is damaged
        let s = Store::open(cfg(&dir)).unwrap();
        assert_eq!(s.head(), 2, "the two complete frames of the batch went too");
        assert_eq!(
            s.recovery_report().truncated.as_ref().unwrap().offset,
            FIRST + 2 * FRAME
        );
        assert_eq!(s.stream_version(STREAM).unwrap(), 2);
    }

    #[test]
    fn zero_filled_tail_is_truncated() {
        let dir = TestDir::new("zeros");
        let (path, len) = populate(&dir, 3, false);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0; 300]).unwrap();
        drop(f);
        let s = Store::open(cfg(&dir)).unwrap();
        assert_eq!(s.head(), 3);
        assert_eq!(s.recovery_report().truncated.as_ref().unwrap().offset, len);
    }

    #[test]
    fn flipped_byte_mid_segment_is_corrupt_at_that_frame_and_nothing_is_changed() {
        let dir = TestDir::new("flip");
        let (path, len) = populate(&dir, 5, false);
        let frame2 = FIRST + FRAME;
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(frame2 + FRAME - 5) as usize] ^= 0x01; // inside the second frame's payload
        std::fs::write(&path, &bytes).unwrap();
        match Store::open(cfg(&dir)) {
            Err(StoreError::Corrupt { file, offset, .. }) => {
                assert_eq!(file, path);
                assert_eq!(offset, frame2);
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "corruption is reported, not repaired"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    }

    #[test]
    fn damaged_length_mid_segment_is_corrupt_not_a_torn_tail() {
        let dir = TestDir::new("flip-len");
        let (path, _) = populate(&dir, 5, false);
        let frame3 = FIRST + 2 * FRAME;
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[frame3 as usize + 2] ^= 0x10; // body_len now points far past the end
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Store::open(cfg(&dir)),
            Err(StoreError::Corrupt { offset, .. }) if offset == frame3
        ));
    }

    #[test]
    fn damage_in_an_earlier_segment_is_corrupt_even_at_its_end() {
        let dir = TestDir::new("old-seg");
        let c = Config {
            segment_size: super::super::MIN_SEGMENT_SIZE,
            ..cfg(&dir)
        };
        {
            let s = Store::open(c.clone()).unwrap();
            for i in 0..10u8 {
                s.append(AppendRequest::new(STREAM, 1, vec![i; 1000]))
                    .unwrap();
            }
        }
        let segs = super::list_segments(dir.path()).unwrap();
        assert!(segs.len() > 1);
        let first = &segs[0].1;
        let len = std::fs::metadata(first).unwrap().len();
        set_len(first, len - 1);
        assert!(matches!(
            Store::open(c),
            Err(StoreError::Corrupt { file, .. }) if &file == first
        ));
    }

    #[test]
    fn missing_segment_is_corrupt() {
        let dir = TestDir::new("gap");
        let c = Config {
            segment_size: super::super::MIN_SEGMENT_SIZE,
            ..cfg(&dir)
        };
        {
            let s = Store::open(c.clone()).unwrap();
            for i in 0..12u8 {
                s.append(AppendRequest::new(STREAM, 1, vec![i; 1000]))
                    .unwrap();
            }
        }
        let segs = super::list_segments(dir.path()).unwrap();
        assert!(segs.len() > 2);
        std::fs::remove_file(&segs[1].1).unwrap();
        assert!(matches!(
            Store::open(c),
            Err(StoreError::Corrupt { file, offset: 0, .. }) if file == segs[2].1
        ));
    }

    #[test]
    fn short_header_of_a_new_last_segment_is_rewritten() {
        let dir = TestDir::new("short-header");
        let (path, _) = populate(&dir, 1, false);
        let next = dir.path().join(super::super::segment::segment_name(2));
        std::fs::write(&next, &super::segment_header(2)[..5]).unwrap();
        let s = Store::open(cfg(&dir)).unwrap();
        assert_eq!(s.head(), 1);
        let cut = s.recovery_report().truncated.clone().unwrap();
        assert_eq!((cut.file, cut.offset, cut.removed), (next.clone(), 0, 5));
        let r = s
            .append(AppendRequest::new(STREAM, 1, vec![0; PAYLOAD]))
            .unwrap();
        assert_eq!(r.sequence, 2);
        assert_eq!(s.journal_position().unwrap().0, next);
        assert_ne!(path, next);
    }
}
