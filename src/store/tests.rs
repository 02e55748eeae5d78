//! Store behaviour across modules: sequences, locking, idempotency, versions, batches, gates,
//! the causal graph, group commit and commit notification.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use super::test_dir::TestDir;
use super::*;

fn disk(dir: &TestDir, sync: SyncPolicy) -> Config {
    Config {
        sync,
        ..Config::on_disk(dir.path())
    }
}

fn req(stream: &str, payload: &[u8]) -> AppendRequest {
    AppendRequest::new(stream, 1, payload.to_vec())
}

#[test]
fn sequences_are_dense_and_unchanged_after_reopen() {
    let dir = TestDir::new("dense");
    let mut before = Vec::new();
    {
        let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
        before.push(s.append(req("a", b"1")).unwrap());
        before.extend(
            s.append_batch(vec![req("b", b"2"), req("a", b"3"), req("c", b"4")])
                .unwrap(),
        );
        before.push(s.append(req("b", b"5")).unwrap());
        let seqs: Vec<u64> = before.iter().map(|r| r.sequence).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        s.close().unwrap();
    }
    let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
    assert_eq!(s.head(), 5);
    let events = s.read_from_sequence(1, 100).unwrap();
    let after: Vec<Receipt> = events.iter().map(|e| Receipt::from(&**e)).collect();
    assert_eq!(after, before);
    assert_eq!(s.read("a", 1, 10).unwrap().len(), 2);
    assert_eq!(s.stream_version("b").unwrap(), 2);
    let next = s.append(req("a", b"6")).unwrap();
    assert_eq!((next.sequence, next.stream_version), (6, 3));
    assert!(next.id > before[4].id);
}

#[test]
fn second_open_of_a_directory_is_locked_until_the_first_closes() {
    let dir = TestDir::new("locked");
    let first = Store::open(disk(&dir, SyncPolicy::Never)).unwrap();
    assert!(matches!(
        Store::open(disk(&dir, SyncPolicy::Never)),
        Err(StoreError::Locked(_))
    ));
    first.close().unwrap();
    Store::open(disk(&dir, SyncPolicy::Never)).unwrap();
}

#[test]
fn retry_with_same_key_and_payload_returns_the_original_receipt() {
    let s = Store::open(Config::in_memory()).unwrap();
    let first = s
        .append(req("pay", b"10 EUR").with_idempotency_key(b"k1".to_vec()))
        .unwrap();
    let again = s
        .append(
            req("pay", b"10 EUR")
                .with_idempotency_key(b"k1".to_vec())
                .expecting(ExpectedVersion::NoStream),
        )
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(s.head(), 1);
}

#[test]
fn same_key_with_a_different_payload_conflicts_and_stores_nothing() {
    let s = Store::open(Config::in_memory()).unwrap();
    s.append(req("pay", b"10 EUR").with_idempotency_key(b"k1".to_vec()))
        .unwrap();
    let err = s
        .append(req("pay", b"99 EUR").with_idempotency_key(b"k1".to_vec()))
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.head(), 1);
}

#[test]
fn idempotent_retry_survives_reopen() {
    let dir = TestDir::new("idem-reopen");
    let first = {
        let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
        s.append(req("pay", b"x").with_idempotency_key(b"k".to_vec()))
            .unwrap()
    };
    let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
    let again = s
        .append(req("pay", b"x").with_idempotency_key(b"k".to_vec()))
        .unwrap();
    assert_eq!(again, first);
}

#[test]
fn expected_version_any_no_stream_and_exact_are_enforced() {
    let s = Store::open(Config::in_memory()).unwrap();
    s.append(req("acct", b"open").expecting(ExpectedVersion::NoStream))
        .unwrap();
    let e = s
        .append(req("acct", b"open again").expecting(ExpectedVersion::NoStream))
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    let e = s
        .append(req("acct", b"stale").expecting(ExpectedVersion::Exact(0)))
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    let r = s
        .append(req("acct", b"deposit").expecting(ExpectedVersion::Exact(1)))
        .unwrap();
    assert_eq!(r.stream_version, 2);
    let e = s
        .append(req("acct", b"late").expecting(ExpectedVersion::Exact(1)))
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    s.append(req("acct", b"whatever").expecting(ExpectedVersion::Any))
        .unwrap();
    assert_eq!(s.head(), 3);
    assert_eq!(s.stream_version("acct").unwrap(), 3);
}

