//! The on-disk log: reopen cost, crash recovery, derived files, retention, the v1 refusal and
//! bounded memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::segment::{index_name, list_segments};
use super::test_dir::TestDir;
use super::*;

fn cfg(dir: &TestDir, sync: SyncPolicy) -> Config {
    Config {
        sync,
        segment_size: MIN_SEGMENT_SIZE,
        ..Config::on_disk(dir.path())
    }
}

fn req(stream: &str, payload: &[u8]) -> AppendRequest {
    AppendRequest::new(stream, 1, payload.to_vec())
}

/// xorshift: deterministic "random" points.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn set_len(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x08;
    std::fs::write(path, b).unwrap();
}

/// Every event 1..=n reads back with the receipt it was given, by id, by sequence and by stream.
fn assert_all_present(s: &Store, receipts: &[(String, Receipt, Vec<u8>)]) {
    let all = s.read_from_sequence(1, usize::MAX).unwrap();
    assert!(all.len() >= receipts.len());
    for (i, (stream, r, payload)) in receipts.iter().enumerate() {
        assert_eq!(all[i].sequence, r.sequence);
        assert_eq!(all[i].id, r.id);
        assert_eq!(&all[i].payload, payload);
        let e = s.get(r.id).unwrap();
        assert_eq!(
            (e.sequence, e.stream_version),
            (r.sequence, r.stream_version)
        );
        assert_eq!(&e.stream, stream);
        let by_stream = s.read(stream, r.stream_version, 1).unwrap();
        assert_eq!(by_stream[0].id, r.id);
    }
}

/// The inode, length and bytes of a file (a rewrite by rename gives a new inode).
fn file_state(path: &Path) -> (u64, Vec<u8>) {
    use std::os::unix::fs::MetadataExt;
    (
        std::fs::metadata(path).unwrap().ino(),
        std::fs::read(path).unwrap(),
    )
}

#[test]
fn close_without_appends_writes_nothing_and_the_store_reopens_clean() {
    let dir = TestDir::new("disk-close-nothing");
    {
        let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
        for i in 0..300u32 {
            s.append(req(&format!("s{}", i % 7), &i.to_le_bytes()))
                .unwrap();
        }
        s.close().unwrap();
    }
    let manifest = dir.path().join(super::manifest::MANIFEST_FILE);
    let active = list_segments(dir.path()).unwrap().last().unwrap().0;
    let idx = dir.path().join(index_name(active));
    let (m_before, i_before) = (file_state(&manifest), file_state(&idx));
    for _ in 0..3 {
        let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
        assert_eq!(s.recovery_report().frames_scanned, 0);
        assert_eq!(s.read_from_sequence(300, 1).unwrap()[0].sequence, 300);
        let fsyncs = s.fsync_count();
        s.close().unwrap();
        assert_eq!(s.fsync_count(), fsyncs, "close fsynced a segment");
        assert_eq!(
            file_state(&manifest),
            m_before,
            "close rewrote the MANIFEST"
        );
        assert_eq!(file_state(&idx), i_before, "close rewrote the active index");
    }
    assert_eq!(
        inspect::info(dir.path()).unwrap().clean_shutdown,
        Some(true)
    );

    // One append: close makes it durable and records it (segment fsync, index, MANIFEST).
    let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
    s.append(req("s1", b"last")).unwrap();
    let fsyncs = s.fsync_count();
    s.close().unwrap();
    assert!(s.fsync_count() > fsyncs);
    assert_ne!(file_state(&manifest).0, m_before.0);
    drop(s);
    let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
    assert_eq!(s.recovery_report().frames_scanned, 0);
    assert_eq!(s.head(), 301);
    assert_eq!(
        &s.read_from_sequence(301, 1).unwrap()[0].payload[..],
        b"last"
    );
    drop(s);
    assert_eq!(
        inspect::info(dir.path()).unwrap().clean_shutdown,
        Some(true)
    );
}

