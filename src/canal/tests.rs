//! Canal behaviour against a real store: ordering under concurrent writers, lossless close,
//! durable resume, worker lifecycle, and the refusals.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::checkpoint::{checkpoint_path, encode};
use super::*;
use crate::store::{AppendRequest, Config, Event, Store, SyncPolicy};

const LONG: Option<Duration> = Some(Duration::from_secs(60));

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "transom-canal-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn memory_store() -> Arc<Store> {
    Arc::new(Store::open(Config::in_memory()).unwrap())
}

fn disk_store(dir: &Path) -> Arc<Store> {
    let mut config = Config::on_disk(dir);
    config.sync = SyncPolicy::Never;
    Arc::new(Store::open(config).unwrap())
}

fn append_n(store: &Store, n: u64) {
    let mut left = n;
    while left > 0 {
        let k = left.min(1000);
        let batch = (0..k)
            .map(|i| AppendRequest::new(format!("s{}", i % 8), (i % 4) as u16, vec![i as u8]))
            .collect();
        store.append_batch(batch).unwrap();
        left -= k;
    }
}

fn seqs<T>(items: &[Delivery<T>]) -> Vec<u64> {
    items
        .iter()
        .map(|i| match i {
            Delivery::Event { sequence, .. } => *sequence,
            Delivery::Gap { .. } => panic!("a cursor delivered a gap"),
        })
        .collect()
}

/// Pulls until `Closed` or another error, returning every item and the final error.
fn drain(canal: &mut Canal, max: usize) -> (Vec<Delivery<Event>>, CanalError) {
    let mut all = Vec::new();
    loop {
        match canal.pull_batch(max, LONG) {
            Ok(Pulled::Items(items)) => {
                assert!(!items.is_empty() && items.len() <= max);
                all.extend(items.iter().map(Item::to_owned_item));
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => return (all, e),
        }
    }
}

fn pull_seqs(canal: &mut Canal, max: usize) -> Vec<u64> {
    match canal.pull_batch(max, LONG).unwrap() {
        Pulled::Items(items) => seqs(items),
        other => panic!("expected items, got {other:?}"),
    }
}

#[test]
fn concurrent_writers_cursors_and_subscriptions_each_see_an_ordered_lossless_stream() {
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 20_000;
    let store = memory_store();
    let filters = [
        Filter::all(),
        Filter::all().with_stream_prefix("s1").unwrap(),
        Filter::all().with_kinds([1, 2]),
        Filter::all()
            .with_stream_prefix("s3")
            .unwrap()
            .with_kinds([0, 3]),
    ];
    let start = Arc::new(Barrier::new(WRITERS as usize + 1));
    let subscriptions: Vec<_> = [(64, Overflow::DropOldest), (64, Overflow::DropNewest)]
        .into_iter()
        .map(|(cap, policy)| {
            let mut canal =
                Canal::subscription(&store, SubscriptionOptions::new(cap, policy)).unwrap();
            thread::spawn(move || {
                let (items, end) = drain(&mut canal, 256);
                (items, end, canal.dropped().unwrap())
            })
        })
        .collect();
    let cursors: Vec<_> = filters
        .iter()
        .map(|f| {
            let mut canal = Canal::cursor(
                &store,
                CursorOptions::new(Start::Begin).with_filter(f.clone()),
            )
            .unwrap();
            thread::spawn(move || drain(&mut canal, 256))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_WRITER {
                    let stream = format!("s{}/w{w}", (i + w) % 8);
                    store
                        .append(AppendRequest::new(stream, (i % 4) as u16, vec![w as u8]))
                        .unwrap();
                }
            })
        })
        .collect();
    start.wait();
    for w in writers {
        w.join().unwrap();
    }
    let total = WRITERS * PER_WRITER;
    assert_eq!(store.head(), total);
    store.close().unwrap();
    let all: Vec<Arc<Event>> = store.read_from_sequence(1, total as usize).unwrap();

    for (filter, cursor) in filters.iter().zip(cursors) {
        let (items, end) = cursor.join().unwrap();
        assert_eq!(end, CanalError::Closed);
        let expected: Vec<u64> = all
            .iter()
            .filter(|e| filter.matches(e))
            .map(|e| e.sequence)
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(
            seqs(&items),
            expected,
            "{filter:?}: exactly its events, in order"
        );
    }
    for sub in subscriptions {
        let (items, end, dropped) = sub.join().unwrap();
        assert_eq!(end, CanalError::Closed);
        let (mut last, mut events, mut gaps) = (0u64, 0u64, 0u64);
        for item in &items {
            match item {
                Delivery::Event { sequence, value } => {
                    assert!(*sequence > last, "ordered");
                    assert_eq!(value.sequence, *sequence);
                    last = *sequence;
                    events += 1;
                }
                Delivery::Gap {
                    from_seq,
                    to_seq,
                    count,
                } => {
                    assert!(*from_seq > last && to_seq >= from_seq, "ordered gap");
                    assert!(*count <= to_seq - from_seq + 1);
                    last = *to_seq;
                    gaps += count;
                }
            }
        }
        assert_eq!(gaps, dropped, "drops equal the reported gaps");
        assert_eq!(events + gaps, total, "every event delivered or reported");
    }
}

#[test]
fn closing_the_store_wakes_every_blocked_pull_after_everything_is_handed_out() {
    let store = memory_store();
    let mut canals = vec![
        Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap(),
        Canal::cursor(
            &store,
            CursorOptions::new(Start::Begin)
                .with_filter(Filter::all().with_stream_prefix("s1").unwrap()),
        )
        .unwrap(),
        Canal::subscription(&store, SubscriptionOptions::new(1000, Overflow::DropNewest)).unwrap(),
        Canal::subscription(&store, SubscriptionOptions::new(1000, Overflow::Disconnect)).unwrap(),
    ];
    let expected = [100usize, 13, 100, 100];
    let (ready_tx, ready_rx) = mpsc::channel();
    let pullers: Vec<_> = canals
        .drain(..)
        .map(|mut canal| {
            let ready = ready_tx.clone();
            thread::spawn(move || {
                // Nothing is committed yet: this pull blocks until the close (or the events).
                ready.send(()).unwrap();
                drain(&mut canal, 7)
            })
        })
        .collect();
    for _ in 0..4 {
        ready_rx.recv().unwrap();
    }
    append_n(&store, 100);
    store.close().unwrap();
    for (p, n) in pullers.into_iter().zip(expected) {
        let (items, end) = p.join().unwrap();
        assert_eq!(end, CanalError::Closed);
        assert_eq!(items.len(), n, "nothing lost at close");
    }
}