#[test]
fn batch_checks_versions_against_its_own_earlier_events() {
    let s = Store::open(Config::in_memory()).unwrap();
    let rs = s
        .append_batch(vec![
            req("x", b"1").expecting(ExpectedVersion::NoStream),
            req("x", b"2").expecting(ExpectedVersion::Exact(1)),
        ])
        .unwrap();
    assert_eq!(rs[1].stream_version, 2);
    let e = s
        .append_batch(vec![
            req("y", b"1"),
            req("x", b"3").expecting(ExpectedVersion::Exact(1)),
        ])
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    assert_eq!(s.head(), 2);
    assert_eq!(s.stream_version("y").unwrap(), 0);
}

#[test]
fn gate_rejecting_the_third_event_of_a_batch_stores_none_of_it() {
    let dir = TestDir::new("gate-batch");
    let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    s.register_gate(move |p| {
        seen2.fetch_add(1, Ordering::SeqCst);
        if p.payload == b"bad" {
            Err(Rejection::new(
                42,
                format!("event {} of {} is bad", p.index, p.batch_len),
            ))
        } else {
            Ok(())
        }
    });
    let err = s
        .append_batch(vec![
            req("o", b"ok"),
            req("o", b"ok"),
            req("o", b"bad"),
            req("o", b"ok"),
        ])
        .unwrap_err();
    match err {
        StoreError::Rejected { code, reason } => {
            assert_eq!(code, 42);
            assert_eq!(reason, "event 2 of 4 is bad");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_eq!(s.head(), 0);
    assert!(s.read("o", 1, 10).unwrap().is_empty());
    drop(s);
    let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
    assert_eq!(
        s.head(),
        0,
        "nothing of the rejected batch reached the journal"
    );
    assert_eq!(s.append(req("o", b"ok")).unwrap().sequence, 1);
}

#[test]
fn panicking_gate_fails_the_append_and_the_store_keeps_working() {
    let s = Store::open(Config::in_memory()).unwrap();
    s.register_gate(|p| {
        if p.stream == "boom" {
            panic!("gate exploded");
        }
        Ok(())
    });
    let err = s.append(req("boom", b"x")).unwrap_err();
    match &err {
        StoreError::GatePanicked(msg) => assert!(msg.contains("gate exploded"), "{msg}"),
        other => panic!("expected GatePanicked, got {other:?}"),
    }
    assert_eq!(s.head(), 0);
    assert_eq!(s.append(req("calm", b"x")).unwrap().sequence, 1);
    assert!(matches!(
        s.append(req("boom", b"x")),
        Err(StoreError::GatePanicked(_))
    ));
}

#[test]
fn unregistered_gate_is_never_called_again() {
    let s = Store::open(Config::in_memory()).unwrap();
    let g = s.register_gate(|_| Err(Rejection::new(1, "closed for business")));
    assert!(matches!(
        s.append(req("a", b"x")),
        Err(StoreError::Rejected { code: 1, .. })
    ));
    s.unregister_gate(g).unwrap();
    s.append(req("a", b"x")).unwrap();
    assert!(matches!(s.unregister_gate(g), Err(StoreError::GateNotFound(n)) if n == g.as_u64()));
    assert_eq!(
        s.unregister_gate(g).unwrap_err().to_string(),
        format!("no gate with id {}", g.as_u64())
    );
}

#[test]
fn close_unregisters_every_gate_and_later_appends_run_none() {
    struct Dropped(Arc<AtomicUsize>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let s = Store::open(Config::in_memory()).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (d, c) = (Dropped(Arc::clone(&drops)), Arc::clone(&calls));
        ids.push(s.register_gate(move |_| {
            let _keep = &d;
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
    }
    s.unregister_gate(ids[0]).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    s.append(req("a", b"x")).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    s.close().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert!(!s.has_gates());
    assert!(matches!(s.append(req("a", b"x")), Err(StoreError::Closed)));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(matches!(
        s.unregister_gate(ids[1]),
        Err(StoreError::GateNotFound(_))
    ));
}

#[test]
fn gate_can_unregister_itself_without_deadlock() {
    let s = Arc::new(Store::open(Config::in_memory()).unwrap());
    let (tx, rx) = mpsc::channel::<GateId>();
    let weak = Arc::downgrade(&s);
    let rx = std::sync::Mutex::new(rx);
    let id = s.register_gate(move |_| {
        let id = rx.lock().unwrap().recv().unwrap();
        weak.upgrade().unwrap().unregister_gate(id).unwrap();
        Ok(())
    });
    tx.send(id).unwrap();
    s.append(req("a", b"x")).unwrap();
    assert!(!s.has_gates());
}

#[test]
fn ancestors_follow_causation_and_correlated_returns_the_group() {
    let s = Store::open(Config::in_memory()).unwrap();
    let root = s.append(req("order", b"placed")).unwrap();
    let paid = s
        .append(
            req("payment", b"paid")
                .with_correlation(root.id)
                .with_causation(root.id),
        )
        .unwrap();
    let unrelated = s.append(req("other", b"noise")).unwrap();
    let shipped = s
        .append(
            req("shipping", b"shipped")
                .with_correlation(root.id)
                .with_causation(paid.id),
        )
        .unwrap();
    let ids = |v: Vec<Arc<Event>>| v.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(s.ancestors(shipped.id).unwrap()), [paid.id, root.id]);
    assert_eq!(ids(s.ancestors(root.id).unwrap()), []);
    assert_eq!(
        ids(s.correlated(paid.id).unwrap()),
        [root.id, paid.id, shipped.id]
    );
    assert_eq!(
        ids(s.correlated(root.id).unwrap()),
        [root.id, paid.id, shipped.id]
    );
    assert_eq!(ids(s.correlated(unrelated.id).unwrap()), [unrelated.id]);
    let ghost = EventId::from_u128(12345).unwrap();
    assert!(matches!(s.ancestors(ghost), Err(StoreError::NotFound)));
    assert!(matches!(s.correlated(ghost), Err(StoreError::NotFound)));
    assert!(matches!(s.get(ghost), Err(StoreError::NotFound)));
}

#[test]
fn concurrent_appenders_share_fsyncs_under_always() {
    const THREADS: usize = 8;
    let dir = TestDir::new("group");
    let s = Arc::new(Store::open(disk(&dir, SyncPolicy::Always)).unwrap());
    let before = s.fsync_count();
    // The first leader waits (on the group's condvar, not a timer) until all eight appenders
    // have written, so the test does not depend on scheduling.
    s.group().hold_next_sync_until_written(THREADS as u64);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                s.append(req(&format!("t{i}"), b"x")).unwrap()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles
        .into_iter()
        .map(|h| h.join().unwrap().sequence)
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=THREADS as u64).collect::<Vec<_>>());
    let fsyncs = s.fsync_count() - before;
    assert!(
        fsyncs < THREADS as u64,
        "{fsyncs} fsyncs for {THREADS} appends"
    );
    assert_eq!(fsyncs, 1);
    assert_eq!(s.head(), THREADS as u64);
}

#[test]
fn many_concurrent_appends_under_always_are_dense_and_all_durable() {
    const THREADS: usize = 8;
    const EACH: usize = 25;
    let dir = TestDir::new("group-stress");
    let s = Arc::new(
        Store::open(Config {
            segment_size: MIN_SEGMENT_SIZE,
            ..disk(&dir, SyncPolicy::Always)
        })
        .unwrap(),
    );
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..EACH)
                    .map(|j| s.append(req(&format!("t{i}"), &[j as u8; 200])).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let rs = h.join().unwrap();
        // Each thread's own events are in its stream's order.
        let versions: Vec<u64> = rs.iter().map(|r| r.stream_version).collect();
        assert_eq!(versions, (1..=EACH as u64).collect::<Vec<_>>());
        all.extend(rs);
    }
    all.sort_by_key(|r| r.sequence);
    let total = (THREADS * EACH) as u64;
    assert_eq!(
        all.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "ids follow commit order"
    );
    drop(s);
    let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
    assert_eq!(s.head(), total);
    assert!(s.recovery_report().segments > 1);
}

#[test]
fn every_n_fsyncs_once_per_n_events_and_never_does_not() {
    let dir = TestDir::new("every-n");
    let s = Store::open(disk(&dir, SyncPolicy::EveryN(5))).unwrap();
    let before = s.fsync_count();
    for i in 0..12u8 {
        s.append(req("s", &[i])).unwrap();
    }
    assert_eq!(s.fsync_count() - before, 2);
    drop(s);
    let dir = TestDir::new("never");
    let s = Store::open(disk(&dir, SyncPolicy::Never)).unwrap();
    let before = s.fsync_count();
    for i in 0..12u8 {
        s.append(req("s", &[i])).unwrap();
    }
    assert_eq!(s.fsync_count(), before);
    s.sync().unwrap();
    assert_eq!(s.fsync_count(), before + 1);
}

#[test]
fn always_acknowledges_each_lone_append_with_an_fsync() {
    let dir = TestDir::new("always");
    let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
    let before = s.fsync_count();
    for i in 0..3u8 {
        s.append(req("s", &[i])).unwrap();
        assert_eq!(s.fsync_count() - before, u64::from(i) + 1);
    }
}

#[test]
fn waiter_wakes_on_commit_and_on_close() {
    let s = Arc::new(Store::open(Config::in_memory()).unwrap());
    let (ready_tx, ready_rx) = mpsc::channel();
    let s2 = s.clone();
    let waiter = std::thread::spawn(move || {
        ready_tx.send(()).unwrap();
        s2.wait_for_sequence(0, None)
    });
    ready_rx.recv().unwrap();
    s.append(req("a", b"x")).unwrap();
    assert_eq!(waiter.join().unwrap(), WaitOutcome::Ready(1));
    assert_eq!(
        s.wait_for_sequence(0, Some(Duration::ZERO)),
        WaitOutcome::Ready(1)
    );
    assert_eq!(
        s.wait_for_sequence(1, Some(Duration::from_millis(1))),
        WaitOutcome::TimedOut
    );
    let s2 = s.clone();
    let waiter = std::thread::spawn(move || s2.wait_for_sequence(1, None));
    s.close().unwrap();
    assert_eq!(waiter.join().unwrap(), WaitOutcome::Closed);
}

#[test]
fn commit_listener_sees_the_new_head() {
    let s = Store::open(Config::in_memory()).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let id = s.on_commit(move |head| tx.lock().unwrap().send(head).unwrap());
    s.append(req("a", b"x")).unwrap();
    s.append_batch(vec![req("a", b"y"), req("b", b"z")])
        .unwrap();
    assert_eq!(rx.recv().unwrap(), 1);
    assert_eq!(rx.recv().unwrap(), 3);
    s.remove_listener(id).unwrap();
    s.append(req("a", b"w")).unwrap();
    assert!(rx.try_recv().is_err());
}

#[test]
fn read_pages_through_a_stream_and_the_global_order() {
    let s = Store::open(Config::in_memory()).unwrap();
    for i in 0..10u8 {
        s.append(req(if i % 2 == 0 { "even" } else { "odd" }, &[i]))
            .unwrap();
    }
    let page: Vec<u8> = s
        .read("even", 2, 2)
        .unwrap()
        .iter()
        .map(|e| e.payload[0])
        .collect();
    assert_eq!(page, [2, 4]);
    assert!(s.read("even", 6, 10).unwrap().is_empty());
    assert!(s.read("nobody", 1, 10).unwrap().is_empty());
    let seqs: Vec<u64> = s
        .read_from_sequence(8, 10)
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(seqs, [8, 9, 10]);
    assert!(s.read_from_sequence(11, 10).unwrap().is_empty());
    assert_eq!(s.read_from_sequence(0, 1).unwrap()[0].sequence, 1);
}

#[test]
fn bad_arguments_are_refused_before_anything_is_stored() {
    let s = Store::open(Config {
        max_payload: 8,
        ..Config::in_memory()
    })
    .unwrap();
    assert!(matches!(
        s.append(req("a", &[0; 9])),
        Err(StoreError::TooLarge { len: 9, max: 8 })
    ));
    assert!(matches!(
        s.append(req("", b"x")),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.append(req("a\0b", b"x")),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.append(req(&"x".repeat(MAX_STREAM_LEN + 1), b"x")),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.append_batch(vec![]),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.append_batch(vec![
            req("a", b"1").with_idempotency_key(b"k".to_vec()),
            req("a", b"2").with_idempotency_key(b"k".to_vec()),
        ]),
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(s.head(), 0);
    assert!(matches!(
        Store::open(Config {
            sync: SyncPolicy::EveryN(0),
            ..Config::in_memory()
        }),
        Err(StoreError::InvalidArgument(_))
    ));
}

#[test]
fn closed_store_refuses_appends_but_still_serves_committed_events() {
    let dir = TestDir::new("closed");
    let s = Store::open(disk(&dir, SyncPolicy::Never)).unwrap();
    let r = s.append(req("a", b"x")).unwrap();
    s.close().unwrap();
    s.close().unwrap();
    assert!(s.is_closed());
    assert!(matches!(s.append(req("a", b"x")), Err(StoreError::Closed)));
    assert!(matches!(s.sync(), Err(StoreError::Closed)));
    assert_eq!(s.get(r.id).unwrap().payload, b"x");
    assert_eq!(s.read_from_sequence(1, 10).unwrap().len(), 1);
    assert_eq!(s.wait_for_sequence(0, None), WaitOutcome::Ready(1));
    assert_eq!(s.wait_for_sequence(1, None), WaitOutcome::Closed);
    // The lock is released at close, not at drop.
    let reopened = Store::open(disk(&dir, SyncPolicy::Never)).unwrap();
    assert_eq!(reopened.head(), 1);
}

#[test]
fn store_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<Arc<Event>>();
}

#[test]
fn segments_roll_over_and_reopen_reads_across_them() {
    let dir = TestDir::new("rollover");
    let cfg = Config {
        segment_size: MIN_SEGMENT_SIZE,
        ..disk(&dir, SyncPolicy::Never)
    };
    {
        let s = Store::open(cfg.clone()).unwrap();
        for i in 0..20u8 {
            s.append(req("big", &[i; 1000])).unwrap();
        }
        // A batch larger than a segment gets a segment of its own.
        s.append_batch((0..6u8).map(|i| req("big", &[i; 1000])).collect())
            .unwrap();
    }
    let s = Store::open(cfg).unwrap();
    assert!(s.recovery_report().segments >= 5);
    assert_eq!(s.recovery_report().truncated, None);
    let events = s.read("big", 1, 100).unwrap();
    assert_eq!(events.len(), 26);
    assert!(events
        .iter()
        .enumerate()
        .all(|(i, e)| e.sequence == i as u64 + 1));
}

#[test]
fn under_always_readers_do_not_see_an_event_before_its_fsync() {
    let dir = TestDir::new("visible-after-fsync");
    let s = Arc::new(Store::open(disk(&dir, SyncPolicy::Always)).unwrap());
    let (tx, rx) = mpsc::channel();
    s.on_commit(move |head| tx.send(head).unwrap_or(()));
    // The leader of the first group waits until two events are written.
    s.group().hold_next_sync_until_written(2);
    let s2 = s.clone();
    let first = std::thread::spawn(move || s2.append(req("a", b"first")).unwrap());
    s.group().wait_written(1);
    // Written and indexed, but not fsynced: invisible.
    assert_eq!(s.head(), 0);
    assert!(s.read_from_sequence(1, 10).unwrap().is_empty());
    assert!(s.read("a", 1, 10).unwrap().is_empty());
    assert_eq!(s.stream_version("a").unwrap(), 0);
    assert_eq!(
        s.wait_for_sequence(0, Some(Duration::ZERO)),
        WaitOutcome::TimedOut
    );
    let second = s.append(req("a", b"second")).unwrap();
    let first = first.join().unwrap();
    assert_eq!((first.sequence, second.sequence), (1, 2));
    assert_eq!(s.head(), 2);
    assert_eq!(
        rx.recv().unwrap(),
        2,
        "one notification for the whole group"
    );
    assert_eq!(s.get(first.id).unwrap().payload, b"first");
}

#[test]
fn failed_fsync_fails_the_append_and_poisons_the_store_until_reopened() {
    let dir = TestDir::new("fsync-fails");
    let key = b"order-7".to_vec();
    {
        let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
        s.sync_counter().fail_next_sync();
        let err = s
            .append(req("a", b"x").with_idempotency_key(key.clone()))
            .unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert_eq!(s.head(), 0, "an unacknowledged event is never visible");
        assert!(matches!(
            s.append(req("b", b"y")),
            Err(StoreError::Io { .. })
        ));
        assert!(matches!(s.sync(), Err(StoreError::Io { .. })));
    }
    // The outcome of the failed append was unknown: the bytes did reach the file here, so the
    // event exists after reopening, and a retry with its idempotency key is answered from it.
    let s = Store::open(disk(&dir, SyncPolicy::Always)).unwrap();
    assert_eq!(s.head(), 1);
    let retry = s.append(req("a", b"x").with_idempotency_key(key)).unwrap();
    assert_eq!(retry.sequence, 1);
    assert_eq!(s.append(req("b", b"y")).unwrap().sequence, 2);
}

#[test]
fn batch_retry_returns_all_original_receipts_and_a_partial_repeat_conflicts() {
    let s = Store::open(Config::in_memory()).unwrap();
    let batch = || {
        vec![
            req("a", b"1").with_idempotency_key(b"k1".to_vec()),
            req("b", b"2").with_idempotency_key(b"k2".to_vec()),
        ]
    };
    let first = s.append_batch(batch()).unwrap();
    assert_eq!(s.append_batch(batch()).unwrap(), first);
    let err = s
        .append_batch(vec![
            req("a", b"1").with_idempotency_key(b"k1".to_vec()),
            req("c", b"3").with_idempotency_key(b"k3".to_vec()),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.head(), 2);
}

#[test]
fn idempotent_retry_is_not_judged_by_gates_again() {
    let s = Store::open(Config::in_memory()).unwrap();
    let first = s
        .append(req("a", b"x").with_idempotency_key(b"k".to_vec()))
        .unwrap();
    s.register_gate(|_| Err(Rejection::new(9, "no new events")));
    let again = s
        .append(req("a", b"x").with_idempotency_key(b"k".to_vec()))
        .unwrap();
    assert_eq!(again, first);
    assert!(matches!(
        s.append(req("a", b"y")),
        Err(StoreError::Rejected { code: 9, .. })
    ));
}

#[test]
fn causal_graph_and_versions_are_rebuilt_on_reopen() {
    let dir = TestDir::new("graph-reopen");
    let (root, child, grandchild) = {
        let s = Store::open(disk(&dir, SyncPolicy::Never)).unwrap();
        let root = s.append(req("r", b"root")).unwrap();
        let child = s
            .append(
                req("c", b"child")
                    .with_correlation(root.id)
                    .with_causation(root.id),
            )
            .unwrap();
        let grandchild = s
            .append(
                req("c", b"grandchild")
                    .with_correlation(root.id)
                    .with_causation(child.id),
            )
            .unwrap();
        (root, child, grandchild)
    };
    let s = Store::open(disk(&dir, SyncPolicy::Never)).unwrap();
    let ids = |v: Vec<Arc<Event>>| v.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.ancestors(grandchild.id).unwrap()),
        [child.id, root.id]
    );
    assert_eq!(
        ids(s.correlated(root.id).unwrap()),
        [root.id, child.id, grandchild.id]
    );
    assert_eq!(s.stream_version("c").unwrap(), 2);
    let e = s.get(grandchild.id).unwrap();
    assert_eq!(e.causation_id, Some(child.id));
    assert_eq!(e.correlation_id, Some(root.id));
    assert!(e.timestamp_ns >= s.get(root.id).unwrap().timestamp_ns);
    s.append(req("c", b"next").expecting(ExpectedVersion::Exact(2)))
        .unwrap();
}

#[test]
fn panicking_commit_listener_does_not_break_appends_or_other_listeners() {
    let s = Store::open(Config::in_memory()).unwrap();
    s.on_commit(|_| panic!("listener exploded"));
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    s.on_commit(move |head| tx.lock().unwrap().send(head).unwrap());
    s.append(req("a", b"x")).unwrap();
    assert_eq!(rx.recv().unwrap(), 1);
    s.append(req("a", b"y")).unwrap();
    assert_eq!(rx.recv().unwrap(), 2);
}

#[test]
fn gate_sees_each_pending_event_with_its_batch_position() {
    let s = Store::open(Config::in_memory()).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    s.register_gate(move |p| {
        let seen = (
            p.stream.to_owned(),
            p.kind,
            p.payload.to_vec(),
            p.idempotency_key.map(<[u8]>::to_vec),
            p.index,
            p.batch_len,
        );
        tx.lock().unwrap().send(seen).unwrap();
        Ok(())
    });
    s.append_batch(vec![
        AppendRequest::new("a", 3, b"p".to_vec()).with_idempotency_key(b"k".to_vec()),
        AppendRequest::new("b", 4, b"q".to_vec()),
    ])
    .unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        ("a".into(), 3, b"p".to_vec(), Some(b"k".to_vec()), 0, 2)
    );
    assert_eq!(
        rx.recv().unwrap(),
        ("b".into(), 4, b"q".to_vec(), None, 1, 2)
    );
}