#[test]
fn reopen_after_a_clean_close_scans_no_frames() {
    let dir = TestDir::new("clean-reopen");
    let mut receipts = Vec::new();
    {
        let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
        for i in 0..500u32 {
            let stream = format!("s{}", i % 7);
            let payload = vec![i as u8; 100];
            receipts.push((
                stream.clone(),
                s.append(req(&stream, &payload)).unwrap(),
                payload,
            ));
        }
        s.close().unwrap();
    }
    let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
    let r = s.recovery_report();
    assert!(r.segments > 5, "{r:?}");
    assert_eq!(
        (
            r.frames_scanned,
            r.indexes_rebuilt,
            r.manifest_rebuilt,
            r.truncated.clone()
        ),
        (0, 0, false, None)
    );
    let stats = s.stats();
    assert_eq!(stats.frames_scanned_at_open, 0);
    assert_eq!(
        (stats.first_sequence, stats.last_sequence, stats.events),
        (1, 500, 500)
    );
    assert_eq!(stats.segments, r.segments as u64);
    assert_all_present(&s, &receipts);
    assert_eq!(s.stream_version("s3").unwrap(), 71);
    let next = s.append(req("s3", b"x")).unwrap();
    assert_eq!((next.sequence, next.stream_version), (501, 72));
}

#[test]
fn a_crash_at_random_points_keeps_every_durable_event_and_renumbers_nothing() {
    let dir = TestDir::new("crash-random");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut acked: Vec<(String, Receipt, Vec<u8>)> = Vec::new();
    for round in 0..25 {
        let c = Config {
            index_flush_events: 1 + rng.below(40),
            ..cfg(&dir, SyncPolicy::Always)
        };
        let s = Store::open(c).unwrap();
        assert!(s.head() >= acked.len() as u64, "round {round}");
        assert_all_present(&s, &acked);
        // What survived beyond the acknowledged events (a whole in-flight batch) is kept.
        let extra = s
            .read_from_sequence(acked.len() as u64 + 1, usize::MAX)
            .unwrap();
        for e in extra {
            acked.push((e.stream.clone(), Receipt::from(&*e), e.payload.clone()));
        }
        for _ in 0..rng.below(30) {
            let stream = format!("k{}", rng.below(5));
            let payload = vec![rng.next() as u8; rng.below(300) as usize];
            let r = s
                .append(req(&stream, &payload).with_idempotency_key(format!("key-{}", acked.len())))
                .unwrap();
            assert_eq!(r.sequence, acked.len() as u64 + 1, "nothing renumbered");
            acked.push((stream, r, payload));
        }
        // A batch in flight when the process dies: torn anywhere in the last segment's tail.
        let (path, durable_len) = s.journal_position().unwrap();
        let batch: Vec<AppendRequest> = (0..1 + rng.below(4))
            .map(|i| req("inflight", &vec![i as u8; rng.below(200) as usize]))
            .collect();
        let _ = s.append_batch(batch);
        let (path2, len2) = s.journal_position().unwrap();
        s.simulate_crash();
        drop(s);
        // Only bytes beyond what the MANIFEST recorded as fsynced can be torn.
        let recorded = super::manifest::Manifest::read(dir.path())
            .unwrap()
            .flatten()
            .map_or(0, |m| m.segments.last().unwrap().len);
        let from = durable_len.max(recorded);
        if path2 == path && len2 > from {
            set_len(&path, from + rng.below(len2 - from + 1));
        }
        // Derived files may be lost too.
        match rng.below(4) {
            0 => {
                let _ = std::fs::remove_dir_all(dir.path().join(INDEX_DIR));
            }
            1 => {
                for (base, _) in list_segments(dir.path()).unwrap() {
                    let _ = std::fs::remove_file(dir.path().join(index_name(base)));
                }
            }
            2 => {
                let _ = std::fs::remove_file(dir.path().join("MANIFEST"));
            }
            _ => {}
        }
    }
    let s = Store::open(cfg(&dir, SyncPolicy::Always)).unwrap();
    assert_all_present(&s, &acked);
    // Versions go on from the recovered ones; keys still replay.
    let (stream, first, payload) = acked[0].clone();
    let again = s
        .append(req(&stream, &payload).with_idempotency_key("key-0"))
        .unwrap();
    assert_eq!(again, first);
}