#[test]
fn pull_after_close_drains_then_keeps_reporting_closed() {
    let store = memory_store();
    let mut sub =
        Canal::subscription(&store, SubscriptionOptions::new(10, Overflow::DropOldest)).unwrap();
    append_n(&store, 3);
    store.close().unwrap();
    let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    assert_eq!(pull_seqs(&mut cursor, 10), vec![1, 2, 3]);
    assert_eq!(pull_seqs(&mut sub, 10), vec![1, 2, 3]);
    for canal in [&mut cursor, &mut sub] {
        assert_eq!(canal.pull_batch(10, LONG), Err(CanalError::Closed));
        assert_eq!(canal.pull_batch(10, None), Err(CanalError::Closed));
    }
    // Opened on a closed store: closed at once (after what the cursor can still read).
    let mut late_sub =
        Canal::subscription(&store, SubscriptionOptions::new(10, Overflow::DropOldest)).unwrap();
    assert_eq!(late_sub.pull_batch(10, None), Err(CanalError::Closed));
    let mut late_cursor = Canal::cursor(&store, CursorOptions::new(Start::End)).unwrap();
    assert_eq!(late_cursor.pull_batch(10, None), Err(CanalError::Closed));
}

#[test]
fn canals_hold_the_store_weakly_and_a_dropped_store_reads_as_closed() {
    let store = memory_store();
    append_n(&store, 2);
    let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let mut sub =
        Canal::subscription(&store, SubscriptionOptions::new(4, Overflow::DropOldest)).unwrap();
    assert_eq!(Arc::strong_count(&store), 1);
    let blocked = thread::spawn(move || {
        let r = sub.pull_batch(4, None).map(|p| format!("{p:?}"));
        (r, sub)
    });
    drop(store); // closes it: the blocked subscription pull wakes with Closed
    let (r, _sub) = blocked.join().unwrap();
    assert_eq!(r, Err(CanalError::Closed));
    assert_eq!(cursor.pull_batch(4, None), Err(CanalError::Closed));
}

#[test]
fn pull_times_out_and_wakes_on_a_commit() {
    let store = memory_store();
    let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let t = Instant::now();
    assert_eq!(
        cursor.pull_batch(4, Some(Duration::from_millis(30))),
        Ok(Pulled::TimedOut)
    );
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        cursor.pull_batch(4, Some(Duration::ZERO)),
        Ok(Pulled::TimedOut)
    );
    let (tx, rx) = mpsc::channel();
    let puller = thread::spawn(move || {
        tx.send(()).unwrap();
        let got = pull_seqs(&mut cursor, 4);
        (got, cursor)
    });
    rx.recv().unwrap();
    append_n(&store, 1);
    assert_eq!(puller.join().unwrap().0, vec![1]);
}

#[test]
fn a_pull_returns_what_is_ready_up_to_max() {
    let store = memory_store();
    append_n(&store, 10);
    let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    assert_eq!(pull_seqs(&mut cursor, 4), vec![1, 2, 3, 4]);
    assert_eq!(pull_seqs(&mut cursor, 100), (5..=10).collect::<Vec<_>>());
}

#[test]
fn cursor_starts_at_begin_end_or_a_sequence() {
    let store = memory_store();
    append_n(&store, 5);
    let mut end = Canal::cursor(&store, CursorOptions::new(Start::End)).unwrap();
    let mut at = Canal::cursor(&store, CursorOptions::new(Start::At(4))).unwrap();
    let mut ahead = Canal::cursor(&store, CursorOptions::new(Start::At(7))).unwrap();
    assert_eq!(end.acked(), Some(5));
    assert_eq!(pull_seqs(&mut at, 10), vec![4, 5]);
    assert_eq!(at.acked(), Some(3));
    append_n(&store, 3);
    assert_eq!(pull_seqs(&mut end, 10), vec![6, 7, 8]);
    assert_eq!(pull_seqs(&mut ahead, 10), vec![7, 8]);
    assert_eq!(
        Canal::cursor(&store, CursorOptions::new(Start::At(0))).err(),
        Some(CanalError::InvalidArgument(
            "a start sequence must be at least 1"
        ))
    );
}

#[test]
fn ack_must_lie_between_the_acked_and_the_delivered_position() {
    let store = memory_store();
    append_n(&store, 10);
    let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    assert!(matches!(cursor.ack(1), Err(CanalError::InvalidArgument(_))));
    assert_eq!(pull_seqs(&mut cursor, 5), vec![1, 2, 3, 4, 5]);
    assert!(matches!(cursor.ack(6), Err(CanalError::InvalidArgument(_))));
    cursor.ack(3).unwrap();
    cursor.ack(3).unwrap();
    assert!(matches!(cursor.ack(2), Err(CanalError::InvalidArgument(_))));
    cursor.ack(5).unwrap();
    assert_eq!(cursor.acked(), Some(5));
    // Rewind re-delivers from the acked position, and forgets the undelivered range.
    assert_eq!(pull_seqs(&mut cursor, 2), vec![6, 7]);
    cursor.rewind().unwrap();
    assert!(matches!(cursor.ack(6), Err(CanalError::InvalidArgument(_))));
    assert_eq!(pull_seqs(&mut cursor, 2), vec![6, 7]);
}

#[test]
fn subscriptions_refuse_cursor_operations() {
    let store = memory_store();
    let mut sub =
        Canal::subscription(&store, SubscriptionOptions::new(4, Overflow::DropOldest)).unwrap();
    assert!(matches!(sub.ack(0), Err(CanalError::InvalidArgument(_))));
    assert!(matches!(
        sub.checkpoint(),
        Err(CanalError::InvalidArgument(_))
    ));
    assert!(matches!(sub.rewind(), Err(CanalError::InvalidArgument(_))));
    assert_eq!((sub.acked(), sub.dropped()), (None, Some(0)));
    assert!(
        Canal::subscription(&store, SubscriptionOptions::new(0, Overflow::DropOldest)).is_err()
    );
    let mut unnamed = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    assert!(matches!(
        unnamed.checkpoint(),
        Err(CanalError::InvalidArgument(_))
    ));
}