#[test]
fn borrowed_appends_store_what_owned_ones_do_and_check_the_same() {
    let corr = EventId::from_u128(7 << 80).unwrap();
    // Two streams in runs and interleaved, a key, a correlation, an expected version.
    let owned = |i: u8| {
        let r = AppendRequest::new(
            if i % 3 == 0 { "b" } else { "a" },
            u16::from(i),
            vec![i; 40],
        );
        match i {
            2 => r.with_idempotency_key(b"k2".to_vec()),
            4 => r.with_correlation(corr).with_causation(corr),
            5 => r.expecting(ExpectedVersion::Exact(3)),
            _ => r,
        }
    };
    let requests: Vec<AppendRequest> = (1..8).map(owned).collect();
    let payloads: Vec<Vec<u8>> = (1..8).map(|i| vec![i; 40]).collect();
    let refs: Vec<AppendRef<'_>> = (1..8u8)
        .map(|i| {
            let r = AppendRef::new(
                if i % 3 == 0 { "b" } else { "a" },
                u16::from(i),
                &payloads[usize::from(i) - 1],
            );
            match i {
                2 => r.with_idempotency_key(b"k2"),
                4 => r.with_correlation(corr).with_causation(corr),
                5 => r.expecting(ExpectedVersion::Exact(3)),
                _ => r,
            }
        })
        .collect();
    assert_eq!(
        refs.iter().map(AppendRef::to_request).collect::<Vec<_>>(),
        requests
    );
    let dirs = [TestDir::new("refs-owned"), TestDir::new("refs-borrowed")];
    for config in [
        |d: &TestDir| disk(d, SyncPolicy::Always),
        |d: &TestDir| disk(d, SyncPolicy::Never),
        |_: &TestDir| Config::in_memory(),
    ] {
        let (a, b) = (
            Store::open(config(&dirs[0])).unwrap(),
            Store::open(config(&dirs[1])).unwrap(),
        );
        let head = a.head();
        assert_eq!(head, b.head());
        let ra = a.append_batch(requests.clone()).unwrap();
        let rb = b.append_batch_refs(&refs).unwrap();
        let strip = |rs: &[Receipt]| {
            rs.iter()
                .map(|r| (r.sequence, r.stream_version))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&ra), strip(&rb));
        // The same key again: the original receipts, nothing stored.
        assert_eq!(b.append_batch_refs(&refs[1..2]).unwrap(), rb[1..2]);
        assert_eq!(b.append_ref(refs[1]).unwrap(), rb[1]);
        // The same key with another payload, a failed version check: refused, nothing stored.
        assert!(matches!(
            b.append_ref(AppendRef::new("a", 2, b"other").with_idempotency_key(b"k2")),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            b.append_batch_refs(&[refs[0], refs[4]]),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            b.append_batch_refs(&[]),
            Err(StoreError::InvalidArgument(_))
        ));
        assert!(matches!(
            b.append_ref(AppendRef::new("", 1, b"x")),
            Err(StoreError::InvalidArgument(_))
        ));
        let single = b.append_ref(AppendRef::new("a", 9, b"one")).unwrap();
        assert_eq!(single.sequence, head + 8);
        assert_eq!(single.stream_version, a.stream_version("a").unwrap() + 1);
        let (ea, eb) = (
            a.read_from_sequence(head + 1, 100).unwrap(),
            b.read_from_sequence(head + 1, 100).unwrap(),
        );
        assert_eq!(eb.len(), 8);
        for (x, y) in ea.iter().zip(&eb) {
            assert_eq!(
                (
                    &x.stream,
                    x.kind,
                    &x.payload,
                    x.correlation_id,
                    x.causation_id
                ),
                (
                    &y.stream,
                    y.kind,
                    &y.payload,
                    y.correlation_id,
                    y.causation_id
                )
            );
            assert_eq!(x.idempotency_key, y.idempotency_key);
            assert_eq!(
                (x.sequence, x.stream_version),
                (y.sequence, y.stream_version)
            );
        }
        assert_eq!(*eb[7].payload, *b"one");
        drop((a, b));
        if config(&dirs[0]).dir.is_some() {
            // Keys from the second round onward: start each config from empty stores.
            for d in &dirs {
                std::fs::remove_dir_all(d.path()).unwrap();
            }
        }
    }
}