#[test]
fn never_loses_only_the_write_buffer_on_a_process_crash() {
    let dir = TestDir::new("never-crash");
    {
        let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
        for i in 0..10u8 {
            s.append(req("a", &[i; 10])).unwrap();
        }
        s.sync().unwrap();
        for i in 0..10u8 {
            s.append(req("a", &[i; 10])).unwrap();
        }
        assert_eq!(s.head(), 20, "buffered events are visible");
        assert_eq!(s.read("a", 15, 100).unwrap().len(), 6);
        s.simulate_crash();
    }
    let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
    assert_eq!(
        s.head(),
        10,
        "the synced events survive, the buffered ones were lost"
    );
    assert_eq!(s.append(req("a", b"x")).unwrap().stream_version, 11);
}

#[test]
fn a_crash_replays_only_the_tail_after_the_last_index_flush() {
    let dir = TestDir::new("flush-tail");
    let c = Config {
        segment_size: 64 << 20,
        index_flush_events: 100,
        ..cfg(&dir, SyncPolicy::Always)
    };
    {
        let s = Store::open(c.clone()).unwrap();
        for i in 0..250u32 {
            s.append(req("a", &i.to_le_bytes())).unwrap();
        }
        s.simulate_crash();
    }
    let s = Store::open(c).unwrap();
    assert_eq!(s.head(), 250);
    assert_eq!(s.stats().frames_scanned_at_open, 50);
    assert_eq!(
        s.read("a", 250, 1).unwrap()[0].payload,
        249u32.to_le_bytes()
    );
}

fn populate_segments(dir: &TestDir, n: u32) -> Vec<Receipt> {
    let s = Store::open(cfg(dir, SyncPolicy::Never)).unwrap();
    let out = (0..n)
        .map(|i| {
            s.append(req(&format!("s{}", i % 3), &[i as u8; 200]))
                .unwrap()
        })
        .collect();
    s.close().unwrap();
    out
}