#[test]
fn max_zero_is_an_invalid_argument() {
    let store = memory_store();
    append_n(&store, 1);
    let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let mut sub =
        Canal::subscription(&store, SubscriptionOptions::new(4, Overflow::DropOldest)).unwrap();
    for canal in [&mut cursor, &mut sub] {
        assert!(matches!(
            canal.pull_batch(0, LONG),
            Err(CanalError::InvalidArgument(_))
        ));
    }
    let options = WorkerOptions {
        max_batch: 0,
        ..WorkerOptions::default()
    };
    let refused = spawn_worker(cursor, options, |_| WorkerAction::Continue).unwrap_err();
    assert!(matches!(refused.error, CanalError::InvalidArgument(_)));
    // The canal comes back untouched.
    let mut cursor = *refused.canal;
    assert_eq!(pull_seqs(&mut cursor, 4), vec![1]);
}

#[test]
fn bad_or_busy_checkpoint_names_are_refused() {
    let store = memory_store();
    for bad in ["", "a/b", "..", "sp ace", &"n".repeat(256)] {
        assert!(
            matches!(
                Canal::cursor(&store, CursorOptions::new(Start::Named(bad.into()))),
                Err(CanalError::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
    let held = Canal::cursor(&store, CursorOptions::new(Start::Named("p-1.x_y".into()))).unwrap();
    assert_eq!(held.name(), Some("p-1.x_y"));
    assert_eq!(
        Canal::cursor(&store, CursorOptions::new(Start::Named("p-1.x_y".into()))).err(),
        Some(CanalError::NameInUse("p-1.x_y".into()))
    );
    // Another store has its own names.
    let other = memory_store();
    Canal::cursor(&other, CursorOptions::new(Start::Named("p-1.x_y".into()))).unwrap();
    drop(held);
    Canal::cursor(&store, CursorOptions::new(Start::Named("p-1.x_y".into()))).unwrap();
}

#[test]
fn in_memory_checkpoints_last_for_the_store_and_resume_after_the_acked_position() {
    let store = memory_store();
    append_n(&store, 10);
    let named = || CursorOptions::new(Start::Named("proj".into()));
    let mut c = Canal::cursor(&store, named()).unwrap();
    assert_eq!(c.checkpointed(), Some(0));
    assert_eq!(pull_seqs(&mut c, 6), (1..=6).collect::<Vec<_>>());
    c.ack(4).unwrap();
    c.checkpoint().unwrap();
    drop(c);
    let mut c = Canal::cursor(&store, named()).unwrap();
    assert_eq!((c.acked(), c.checkpointed()), (Some(4), Some(4)));
    assert_eq!(pull_seqs(&mut c, 100), (5..=10).collect::<Vec<_>>());
    drop(c);
    // A fresh store knows nothing of it.
    let fresh = memory_store();
    assert_eq!(Canal::cursor(&fresh, named()).unwrap().acked(), Some(0));
}

#[test]
fn durable_cursor_resumes_at_the_first_unacked_event_after_reopening_the_store() {
    let dir = TempDir::new("durable");
    let store = disk_store(dir.path());
    append_n(&store, 10_000);
    let named = || CursorOptions::new(Start::Named("projection".into()));
    let mut cursor = Canal::cursor(&store, named()).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 6_000 {
        seen.extend(pull_seqs(&mut cursor, 256));
    }
    assert_eq!(seen, (1..=seen.len() as u64).collect::<Vec<_>>());
    cursor.ack(5_000).unwrap();
    cursor.checkpoint().unwrap();
    assert!(checkpoint_path(dir.path(), "projection").is_file());
    store.close().unwrap();
    drop(cursor);
    drop(store);

    let store = disk_store(dir.path());
    assert_eq!(store.head(), 10_000);
    let mut cursor = Canal::cursor(&store, named()).unwrap();
    assert_eq!(cursor.acked(), Some(5_000));
    let mut rest = Vec::new();
    while rest.len() < 5_000 {
        rest.extend(pull_seqs(&mut cursor, 256));
    }
    assert_eq!(rest, (5_001..=10_000).collect::<Vec<_>>());
}

#[test]
fn truncated_or_garbage_checkpoint_files_are_corrupt_never_a_silent_begin() {
    let dir = TempDir::new("corrupt");
    let store = disk_store(dir.path());
    append_n(&store, 20);
    let named = || CursorOptions::new(Start::Named("c".into()));
    let mut cursor = Canal::cursor(&store, named()).unwrap();
    pull_seqs(&mut cursor, 10);
    cursor.ack(10).unwrap();
    cursor.checkpoint().unwrap();
    drop(cursor);
    let path = checkpoint_path(dir.path(), "c");
    let good = std::fs::read(&path).unwrap();
    for bad in [
        good[..good.len() - 1].to_vec(),
        Vec::new(),
        b"garbage garbage garb".to_vec(),
    ] {
        std::fs::write(&path, &bad).unwrap();
        match Canal::cursor(&store, named()) {
            Err(CanalError::Corrupt { file, .. }) => assert_eq!(file, path),
            other => panic!("expected Corrupt for {bad:?}, got {other:?}"),
        }
    }
    // The failed opens released the name; a repaired file resumes.
    std::fs::write(&path, &good).unwrap();
    assert_eq!(Canal::cursor(&store, named()).unwrap().acked(), Some(10));
}

#[test]
fn a_checkpoint_above_the_head_is_refused() {
    let dir = TempDir::new("ahead");
    let store = disk_store(dir.path());
    append_n(&store, 3);
    std::fs::create_dir_all(dir.path().join(checkpoint::CHECKPOINT_DIR)).unwrap();
    std::fs::write(checkpoint_path(dir.path(), "lost"), encode(9)).unwrap();
    assert_eq!(
        Canal::cursor(&store, CursorOptions::new(Start::Named("lost".into()))).err(),
        Some(CanalError::CheckpointAhead {
            name: "lost".into(),
            checkpoint: 9,
            head: 3
        })
    );
}

#[test]
fn worker_stop_wakes_a_blocked_pull() {
    for kind in [CanalKind::Cursor, CanalKind::Subscription] {
        let store = memory_store();
        let canal = match kind {
            CanalKind::Cursor => Canal::cursor(&store, CursorOptions::new(Start::Begin)),
            CanalKind::Subscription => {
                Canal::subscription(&store, SubscriptionOptions::new(4, Overflow::DropOldest))
            }
        }
        .unwrap();
        let (tx, rx) = mpsc::channel();
        let worker = spawn_worker(canal, WorkerOptions::default(), move |items| {
            tx.send(items.len()).unwrap();
            WorkerAction::Continue
        })
        .unwrap();
        append_n(&store, 1);
        // The first batch was handled; the worker is now (or soon) blocked in an empty pull.
        assert_eq!(rx.recv().unwrap(), 1);
        assert_eq!(
            worker.stop_and_join(LONG),
            Ok(Some(Ok(WorkerExit::Stopped)))
        );
        assert!(worker.is_finished());
        assert_eq!(
            worker.join(Some(Duration::ZERO)),
            Ok(Some(Ok(WorkerExit::Stopped)))
        );
        assert!(worker.take_canal().is_some());
        assert!(worker.take_canal().is_none());
    }
}

#[test]
fn join_times_out_while_the_worker_runs_and_refuses_a_self_join() {
    let store = memory_store();
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let slot: Arc<std::sync::Mutex<Option<Arc<Worker>>>> = Arc::default();
    let (tx, rx) = mpsc::channel();
    let worker = {
        let slot = Arc::clone(&slot);
        Arc::new(
            spawn_worker(cursor, WorkerOptions::default(), move |_| {
                let w = slot.lock().unwrap().clone().unwrap();
                tx.send(w.join(None)).unwrap();
                w.stop();
                WorkerAction::Continue
            })
            .unwrap(),
        )
    };
    *slot.lock().unwrap() = Some(Arc::clone(&worker));
    assert_eq!(worker.join(Some(Duration::from_millis(10))), Ok(None));
    append_n(&store, 1);
    assert_eq!(rx.recv().unwrap(), Err(JoinError::FromWorkerThread));
    assert_eq!(worker.join(LONG), Ok(Some(Ok(WorkerExit::Stopped))));
    slot.lock().unwrap().take();
}

#[test]
fn join_returns_the_callback_panic_and_the_batch_stays_unacked() {
    let store = memory_store();
    append_n(&store, 5);
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let worker = spawn_worker(cursor, WorkerOptions::default(), |_| {
        panic!("callback exploded")
    })
    .unwrap();
    assert_eq!(
        worker.join(LONG),
        Ok(Some(Err(WorkerError::Panic {
            message: "callback exploded".into()
        })))
    );
    let mut canal = worker.take_canal().unwrap();
    assert_eq!((canal.acked(), canal.position()), (Some(0), Some(1)));
    assert_eq!(pull_seqs(&mut canal, 10), vec![1, 2, 3, 4, 5]);
}

#[test]
fn stop_and_rollback_redelivers_its_batch_to_the_next_reader() {
    let store = memory_store();
    append_n(&store, 30);
    let named = || CursorOptions::new(Start::Named("w".into()));
    let cursor = Canal::cursor(&store, named()).unwrap();
    let (tx, rx) = mpsc::channel();
    let mut calls = 0;
    let options = WorkerOptions {
        max_batch: 10,
        ..WorkerOptions::default()
    };
    let worker = spawn_worker(cursor, options, move |items| {
        tx.send(seqs(items)).unwrap();
        calls += 1;
        if calls == 1 {
            WorkerAction::Continue
        } else {
            WorkerAction::StopAndRollback
        }
    })
    .unwrap();
    assert_eq!(worker.join(LONG), Ok(Some(Ok(WorkerExit::CallbackStopped))));
    assert_eq!(rx.recv().unwrap(), (1..=10).collect::<Vec<_>>());
    assert_eq!(rx.recv().unwrap(), (11..=20).collect::<Vec<_>>());
    // Checkpointed at exit with the acked position; the rolled-back batch comes again.
    drop(worker);
    let mut again = Canal::cursor(&store, named()).unwrap();
    assert_eq!(again.acked(), Some(10));
    assert_eq!(pull_seqs(&mut again, 10), (11..=20).collect::<Vec<_>>());
}

#[test]
fn stop_from_the_callback_acks_its_batch() {
    let store = memory_store();
    append_n(&store, 30);
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let options = WorkerOptions {
        max_batch: 8,
        ..WorkerOptions::default()
    };
    let worker = spawn_worker(cursor, options, |_| WorkerAction::Stop).unwrap();
    assert_eq!(worker.join(LONG), Ok(Some(Ok(WorkerExit::CallbackStopped))));
    let canal = worker.take_canal().unwrap();
    assert_eq!(canal.acked(), Some(8));
}

#[test]
fn closing_the_store_ends_workers_after_everything_was_delivered() {
    let dir = TempDir::new("worker-close");
    let store = disk_store(dir.path());
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Named("wc".into()))).unwrap();
    let sub = Canal::subscription(
        &store,
        SubscriptionOptions::new(100_000, Overflow::DropNewest),
    )
    .unwrap();
    let options = WorkerOptions {
        max_batch: 64,
        checkpoint_every: 3,
        ..WorkerOptions::default()
    };
    let counted = |total: Arc<AtomicU64>| {
        move |items: &[Item]| {
            total.fetch_add(items.len() as u64, Ordering::SeqCst);
            WorkerAction::Continue
        }
    };
    let (n_cursor, n_sub) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let w_cursor = spawn_worker(cursor, options, counted(Arc::clone(&n_cursor))).unwrap();
    let w_sub = spawn_worker(sub, WorkerOptions::default(), counted(Arc::clone(&n_sub))).unwrap();
    append_n(&store, 5_000);
    store.close().unwrap();
    assert_eq!(w_cursor.join(LONG), Ok(Some(Ok(WorkerExit::Closed))));
    assert_eq!(w_sub.join(LONG), Ok(Some(Ok(WorkerExit::Closed))));
    assert_eq!(n_cursor.load(Ordering::SeqCst), 5_000);
    assert_eq!(n_sub.load(Ordering::SeqCst), 5_000);
    // After the close the old canal's acknowledgements and checkpoints are refused: what the
    // worker checkpointed while the store was open is what a new cursor of the name resumes
    // after (the drained rest comes again: at-least-once).
    let mut old = w_cursor.take_canal().unwrap();
    assert_eq!(old.checkpoint(), Err(CanalError::Closed));
    assert_eq!(old.ack(old.acked().unwrap_or(0)), Err(CanalError::Closed));
    let saved = read_checkpoint(dir.path(), "wc");
    assert!(saved.unwrap_or(0) <= 5_000);
    drop(old);
    drop(w_cursor);
    drop(store);
    let store = disk_store(dir.path());
    let mut c = Canal::cursor(&store, CursorOptions::new(Start::Named("wc".into()))).unwrap();
    assert_eq!(c.acked(), saved);
    let next = saved.unwrap_or(0) + 1;
    if next <= 5_000 {
        assert_eq!(pull_seqs(&mut c, 1), vec![next]);
    }
}

#[test]
fn a_disconnected_subscription_ends_its_worker_with_the_error() {
    let store = memory_store();
    let sub =
        Canal::subscription(&store, SubscriptionOptions::new(2, Overflow::Disconnect)).unwrap();
    // Overflow before the worker pulls anything: 3 events into a buffer of 2.
    append_n(&store, 3);
    let (tx, rx) = mpsc::channel();
    let worker = spawn_worker(sub, WorkerOptions::default(), move |items| {
        tx.send(items.len()).unwrap();
        WorkerAction::Continue
    })
    .unwrap();
    assert_eq!(
        worker.join(LONG),
        Ok(Some(Err(WorkerError::Canal(CanalError::Disconnected))))
    );
    assert_eq!(rx.iter().sum::<usize>(), 2, "buffered items first");
}

#[test]
fn checkpoint_every_needs_a_named_cursor() {
    let store = memory_store();
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let options = WorkerOptions {
        checkpoint_every: 1,
        ..WorkerOptions::default()
    };
    let refused = spawn_worker(cursor, options, |_| WorkerAction::Continue).unwrap_err();
    assert!(matches!(refused.error, CanalError::InvalidArgument(_)));
    assert_eq!(refused.canal.kind(), CanalKind::Cursor);
}

#[test]
fn dropping_the_store_ends_a_cursor_worker_and_what_it_did_not_checkpoint_comes_again() {
    let dir = TempDir::new("worker-drop");
    let store = disk_store(dir.path());
    append_n(&store, 100);
    let named = || CursorOptions::new(Start::Named("wd".into()));
    let cursor = Canal::cursor(&store, named()).unwrap();
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let options = WorkerOptions {
        max_batch: 10,
        ..WorkerOptions::default()
    };
    let worker = spawn_worker(cursor, options, move |items| {
        tx.send(seqs(items)).unwrap();
        // Hold the first batch until the store is gone.
        let _ = go_rx.recv();
        WorkerAction::Continue
    })
    .unwrap();
    assert_eq!(rx.recv().unwrap(), (1..=10).collect::<Vec<_>>());
    assert_eq!(
        Arc::strong_count(&store),
        1,
        "the worker holds no store reference"
    );
    drop(store);
    drop(go_tx);
    assert_eq!(worker.join(LONG), Ok(Some(Ok(WorkerExit::Closed))));
    drop(worker);
    let store = disk_store(dir.path());
    let mut again = Canal::cursor(&store, named()).unwrap();
    // The batch was handled after the store was gone: its ack and the exit checkpoint were
    // refused, so it comes again.
    assert_eq!(again.acked(), Some(0), "nothing was checkpointed");
    assert_eq!(pull_seqs(&mut again, 5), vec![1, 2, 3, 4, 5]);
}

#[test]
fn handles_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Canal>();
    send_sync::<Worker>();
    send_sync::<Interrupter>();
}

#[test]
fn an_interrupt_wakes_a_blocked_cursor_pull_but_never_hides_ready_events() {
    let store = memory_store();
    let mut cursor = Canal::cursor(
        &store,
        CursorOptions::new(Start::Begin).with_filter(Filter::all().with_kinds([3])),
    )
    .unwrap();
    let interrupter = cursor.interrupter();
    let (tx, rx) = mpsc::channel();
    let puller = thread::spawn(move || {
        tx.send(()).unwrap();
        let r = cursor.pull_batch(4, LONG).map(|p| p == Pulled::Interrupted);
        (r, cursor)
    });
    rx.recv().unwrap();
    interrupter.interrupt();
    let (r, mut cursor) = puller.join().unwrap();
    assert_eq!(r, Ok(true));
    // Consumed: the next empty pull times out.
    assert_eq!(
        cursor.pull_batch(4, Some(Duration::ZERO)),
        Ok(Pulled::TimedOut)
    );
    // Only skipped events readable: the interrupt ends the pull; ready events win over it.
    append_n(&store, 3); // kinds 0, 1, 2
    interrupter.interrupt();
    assert_eq!(cursor.pull_batch(4, LONG), Ok(Pulled::Interrupted));
    append_n(&store, 4); // sequences 4..=7, kinds 0..=3
    interrupter.interrupt();
    assert_eq!(pull_seqs(&mut cursor, 4), vec![7]);
    assert_eq!(cursor.pull_batch(4, LONG), Ok(Pulled::Interrupted));
    // After close, a pending interrupt is reported before the close.
    store.close().unwrap();
    interrupter.interrupt();
    assert_eq!(cursor.pull_batch(4, LONG), Ok(Pulled::Interrupted));
    assert_eq!(cursor.pull_batch(4, LONG), Err(CanalError::Closed));
}

#[test]
fn group_committed_appends_wake_cursors_and_feed_subscriptions_in_order() {
    let dir = TempDir::new("always");
    let store = Arc::new(Store::open(Config::on_disk(dir.path())).unwrap());
    assert_eq!(store.config().sync, SyncPolicy::Always);
    let mut sub = Canal::subscription(
        &store,
        SubscriptionOptions::new(10_000, Overflow::Disconnect),
    )
    .unwrap();
    let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let cursor_thread = thread::spawn(move || drain(&mut cursor, 100));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for i in 0..250u32 {
                    store
                        .append(AppendRequest::new(
                            format!("w{w}"),
                            0,
                            i.to_le_bytes().to_vec(),
                        ))
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    store.close().unwrap();
    let (items, end) = cursor_thread.join().unwrap();
    assert_eq!(end, CanalError::Closed);
    assert_eq!(seqs(&items), (1..=1000).collect::<Vec<_>>());
    let (items, end) = drain(&mut sub, 100);
    assert_eq!(end, CanalError::Closed);
    assert_eq!(seqs(&items), (1..=1000).collect::<Vec<_>>());
}

/// CPU time the calling thread has used.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_pull_parks_instead_of_polling() {
    let store = memory_store();
    let canals = [
        Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap(),
        Canal::subscription(&store, SubscriptionOptions::new(4, Overflow::DropOldest)).unwrap(),
    ];
    for mut canal in canals {
        let cpu = thread_cpu_time();
        let wall = Instant::now();
        assert_eq!(
            canal.pull_batch(4, Some(Duration::from_millis(300))),
            Ok(Pulled::TimedOut)
        );
        assert!(wall.elapsed() >= Duration::from_millis(300));
        let used = thread_cpu_time() - cpu;
        assert!(
            used < Duration::from_millis(30),
            "{used:?} of CPU while idle"
        );
    }
}

fn read_checkpoint(dir: &Path, name: &str) -> Option<u64> {
    let path = checkpoint_path(dir, name);
    std::fs::read(&path)
        .ok()
        .map(|b| checkpoint::decode(&path, &b).unwrap())
}

#[test]
fn a_worker_checkpoints_every_n_acked_batches() {
    let dir = TempDir::new("every");
    let store = disk_store(dir.path());
    append_n(&store, 30);
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Named("every".into()))).unwrap();
    let options = WorkerOptions {
        max_batch: 10,
        checkpoint_every: 1,
        checkpoint_on_exit: false,
    };
    let (tx, rx) = mpsc::channel();
    let path = dir.path().to_path_buf();
    let worker = spawn_worker(cursor, options, move |items| {
        tx.send(read_checkpoint(&path, "every")).unwrap();
        if seqs(items).contains(&30) {
            WorkerAction::Stop
        } else {
            WorkerAction::Continue
        }
    })
    .unwrap();
    assert_eq!(worker.join(LONG), Ok(Some(Ok(WorkerExit::CallbackStopped))));
    assert_eq!(
        rx.iter().collect::<Vec<_>>(),
        vec![None, Some(10), Some(20)]
    );
    // Stop acked the last batch, but no exit checkpoint was asked for.
    assert_eq!(worker.take_canal().unwrap().acked(), Some(30));
    assert_eq!(read_checkpoint(dir.path(), "every"), Some(20));
}