#[test]
fn group_commit_forgets_appenders_that_failed_or_returned() {
    // A leader waits for every appender counted inside an append: one that failed (gate,
    // conflict, bad argument) or returned must not stay counted, or every later fsync would
    // wait out its bound.
    let dir = TestDir::new("group-counts");
    let s = Arc::new(Store::open(disk(&dir, SyncPolicy::Always)).unwrap());
    let gate = s.register_gate(|p| match p.payload {
        b"bad" => Err(Rejection::new(7, "bad")),
        _ => Ok(()),
    });
    assert!(matches!(
        s.append(req("a", b"bad")),
        Err(StoreError::Rejected { .. })
    ));
    assert!(matches!(
        s.append(req("a", b"x").expecting(ExpectedVersion::Exact(9))),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.append(req("", b"x")),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.append_batch_refs(&[]),
        Err(StoreError::InvalidArgument(_))
    ));
    let first = s
        .append(req("a", b"x").with_idempotency_key(b"k".to_vec()))
        .unwrap();
    assert_eq!(
        s.append(req("a", b"x").with_idempotency_key(b"k".to_vec()))
            .unwrap(),
        first
    );
    assert_eq!(s.group().counts(), (0, 0));
    s.unregister_gate(gate).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                for j in 0..20u8 {
                    s.append(req(&format!("t{i}"), &[j])).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.group().counts(), (0, 0));
    assert_eq!(s.head(), 81);
}
