//! What opening a store directory found and repaired (the recovery itself is in
//! [`super::disk`], which documents what counts as a torn tail).
//!
//! Invariant: the only damage repaired silently is a torn tail of the last segment beyond the
//! MANIFEST's recorded fsynced extent (and rebuilt derived files); everything else is
//! `Corrupt` with the file and offset, and nothing is modified.

use std::path::PathBuf;

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
    /// Segment files found.
    pub segments: usize,
    /// Events in the log after recovery (retained ones).
    pub events: u64,
    /// The torn tail removed, if there was one.
    pub truncated: Option<Truncation>,
    /// Frames decoded to open the log: those after what the MANIFEST and the index files
    /// cover, plus the segments whose index had to be rebuilt (0 after a clean close).
    pub frames_scanned: u64,
    /// Segment index files (`.idx`) found missing, stale or damaged and rebuilt.
    pub indexes_rebuilt: u64,
    /// The MANIFEST was missing or damaged and was rebuilt from a full scan.
    pub manifest_rebuilt: bool,
    /// Events replayed from the log into the secondary indexes (those after the sequence the
    /// index files cover).
    pub index_replayed: u64,
    /// The secondary index files were unusable (damaged, or ahead of the log) and were
    /// rebuilt from the log.
    pub index_rebuilt: bool,
}

#[cfg(test)]
mod tests {
    use super::super::segment::{list_segments, segment_header, SEGMENT_HEADER_LEN};
    use super::super::test_dir::TestDir;
    use super::super::{AppendRequest, Config, Store, StoreError, SyncPolicy};
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::path::PathBuf;

    const STREAM: &str = "s";
    const PAYLOAD: usize = 32;
    /// Every frame in these tests: no key, stream "s" (number 0), a version below 128, a
    /// 32-byte payload: 43 + 1 + 1 + 32 bytes.
    const FRAME: u64 = 77;
    /// The first frame of a segment also defines the stream: + varint length + "s".
    const DEF: u64 = 2;
    const FIRST: u64 = SEGMENT_HEADER_LEN;

    /// Offset of frame `k` (0-based) of the first segment.
    fn at(k: u64) -> u64 {
        if k == 0 {
            FIRST
        } else {
            FIRST + DEF + k * FRAME
        }
    }

    fn cfg(dir: &TestDir) -> Config {
        Config {
            sync: SyncPolicy::Always,
            ..Config::on_disk(dir.path())
        }
    }

    /// Writes `n` single appends and (if `batch`) one batch of 3, then ends the store like a
    /// killed process (nothing recorded in the MANIFEST beyond the segment's creation);
    /// returns the segment and its length.
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
        let pos = s.journal_position().unwrap();
        s.simulate_crash();
        pos
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
        assert_eq!(len, at(5));
        set_len(&path, len - 10); // the fifth frame lost its last 10 bytes
        let s = Store::open(cfg(&dir)).unwrap();
        assert_eq!(s.head(), 4);
        let cut = s.recovery_report().truncated.clone().unwrap();
        assert_eq!(
            (cut.file, cut.offset, cut.removed),
            (path.clone(), at(4), FRAME - 10)
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), at(4));
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
            at(2)
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
        let frame2 = at(1);
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
        let frame3 = at(2);
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
        let segs = list_segments(dir.path()).unwrap();
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
        let segs = list_segments(dir.path()).unwrap();
        assert!(segs.len() > 2);
        std::fs::remove_file(&segs[1].1).unwrap();
        assert!(matches!(
            Store::open(c),
            Err(StoreError::Corrupt { file, offset: 0, .. }) if file == segs[1].1
        ));
    }

    #[test]
    fn short_header_of_a_new_last_segment_is_rewritten() {
        let dir = TestDir::new("short-header");
        let (path, _) = populate(&dir, 1, false);
        let next = dir.path().join(super::super::segment::segment_name(2));
        std::fs::write(&next, &segment_header(2)[..5]).unwrap();
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