#[test]
fn a_failing_checkpoint_ends_the_worker_with_the_error() {
    let dir = TempDir::new("ckpt-fail");
    let store = disk_store(dir.path());
    append_n(&store, 5);
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Named("f".into()))).unwrap();
    // A file where the checkpoint directory should be: creating it fails, even as root.
    let blocker = dir.path().join(checkpoint::CHECKPOINT_DIR);
    std::fs::write(&blocker, b"in the way").unwrap();
    // Opening a named cursor now fails too, with the I/O error rather than a silent BEGIN.
    assert!(matches!(
        Canal::cursor(&store, CursorOptions::new(Start::Named("g".into()))),
        Err(CanalError::Io { .. })
    ));
    let options = WorkerOptions {
        checkpoint_every: 1,
        ..WorkerOptions::default()
    };
    let worker = spawn_worker(cursor, options, |_| WorkerAction::Continue).unwrap();
    match worker.join(LONG) {
        Ok(Some(Err(WorkerError::Checkpoint(CanalError::Io { .. })))) => {}
        other => panic!("expected a checkpoint I/O error, got {other:?}"),
    }
    // The batch itself was handled and acked before the checkpoint failed.
    assert_eq!(worker.take_canal().unwrap().acked(), Some(5));
}

#[test]
fn a_leftover_temporary_checkpoint_file_is_ignored_and_replaced() {
    let dir = TempDir::new("tmp");
    let store = disk_store(dir.path());
    append_n(&store, 4);
    let ckdir = dir.path().join(checkpoint::CHECKPOINT_DIR);
    std::fs::create_dir_all(&ckdir).unwrap();
    // A crash between writing the temporary file and the rename leaves this behind.
    std::fs::write(ckdir.join("t.ckpt.tmp"), b"half").unwrap();
    let mut c = Canal::cursor(&store, CursorOptions::new(Start::Named("t".into()))).unwrap();
    assert_eq!(c.acked(), Some(0));
    pull_seqs(&mut c, 2);
    c.ack(2).unwrap();
    c.checkpoint().unwrap();
    assert_eq!(read_checkpoint(dir.path(), "t"), Some(2));
    assert!(!ckdir.join("t.ckpt.tmp").exists());
}