#[test]
fn a_missing_newest_segment_is_corrupt_and_names_it() {
    let dir = TestDir::new("missing-newest");
    populate_segments(&dir, 100);
    let segs = list_segments(dir.path()).unwrap();
    assert!(segs.len() > 2);
    let newest = segs.last().unwrap().1.clone();
    std::fs::remove_file(&newest).unwrap();
    match Store::open(cfg(&dir, SyncPolicy::Never)) {
        Err(StoreError::Corrupt { file, reason, .. }) => {
            assert_eq!(file, newest);
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_shortened_sealed_segment_is_corrupt() {
    let dir = TestDir::new("short-sealed");
    populate_segments(&dir, 100);
    let segs = list_segments(dir.path()).unwrap();
    let victim: PathBuf = segs[1].1.clone();
    let len = std::fs::metadata(&victim).unwrap().len();
    set_len(&victim, len - 3);
    assert!(matches!(
        Store::open(cfg(&dir, SyncPolicy::Never)),
        Err(StoreError::Corrupt { file, .. }) if file == victim
    ));
}

#[test]
fn damaged_or_deleted_derived_files_are_rebuilt() {
    let dir = TestDir::new("derived");
    let receipts = populate_segments(&dir, 120);
    let check = |expect: &dyn Fn(&RecoveryReport)| {
        let s = Store::open(cfg(&dir, SyncPolicy::Never)).unwrap();
        expect(s.recovery_report());
        assert_eq!(s.head(), 120);
        for r in &receipts {
            assert_eq!(s.get(r.id).unwrap().sequence, r.sequence);
        }
        assert_eq!(s.read("s1", 1, 1000).unwrap().len(), 40);
        assert_eq!(s.stream_version("s2").unwrap(), 40);
        s.close().unwrap();
    };
    let segs = list_segments(dir.path()).unwrap();
    // A bit flipped in a sealed segment's index: noticed by its checksum when read.
    flip(&dir.path().join(index_name(segs[1].0)), 40);
    check(&|r| assert_eq!(r.frames_scanned, 0));
    // Every index file deleted.
    for (base, _) in &segs {
        std::fs::remove_file(dir.path().join(index_name(*base))).unwrap();
    }
    check(&|r| assert!(r.indexes_rebuilt as usize >= segs.len() - 1, "{r:?}"));
    // The MANIFEST damaged: rebuilt from a full scan.
    flip(&dir.path().join("MANIFEST"), 20);
    check(&|r| assert!(r.manifest_rebuilt && r.frames_scanned == 120, "{r:?}"));
    // The MANIFEST and the secondary index directory deleted.
    std::fs::remove_file(dir.path().join("MANIFEST")).unwrap();
    let _ = std::fs::remove_dir_all(dir.path().join(INDEX_DIR));
    check(&|r| assert!(r.manifest_rebuilt, "{r:?}"));
    check(&|r| assert_eq!(r.frames_scanned, 0, "{r:?}"));
}

#[test]
fn a_v1_directory_is_refused_as_unsupported() {
    let dir = TestDir::new("v1");
    let mut seg = b"TRNSEG01".to_vec();
    seg.extend_from_slice(&1u64.to_le_bytes());
    std::fs::write(dir.path().join("00000000000000000001.seg"), seg).unwrap();
    match Store::open(cfg(&dir, SyncPolicy::Never)) {
        Err(e @ StoreError::Unsupported(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("v1") && msg.contains("TRNSEG01"), "{msg}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn retention_by_bytes_removes_whole_old_segments_and_versions_keep_counting() {
    let dir = TestDir::new("retention-bytes");
    let c = Config {
        retention_bytes: 16 << 10,
        ..cfg(&dir, SyncPolicy::Never)
    };
    let s = Store::open(c.clone()).unwrap();
    let first = s
        .append(req("r", &[0; 500]).with_idempotency_key("first"))
        .unwrap();
    for i in 1..200u32 {
        s.append(req("r", &[i as u8; 500])).unwrap();
    }
    let stats = s.stats();
    assert!(
        stats.bytes_on_disk <= (16 << 10) + MIN_SEGMENT_SIZE,
        "{stats:?}"
    );
    let kept = s.first_sequence();
    assert!(kept > 1 && kept == stats.first_sequence);
    assert_eq!(stats.events, 200 - kept + 1);
    let truncated = |e: StoreError| matches!(e, StoreError::Truncated { first_retained } if first_retained == kept);
    assert!(truncated(s.read_from_sequence(1, 10).unwrap_err()));
    assert_eq!(s.read_from_sequence(0, 1).unwrap()[0].sequence, kept);
    assert_eq!(s.read_from_sequence(kept, 1).unwrap()[0].sequence, kept);
    assert!(truncated(s.get(first.id).unwrap_err()));
    assert!(truncated(s.read("r", 1, 10).unwrap_err()));
    assert!(truncated(s.read("r", 0, 10).unwrap_err()));
    assert_eq!(s.read("r", kept, 1).unwrap()[0].sequence, kept);
    assert_eq!(s.stream_version("r").unwrap(), 200);
    // The removed event's key is refused, not appended a second time.
    assert!(truncated(
        s.append(req("r", &[0; 500]).with_idempotency_key("first"))
            .unwrap_err()
    ));
    let next = s.append(req("r", b"after")).unwrap();
    assert_eq!((next.sequence, next.stream_version), (201, 201));
    s.close().unwrap();
    let s = Store::open(c).unwrap();
    assert_eq!(s.first_sequence(), kept);
    assert_eq!(s.stats().frames_scanned_at_open, 0);
    assert_eq!(s.stream_version("r").unwrap(), 201);
    let files = list_segments(dir.path()).unwrap();
    assert_eq!(files[0].0, kept, "removed segments' files are gone");
}

#[test]
fn retention_by_age_removes_segments_older_than_the_limit() {
    let dir = TestDir::new("retention-age");
    let s = Store::open(Config {
        retention_age: Some(Duration::from_nanos(1)),
        ..cfg(&dir, SyncPolicy::Never)
    })
    .unwrap();
    for i in 0..100u32 {
        s.append(req("r", &[i as u8; 300])).unwrap();
    }
    // Every sealed segment is older than 1 ns at the next rollover.
    assert!(s.first_sequence() > 1);
    assert_eq!(s.stats().segments, 1);
}

#[test]
fn truncate_removes_whole_sealed_segments_below_a_sequence() {
    let dir = TestDir::new("truncate");
    let s = Store::open(cfg(&dir, SyncPolicy::Always)).unwrap();
    let root = s.append(req("c", b"root")).unwrap();
    let mut last = root;
    for i in 0..60u32 {
        last = s
            .append(
                req("c", &[i as u8; 300])
                    .with_correlation(root.id)
                    .with_causation(last.id),
            )
            .unwrap();
    }
    assert_eq!(s.truncate(1).unwrap(), 1, "nothing below sequence 1");
    let first = s.truncate(30).unwrap();
    assert!(first > 1 && first <= 30, "{first}");
    assert_eq!(s.first_sequence(), first);
    assert!(matches!(
        s.get(root.id),
        Err(StoreError::Truncated { first_retained }) if first_retained == first
    ));
    // Causal queries keep to the retained events.
    let chain = s.ancestors(last.id).unwrap();
    assert_eq!(chain.last().unwrap().sequence, first);
    let group = s.correlated(last.id).unwrap();
    assert_eq!(group.len() as u64, 61 - first + 1);
    // Never the segment being appended to, whatever is asked.
    s.truncate(u64::MAX).unwrap();
    assert_eq!(s.read_from_sequence(0, 1).unwrap().len(), 1);
    assert_eq!(s.read_from_sequence(61, 1).unwrap()[0].id, last.id);
    let mem = Store::open(Config::in_memory()).unwrap();
    assert!(matches!(mem.truncate(5), Err(StoreError::Unsupported(_))));
}

/// Heap held by the store (log tables and buffers, version cache, secondary index) after
/// reopening a store of `n` × 128 B events and reading its last event, and the index's share.
fn heap_after_reopen(n: u32) -> (u64, u64) {
    let dir = TestDir::new("heap");
    let c = Config {
        segment_size: 1 << 20,
        ..cfg(&dir, SyncPolicy::Never)
    };
    {
        let s = Store::open(c.clone()).unwrap();
        let batch: Vec<u32> = (0..n).collect();
        for chunk in batch.chunks(1000) {
            s.append_batch(
                chunk
                    .iter()
                    .map(|&i| req(&format!("stream-{}", i % 100), &[i as u8; 128]))
                    .collect(),
            )
            .unwrap();
        }
        s.close().unwrap();
    }
    let s = Store::open(c).unwrap();
    let last = s.read_from_sequence(u64::from(n), 1).unwrap();
    assert_eq!(last[0].sequence, u64::from(n));
    let st = s.stats();
    assert_eq!(st.frames_scanned_at_open, 0);
    assert_eq!(
        st.index_covered_sequence,
        u64::from(n),
        "a clean close leaves nothing to replay"
    );
    (st.heap_bytes, st.index_heap_bytes)
}

#[test]
fn heap_after_reopen_does_not_grow_with_the_log() {
    let (h100, i100) = heap_after_reopen(100_000);
    let (h200, i200) = heap_after_reopen(200_000);
    assert!(
        i200 < 64 << 10,
        "index heap {i200} B after reopening 200k events"
    );
    assert!(
        i200 <= i100 + (16 << 10),
        "index heap: 100k: {i100} B, 200k: {i200} B"
    );
    assert!(h200 < 2 << 20, "{h200} bytes for 200k events");
    assert!(
        h200 < h100 + (64 << 10),
        "100k events: {h100} B, 200k events: {h200} B"
    );
}

#[test]
fn readers_and_an_appender_share_a_rolling_log() {
    let dir = TestDir::new("concurrent-read");
    let s = Arc::new(Store::open(cfg(&dir, SyncPolicy::Never)).unwrap());
    let reader = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut next = 1;
            while next <= 2000 {
                if s.wait_for_sequence(next - 1, Some(Duration::from_secs(10)))
                    == WaitOutcome::TimedOut
                {
                    panic!("no progress");
                }
                for e in s.read_from_sequence(next, 300).unwrap() {
                    assert_eq!(e.sequence, next);
                    assert_eq!(e.payload, (next as u32).to_le_bytes());
                    next += 1;
                }
            }
        })
    };
    for i in 1..=2000u32 {
        s.append(req("x", &i.to_le_bytes())).unwrap();
    }
    reader.join().unwrap();
}