#[test]
fn closing_a_canal_wakes_a_blocked_pull_from_another_thread() {
    let store = memory_store();
    for subscription in [false, true] {
        let mut canal = if subscription {
            Canal::subscription(&store, SubscriptionOptions::new(4, Overflow::DropOldest))
        } else {
            Canal::cursor(&store, CursorOptions::new(Start::End))
        }
        .unwrap();
        let closer = canal.closer();
        let (tx, rx) = mpsc::channel();
        let puller = thread::spawn(move || {
            tx.send(()).unwrap();
            let r = canal.pull_batch(4, None).map(|p| format!("{p:?}"));
            (r, canal)
        });
        rx.recv().unwrap();
        // Before or during the pull: either way it returns Closed (nothing was buffered).
        closer.close();
        let (r, canal) = puller.join().unwrap();
        assert_eq!(r, Err(CanalError::Closed));
        assert!(canal.is_closed());
        assert!(!store.is_closed());
    }
}

#[test]
fn a_closed_subscription_hands_out_its_buffer_then_reports_closed() {
    let store = memory_store();
    let mut sub =
        Canal::subscription(&store, SubscriptionOptions::new(8, Overflow::DropOldest)).unwrap();
    append_n(&store, 3);
    sub.close();
    sub.close(); // idempotent
    append_n(&store, 2); // after the close: not received
    assert_eq!(pull_seqs(&mut sub, 2), vec![1, 2]);
    assert_eq!(pull_seqs(&mut sub, 10), vec![3]);
    assert_eq!(sub.pull_batch(10, LONG), Err(CanalError::Closed));
    assert_eq!(sub.pull_batch(10, None), Err(CanalError::Closed));
    assert_eq!(sub.ack(1), Err(CanalError::Closed));
    assert_eq!(sub.checkpoint(), Err(CanalError::Closed));
    assert_eq!(sub.rewind(), Err(CanalError::Closed));
}

#[test]
fn a_closed_cursor_delivers_nothing_more_and_refuses_ack_checkpoint_and_rewind() {
    let store = memory_store();
    append_n(&store, 5);
    let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Named("c".into()))).unwrap();
    assert_eq!(pull_seqs(&mut cursor, 2), vec![1, 2]);
    cursor.ack(2).unwrap();
    cursor.checkpoint().unwrap();
    cursor.close();
    // Committed events are readable, but a closed cursor buffers nothing: Closed at once.
    assert_eq!(cursor.pull_batch(10, None), Err(CanalError::Closed));
    // A pending interrupt is reported before the close, as for a closed store.
    cursor.interrupter().interrupt();
    assert_eq!(cursor.pull_batch(10, None), Ok(Pulled::Interrupted));
    assert_eq!(cursor.pull_batch(10, None), Err(CanalError::Closed));
    assert_eq!(cursor.ack(2), Err(CanalError::Closed));
    assert_eq!(cursor.checkpoint(), Err(CanalError::Closed));
    assert_eq!(cursor.rewind(), Err(CanalError::Closed));
    // The name stays claimed until the canal is dropped; then it resumes after 2.
    assert!(matches!(
        Canal::cursor(&store, CursorOptions::new(Start::Named("c".into()))),
        Err(CanalError::NameInUse(_))
    ));
    drop(cursor);
    let mut again = Canal::cursor(&store, CursorOptions::new(Start::Named("c".into()))).unwrap();
    assert_eq!(pull_seqs(&mut again, 10), vec![3, 4, 5]);
}

#[test]
fn closing_a_workers_canal_ends_it_with_closed_and_keeps_its_exit_checkpoint() {
    let store = memory_store();
    append_n(&store, 3);
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Named("w".into()))).unwrap();
    let closer = cursor.closer();
    let (tx, rx) = mpsc::channel();
    let (closed_tx, closed_rx) = mpsc::channel::<()>();
    let worker = spawn_worker(cursor, WorkerOptions::default(), move |items| {
        let batch = seqs(items);
        let second = batch.first() != Some(&1);
        tx.send(batch).unwrap();
        if second {
            // The canal is closed while this callback runs: its ack is refused.
            closed_rx.recv().unwrap();
        }
        WorkerAction::Continue
    })
    .unwrap();
    assert_eq!(rx.recv().unwrap(), vec![1, 2, 3]);
    // The worker pulls again only after acking the first batch.
    append_n(&store, 3);
    assert_eq!(rx.recv().unwrap(), vec![4, 5, 6]);
    closer.close();
    closed_tx.send(()).unwrap();
    assert_eq!(worker.join(LONG), Ok(Some(Ok(WorkerExit::Closed))));
    let canal = worker.take_canal().unwrap();
    assert_eq!((canal.acked(), canal.checkpointed()), (Some(3), Some(3)));
}

// ---- retention: cursors get an in-band gap for what retention removed --------------------

fn small_segment_store(dir: &Path) -> Arc<Store> {
    let config = Config {
        sync: SyncPolicy::Never,
        segment_size: crate::store::MIN_SEGMENT_SIZE,
        ..Config::on_disk(dir)
    };
    Arc::new(Store::open(config).unwrap())
}

/// Appends `n` events of ~100 bytes in batches of 10 (many small segments).
fn append_small(store: &Store, n: u64) {
    for chunk in 0..n / 10 {
        let batch = (0..10)
            .map(|i| {
                let seq = chunk * 10 + i;
                AppendRequest::new(
                    format!("s{}", seq % 3),
                    (seq % 2) as u16,
                    vec![seq as u8; 100],
                )
            })
            .collect();
        store.append_batch(batch).unwrap();
    }
}

fn gap(from_seq: u64, to_seq: u64) -> Delivery<Event> {
    Delivery::Gap {
        from_seq,
        to_seq,
        count: to_seq - from_seq + 1,
    }
}

/// Pulls everything currently readable (no wait once the head is reached).
fn pull_all(canal: &mut Canal, max: usize) -> Vec<Delivery<Event>> {
    let mut all = Vec::new();
    while let Ok(Pulled::Items(items)) = canal.pull_batch(max, Some(Duration::ZERO)) {
        assert!(items.len() <= max);
        all.extend(items.iter().map(Item::to_owned_item));
    }
    all
}

fn event_seqs(items: &[Delivery<Event>]) -> Vec<u64> {
    items
        .iter()
        .map(|i| match i {
            Delivery::Event { sequence, value } => {
                assert_eq!(value.sequence, *sequence);
                assert_eq!(value.payload, vec![(*sequence - 1) as u8; 100]);
                *sequence
            }
            Delivery::Gap { .. } => panic!("a second gap: {i:?}"),
        })
        .collect()
}

#[test]
fn cursors_below_the_first_retained_sequence_get_one_gap_then_the_retained_events() {
    let dir = TempDir::new("gap-start");
    let store = small_segment_store(dir.path());
    append_small(&store, 400);
    let kept = store.truncate(150).unwrap();
    assert!(kept > 1 && kept <= 150, "{kept}");
    let head = store.head();
    for (start, from) in [
        (Start::Begin, 1),
        (Start::At(40), 40),
        (Start::At(kept - 1), kept - 1),
    ] {
        for max in [1, 3, 256] {
            let mut c = Canal::cursor(&store, CursorOptions::new(start.clone())).unwrap();
            let items = pull_all(&mut c, max);
            assert_eq!(items[0], gap(from, kept - 1), "{start:?} max {max}");
            assert_eq!(event_seqs(&items[1..]), (kept..=head).collect::<Vec<_>>());
        }
    }
    // At or above the first retained sequence: no gap.
    let mut c = Canal::cursor(&store, CursorOptions::new(Start::At(kept))).unwrap();
    assert_eq!(
        event_seqs(&pull_all(&mut c, 64)),
        (kept..=head).collect::<Vec<_>>()
    );
    // A filter does not change the gap: its count covers every removed sequence.
    let filter = Filter::all().with_kinds([1]);
    let mut c =
        Canal::cursor(&store, CursorOptions::new(Start::Begin).with_filter(filter)).unwrap();
    let items = pull_all(&mut c, 64);
    assert_eq!(items[0], gap(1, kept - 1));
    assert!(event_seqs(&items[1..]).iter().all(|s| (s - 1) % 2 == 1));
}

#[test]
fn the_gap_counts_as_delivered_ack_rewind_and_checkpoint_across_it() {
    let dir = TempDir::new("gap-ack");
    let store = small_segment_store(dir.path());
    append_small(&store, 300);
    let kept = store.truncate(100).unwrap();
    let mut c = Canal::cursor(&store, CursorOptions::new(Start::Named("g".into()))).unwrap();
    let first = match c.pull_batch(1, LONG).unwrap() {
        Pulled::Items(items) => items[0].to_owned_item(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first, gap(1, kept - 1));
    assert_eq!(c.delivered(), Some(kept - 1));
    assert_eq!(
        c.ack(kept),
        Err(CanalError::InvalidArgument(
            "ack above the highest delivered sequence"
        ))
    );
    // Rewound before it was acked: the gap comes again.
    c.rewind().unwrap();
    match c.pull_batch(1, LONG).unwrap() {
        Pulled::Items(items) => assert_eq!(items[0].to_owned_item(), gap(1, kept - 1)),
        other => panic!("{other:?}"),
    }
    c.ack(kept - 1).unwrap();
    c.checkpoint().unwrap();
    drop(c);
    // Resumes at the first retained event, without a gap.
    let mut c = Canal::cursor(&store, CursorOptions::new(Start::Named("g".into()))).unwrap();
    assert_eq!(c.acked(), Some(kept - 1));
    assert_eq!(
        event_seqs(&pull_all(&mut c, 50)),
        (kept..=300).collect::<Vec<_>>()
    );
}

#[test]
fn a_durable_checkpoint_below_the_cut_resumes_with_a_gap_after_reopen() {
    let dir = TempDir::new("gap-checkpoint");
    {
        let store = small_segment_store(dir.path());
        append_small(&store, 300);
        let mut c = Canal::cursor(&store, CursorOptions::new(Start::Named("d".into()))).unwrap();
        assert_eq!(pull_seqs(&mut c, 10), (1..=10).collect::<Vec<_>>());
        c.ack(10).unwrap();
        c.checkpoint().unwrap();
        drop(c);
        store.truncate(200).unwrap();
        store.close().unwrap();
    }
    let store = small_segment_store(dir.path());
    let kept = store.first_sequence();
    assert!(kept > 11);
    let mut c = Canal::cursor(&store, CursorOptions::new(Start::Named("d".into()))).unwrap();
    assert_eq!(c.acked(), Some(10));
    let items = pull_all(&mut c, 256);
    assert_eq!(items[0], gap(11, kept - 1));
    assert_eq!(event_seqs(&items[1..]), (kept..=300).collect::<Vec<_>>());
}

#[test]
fn retention_under_an_open_cursor_becomes_a_gap_for_what_it_did_not_read() {
    let dir = TempDir::new("gap-open");
    let store = small_segment_store(dir.path());
    append_small(&store, 300);
    let mut c = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    assert_eq!(pull_seqs(&mut c, 5), vec![1, 2, 3, 4, 5]);
    let kept = store.truncate(200).unwrap();
    assert!(kept > 6);
    let items = pull_all(&mut c, 256);
    assert_eq!(items[0], gap(6, kept - 1));
    assert_eq!(event_seqs(&items[1..]), (kept..=300).collect::<Vec<_>>());
    // A batch pulled before the retention stays readable after it (its segments stay mapped).
    let mut c = Canal::cursor(&store, CursorOptions::new(Start::At(kept))).unwrap();
    let Pulled::Items(items) = c.pull_batch(20, LONG).unwrap() else {
        panic!("events are committed")
    };
    store.truncate(store.head()).unwrap();
    assert!(store.first_sequence() > kept + 20);
    for (i, item) in items.iter().enumerate() {
        let Delivery::Event { value, .. } = item else {
            panic!("an event")
        };
        assert_eq!(value.sequence, kept + i as u64);
        assert_eq!(value.payload, &[(kept + i as u64 - 1) as u8; 100][..]);
    }
}

#[test]
fn a_worker_gets_the_gap_in_its_batch_and_acks_past_it() {
    let dir = TempDir::new("gap-worker");
    let store = small_segment_store(dir.path());
    append_small(&store, 300);
    let kept = store.truncate(120).unwrap();
    let cursor = Canal::cursor(&store, CursorOptions::new(Start::Named("w".into()))).unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = spawn_worker(cursor, WorkerOptions::default(), move |items| {
        tx.send(items.iter().map(Item::to_owned_item).collect::<Vec<_>>())
            .unwrap();
        WorkerAction::Continue
    })
    .unwrap();
    let mut all = Vec::new();
    while all.len() < 1 + (300 - kept + 1) as usize {
        all.extend(rx.recv_timeout(Duration::from_secs(30)).unwrap());
    }
    // Stopped while the store is open: the exit checkpoint is saved.
    worker.stop();
    assert_eq!(worker.join(LONG), Ok(Some(Ok(WorkerExit::Stopped))));
    store.close().unwrap();
    assert_eq!(all[0], gap(1, kept - 1));
    assert_eq!(event_seqs(&all[1..]), (kept..=300).collect::<Vec<_>>());
    assert_eq!(read_checkpoint(dir.path(), "w"), Some(300));
}
