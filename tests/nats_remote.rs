//! Remote cursors against a real `nats-server -js` (tests/support/nats.rs): the JetStream
//! stream is filled with the envelope of real store events (the mirror's encoder), and the
//! remote canal must hand them out exactly like a local cursor over the same store, resume
//! after its last checkpoint in a new process after a SIGKILL, and report what it cannot
//! deliver (a malformed message, an unreachable server) with the documented errors.

#![cfg(feature = "nats")]

#[path = "support/nats.rs"]
mod nats_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nats_support::NatsCluster;
use transom::canal::{
    spawn_worker, Canal, CanalError, CursorOptions, Delivery, Filter, Pulled, Start, WorkerAction,
    WorkerExit, WorkerOptions,
};
use transom::nats::envelope;
use transom::nats::remote::RemoteCursorOptions;
use transom::nats::NatsOptions;
use transom::store::{AppendRequest, Config, Event, EventId, Store};

const STREAM: &str = "EVENTS";
const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// A store with `n` events over a few streams and kinds (some with correlation, causation and
/// an idempotency key), so every envelope header is exercised.
fn store_with(n: u64) -> Arc<Store> {
    let store = Arc::new(Store::open(Config::in_memory()).unwrap());
    for i in 1..=n {
        let stream = match i % 4 {
            0 => "orders.eu",
            1 => "orders.us",
            2 => "audit",
            _ => "odd stream/%",
        };
        let mut r = AppendRequest::new(stream, (i % 3) as u16, format!("payload {i}").into_bytes());
        if i % 5 == 0 {
            r = r
                .with_correlation(EventId::from_u128(i as u128).unwrap())
                .with_causation(EventId::from_u128(i as u128 + 1).unwrap())
                .with_idempotency_key(format!("key-{i}").into_bytes());
        }
        store.append(r).unwrap();
    }
    store
}

/// Publishes the store's events `from..=to` to the JetStream stream `stream` as the mirror
/// would (creating the stream when `from` is 1).
fn publish(c: &mut NatsCluster, stream: &str, store: &Store, from: u64, to: u64) {
    if from == 1 {
        c.create_stream(stream, &["transom.>"], 1);
    }
    let events = store
        .read_from_sequence(from, (to - from + 1) as usize)
        .unwrap();
    publish_events(c, &events, None);
}

/// Publishes `events` with their envelope; `omit` leaves one header out of the last one.
fn publish_events(c: &mut NatsCluster, events: &[Arc<Event>], omit: Option<&str>) {
    let js = c.js();
    c.block_on(async {
        let mut acks = Vec::new();
        for (k, e) in events.iter().enumerate() {
            let env = envelope::encode(&transom::store::EventView::of(e), "transom");
            let mut h = async_nats::HeaderMap::new();
            for (name, value) in &env.headers {
                if k + 1 == events.len() && omit == Some(*name) {
                    continue;
                }
                h.insert(*name, value.as_str());
            }
            acks.push(
                js.publish_with_headers(env.subject, h, e.payload.clone().into())
                    .await
                    .unwrap(),
            );
        }
        for (e, ack) in events.iter().zip(acks) {
            assert_eq!(ack.await.unwrap().sequence, e.sequence);
        }
    });
}

/// A server holding the envelopes of `n` events in `STREAM`, and the store they came from.
fn started(n: u64) -> (NatsCluster, Arc<Store>) {
    let mut c = NatsCluster::single();
    let store = store_with(n);
    publish(&mut c, STREAM, &store, 1, n);
    (c, store)
}

/// Pulls `to - from + 1` items (batches of at most `max`) and checks they are `from..=to`.
fn expect_range(canal: &mut Canal, from: u64, to: u64, max: usize) {
    let got = sequences(&pull_n(canal, (to - from + 1) as usize, max));
    assert_eq!(got, (from..=to).collect::<Vec<_>>());
}

fn options(c: &NatsCluster, stream: &str, name: &str) -> RemoteCursorOptions {
    let mut o = RemoteCursorOptions::new(NatsOptions::new(c.urls()), stream, name);
    o.ack_wait = Duration::from_secs(1);
    o
}

fn open(c: &NatsCluster, stream: &str, name: &str) -> Canal {
    Canal::remote_cursor(options(c, stream, name)).unwrap()
}

/// Pulls until `count` items came (each pull waits up to 10 s); returns owned copies.
fn pull_n(canal: &mut Canal, count: usize, max: usize) -> Vec<Delivery<Event>> {
    let mut out = Vec::new();
    while out.len() < count {
        match canal.pull_batch(max.min(count - out.len()), WAIT).unwrap() {
            Pulled::Items(items) => {
                assert!(items.len() <= max);
                out.extend(items.iter().map(|i| i.to_owned_item()));
            }
            other => panic!(
                "expected items after {} of {count}, got {other:?}",
                out.len()
            ),
        }
    }
    assert_eq!(out.len(), count, "more items than expected");
    out
}

fn sequences(items: &[Delivery<Event>]) -> Vec<u64> {
    items
        .iter()
        .map(|d| match d {
            Delivery::Event { sequence, .. } => *sequence,
            Delivery::Gap { .. } => panic!("unexpected gap {d:?}"),
        })
        .collect()
}

fn assert_idle(canal: &mut Canal) {
    assert_eq!(
        canal
            .pull_batch(8, Some(Duration::from_millis(300)))
            .unwrap(),
        Pulled::TimedOut
    );
}

#[test]
fn remote_items_equal_a_local_cursors_items_over_the_same_events() {
    let (c, store) = started(500);
    let mut local = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let mut remote = open(&c, STREAM, "same");
    assert!(remote.is_remote());
    assert_eq!(remote.name(), Some("same"));
    assert_eq!((remote.acked(), remote.position()), (Some(0), Some(1)));
    let want = pull_n(&mut local, 500, 64);
    let got = pull_n(&mut remote, 500, 37);
    assert_eq!(got, want);
    assert_eq!(remote.delivered(), Some(500));
    assert_idle(&mut remote);
}

#[test]
fn a_remote_cursor_reads_what_the_mirror_ships_while_it_ships() {
    use transom::nats::{Mirror, MirrorOptions, MirrorWait};
    let c = NatsCluster::single();
    let store = store_with(300);
    let mirror = Mirror::start(
        &store,
        MirrorOptions::new(NatsOptions::new(c.urls()), "MIRRORED"),
    )
    .unwrap();
    let wait = Some(Duration::from_secs(30));
    assert!(matches!(
        mirror.wait_shipped(300, wait),
        MirrorWait::Shipped
    ));
    let mut local = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
    let mut remote = open(&c, "MIRRORED", "downstream");
    assert_eq!(pull_n(&mut remote, 300, 64), pull_n(&mut local, 300, 64));
    // Events appended now reach the remote cursor through the mirror.
    for i in 0..50 {
        store
            .append(AppendRequest::new(
                "late",
                9,
                format!("late {i}").into_bytes(),
            ))
            .unwrap();
    }
    assert_eq!(pull_n(&mut remote, 50, 64), pull_n(&mut local, 50, 64));
    mirror.close().unwrap();
}

#[test]
fn ack_and_checkpoint_resume_after_the_confirmed_position_and_redeliver_the_rest() {
    let (c, _) = started(300);
    let mut r = open(&c, STREAM, "resume");
    expect_range(&mut r, 1, 120, 50);
    assert!(matches!(r.ack(121), Err(CanalError::InvalidArgument(_))));
    r.ack(100).unwrap();
    assert!(matches!(r.ack(99), Err(CanalError::InvalidArgument(_))));
    r.checkpoint().unwrap();
    assert_eq!(r.checkpointed(), Some(100));
    drop(r);
    // 101..=300 were received (prefetched) and not acknowledged: they come again, in order,
    // before anything newer.
    let mut r = open(&c, STREAM, "resume");
    assert_eq!(r.acked(), Some(100));
    expect_range(&mut r, 101, 300, 64);
    r.ack(300).unwrap();
    r.checkpoint().unwrap();
    drop(r);
    let mut r = open(&c, STREAM, "resume");
    assert_eq!(r.acked(), Some(300));
    assert_idle(&mut r);
}

#[test]
fn two_names_each_see_everything() {
    let (c, _) = started(400);
    let mut a = open(&c, STREAM, "alpha");
    let mut b = open(&c, STREAM, "beta");
    let all: Vec<u64> = (1..=400).collect();
    assert_eq!(sequences(&pull_n(&mut a, 200, 64)), all[..200]);
    assert_eq!(sequences(&pull_n(&mut b, 400, 100)), all);
    assert_eq!(sequences(&pull_n(&mut a, 200, 64)), all[200..]);
}

#[test]
fn filters_match_a_local_cursor_and_skipped_events_are_acknowledged() {
    let (c, store) = started(400);
    let filters = [
        // Whole tokens: the server filters.
        Filter::all().with_stream_prefix("orders.").unwrap(),
        Filter::all()
            .with_stream_prefix("orders.")
            .unwrap()
            .with_kinds([1]),
        // Not whole tokens: the canal filters.
        Filter::all().with_stream_prefix("ord").unwrap(),
        Filter::all().with_stream_prefix("odd stream/").unwrap(),
        Filter::all().with_kinds([2, 0]),
    ];
    for (k, filter) in filters.into_iter().enumerate() {
        let mut local = Canal::cursor(
            &store,
            CursorOptions::new(Start::Begin).with_filter(filter.clone()),
        )
        .unwrap();
        let count = match local.pull_batch(1000, Some(Duration::ZERO)).unwrap() {
            Pulled::Items(items) => items.len(),
            other => panic!("{other:?}"),
        };
        let mut local = Canal::cursor(
            &store,
            CursorOptions::new(Start::Begin).with_filter(filter.clone()),
        )
        .unwrap();
        let want = pull_n(&mut local, count, 1000);
        let name = format!("filter{k}");
        let mut r =
            Canal::remote_cursor(options(&c, STREAM, &name).with_filter(filter.clone())).unwrap();
        let got = pull_n(&mut r, count, 50);
        assert_eq!(got, want, "filter {k}");
        assert_idle(&mut r);
        let last = *sequences(&got).last().unwrap();
        r.ack(last).unwrap();
        r.checkpoint().unwrap();
        drop(r);
        // Everything was acknowledged on the server, also the skipped events after `last`.
        let mut r = Canal::remote_cursor(options(&c, STREAM, &name).with_filter(filter)).unwrap();
        assert_eq!(r.acked(), Some(400), "filter {k}");
        assert_idle(&mut r);
    }
}

#[test]
fn rewind_redelivers_the_unacknowledged_items_first() {
    let (c, _) = started(100);
    let mut r = open(&c, STREAM, "rewind");
    expect_range(&mut r, 1, 30, 30);
    r.ack(10).unwrap();
    r.rewind().unwrap();
    assert_eq!((r.delivered(), r.position()), (Some(10), Some(11)));
    expect_range(&mut r, 11, 100, 64);
}

#[test]
fn interrupt_close_and_the_descriptor_behave_as_for_a_local_cursor() {
    let mut c = NatsCluster::single();
    let store = store_with(20);
    publish(&mut c, STREAM, &store, 1, 10);
    let mut r = open(&c, STREAM, "waker");
    let fd = r.fd().unwrap();
    let readable = || {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; waits at most 10 s.
        unsafe { libc::poll(&mut p, 1, 10_000) == 1 }
    };
    assert!(readable(), "prefetched events make the descriptor readable");
    pull_n(&mut r, 10, 64);
    // A blocked pull wakes when new events are published.
    let interrupter = r.interrupter();
    let publisher = std::thread::spawn(move || {
        publish(&mut c, STREAM, &store, 11, 20);
        c
    });
    expect_range(&mut r, 11, 20, 64);
    let _c = publisher.join().unwrap();
    let t = std::thread::spawn(move || interrupter.interrupt());
    assert_eq!(r.pull_batch(4, None).unwrap(), Pulled::Interrupted);
    t.join().unwrap();
    let closer = r.closer();
    let t = std::thread::spawn(move || closer.close());
    assert_eq!(r.pull_batch(4, None), Err(CanalError::Closed));
    t.join().unwrap();
    assert!(readable());
    assert_eq!(r.ack(20), Err(CanalError::Closed));
    assert_eq!(r.checkpoint(), Err(CanalError::Closed));
    assert_eq!(r.rewind(), Err(CanalError::Closed));
}

#[test]
fn a_worker_runs_unchanged_on_a_remote_cursor() {
    let (c, _) = started(1000);
    let (tx, rx) = mpsc::channel();
    let canal = open(&c, STREAM, "worker");
    let options = WorkerOptions {
        max_batch: 64,
        checkpoint_every: 3,
        checkpoint_on_exit: true,
    };
    let worker = spawn_worker(canal, options, move |items| {
        let seqs: Vec<u64> = items
            .iter()
            .map(|i| i.to_owned_item())
            .map(|d| match d {
                Delivery::Event { sequence, .. } => sequence,
                Delivery::Gap { .. } => 0,
            })
            .collect();
        let done = seqs.contains(&600);
        tx.send(seqs).unwrap();
        if done {
            WorkerAction::Stop
        } else {
            WorkerAction::Continue
        }
    })
    .unwrap();
    let exit = worker.join(Some(Duration::from_secs(30))).unwrap().unwrap();
    assert_eq!(exit, Ok(WorkerExit::CallbackStopped));
    let seen: Vec<u64> = rx.try_iter().flatten().collect();
    let last = *seen.last().unwrap();
    assert_eq!(seen, (1..=last).collect::<Vec<_>>());
    drop(worker);
    // The exit checkpoint was confirmed: a new session starts right after the last batch.
    let mut r = open(&c, STREAM, "worker");
    assert_eq!(r.acked(), Some(last));
    expect_range(&mut r, last + 1, 1000, 128);
}

#[test]
fn a_malformed_message_is_corrupt_naming_its_jetstream_sequence() {
    let mut c = NatsCluster::single();
    let store = store_with(3);
    c.create_stream("BROKEN", &["transom.>"], 1);
    let events = store.read_from_sequence(1, 3).unwrap();
    publish_events(&mut c, &events, Some(envelope::KIND));
    let mut r = open(&c, "BROKEN", "reader");
    assert_eq!(sequences(&pull_n(&mut r, 2, 10)), [1, 2]);
    for _ in 0..2 {
        match r.pull_batch(10, WAIT) {
            Err(CanalError::RemoteCorrupt { sequence, reason }) => {
                assert_eq!(sequence, 3);
                assert!(reason.contains("Transom-Kind"), "{reason}");
            }
            other => panic!("expected RemoteCorrupt, got {other:?}"),
        }
    }
}

#[test]
fn an_unreachable_server_is_unavailable_after_the_connect_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nats = NatsOptions::new([format!("nats://127.0.0.1:{port}")]);
    nats.connect_timeout = Duration::from_millis(300);
    let t0 = Instant::now();
    match Canal::remote_cursor(RemoteCursorOptions::new(nats, STREAM, "nobody")) {
        Err(CanalError::Unavailable(detail)) => assert!(detail.contains("127.0.0.1"), "{detail}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(20));
}

#[test]
fn bad_options_are_invalid_arguments() {
    let nats = NatsOptions::new(["nats://127.0.0.1:1"]);
    let bad = |o: RemoteCursorOptions| match Canal::remote_cursor(o) {
        Err(CanalError::InvalidArgument(_)) => {}
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    bad(RemoteCursorOptions::new(nats.clone(), STREAM, "a.b"));
    bad(RemoteCursorOptions::new(nats.clone(), STREAM, ""));
    bad(RemoteCursorOptions::new(
        nats.clone(),
        STREAM,
        "x".repeat(65),
    ));
    bad(RemoteCursorOptions::new(nats.clone(), STREAM, "n").with_start(Start::At(0)));
    bad(RemoteCursorOptions::new(nats.clone(), STREAM, "n").with_start(Start::Named("n".into())));
    let mut o = RemoteCursorOptions::new(nats.clone(), STREAM, "n");
    o.prefetch = 0;
    bad(o);
    // The stream name and subject prefix rules are the mirror's.
    let invalid = |o: RemoteCursorOptions| match Canal::remote_cursor(o) {
        Err(CanalError::RemoteInvalid(_)) => {}
        other => panic!("expected RemoteInvalid, got {other:?}"),
    };
    invalid(RemoteCursorOptions::new(nats.clone(), "A.B", "n"));
    invalid(RemoteCursorOptions::new(nats.clone(), "", "n"));
    let mut o = RemoteCursorOptions::new(nats, STREAM, "n");
    o.subject_prefix = "a.>".into();
    invalid(o);
}

#[test]
fn a_consumer_of_that_name_with_another_configuration_is_refused() {
    let (mut c, _) = started(10);
    // Another subject filter than this cursor's.
    let orders = Filter::all().with_stream_prefix("orders.").unwrap();
    drop(Canal::remote_cursor(options(&c, STREAM, "f").with_filter(orders)).unwrap());
    match Canal::remote_cursor(options(&c, STREAM, "f")) {
        Err(CanalError::RemoteInvalid(detail)) => assert!(detail.contains("filter"), "{detail}"),
        other => panic!("expected RemoteInvalid, got {other:?}"),
    }
    // Not acknowledged cumulatively: acking a batch's last message would not cover the rest.
    let js = c.js();
    c.block_on(async {
        use async_nats::jetstream::consumer::{pull, AckPolicy};
        let stream = js.get_stream(STREAM).await.unwrap();
        let config = pull::Config {
            durable_name: Some("explicit".into()),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        };
        stream.create_consumer(config).await.unwrap();
    });
    match Canal::remote_cursor(options(&c, STREAM, "explicit")) {
        Err(CanalError::RemoteInvalid(detail)) => {
            assert!(detail.contains("ack policy"), "{detail}")
        }
        other => panic!("expected RemoteInvalid, got {other:?}"),
    }
}

#[test]
fn a_missing_stream_is_unavailable() {
    let c = NatsCluster::single();
    match Canal::remote_cursor(options(&c, "NOPE", "n")) {
        Err(CanalError::Unavailable(detail)) => assert!(detail.contains("NOPE"), "{detail}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// The consumer process of the SIGKILL test: pulls batches of 10 and prints what it got;
/// acknowledges and checkpoints each batch up to `checkpoint_to` (then prints
/// `checkpointed <seq>`), past it only prints; exits when it delivered `last`.
fn consumer_child(url: &str, name: &str, checkpoint_to: u64, last: u64) {
    let mut o = RemoteCursorOptions::new(NatsOptions::new([url]), STREAM, name);
    o.ack_wait = Duration::from_secs(1);
    let mut r = Canal::remote_cursor(o).unwrap();
    println!("opened {}", r.acked().unwrap());
    loop {
        let seqs = match r.pull_batch(10, WAIT).unwrap() {
            Pulled::Items(items) => items.iter().map(|i| i.to_owned_item()).collect::<Vec<_>>(),
            other => panic!("child: {other:?}"),
        };
        let seqs = sequences(&seqs);
        let hi = *seqs.last().unwrap();
        println!(
            "delivered {}",
            seqs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
        if hi <= checkpoint_to {
            r.ack(hi).unwrap();
            r.checkpoint().unwrap();
            println!("checkpointed {hi}");
        }
        if hi >= last {
            return;
        }
    }
}

/// Runs this test binary as a consumer process (see [`consumer_child`]); its stdout lines go
/// to the returned channel.
fn spawn_consumer(
    url: &str,
    checkpoint_to: u64,
    last: u64,
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_sigkilled_consumer_process_resumes_after_its_last_checkpoint",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "TRANSOM_REMOTE_CHILD",
            format!("{url} {checkpoint_to} {last}"),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

fn next_line(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the consumer process printed nothing for 30 s")
}

#[test]
fn a_sigkilled_consumer_process_resumes_after_its_last_checkpoint() {
    if let Ok(args) = std::env::var("TRANSOM_REMOTE_CHILD") {
        let a: Vec<&str> = args.split(' ').collect();
        consumer_child(a[0], "killed", a[1].parse().unwrap(), a[2].parse().unwrap());
        return;
    }
    let (mut c, _) = started(2000);
    // First process: checkpoints every batch that ends at or below 500, then reads on without
    // acknowledging; killed once it delivered 200 unacknowledged events.
    let (mut child, rx) = spawn_consumer(&c.url(0), 500, u64::MAX);
    let mut checkpointed = 0;
    let mut unacked = 0;
    loop {
        let line = next_line(&rx);
        if let Some(s) = line.strip_prefix("checkpointed ") {
            checkpointed = s.parse().unwrap();
        } else if let Some(s) = line.strip_prefix("delivered ") {
            let seqs: Vec<u64> = s.split(' ').map(|x| x.parse().unwrap()).collect();
            if seqs[0] > 500 {
                unacked += seqs.len();
            }
            if unacked >= 200 {
                break;
            }
        }
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!((490..=500).contains(&checkpointed), "{checkpointed}");
    // Events published while no consumer runs are delivered after the unacknowledged ones.
    let more = store_with(2100);
    publish(&mut c, STREAM, &more, 2001, 2100);
    // Second process: resumes right after the checkpoint, loses nothing, in order.
    let (mut child, rx) = spawn_consumer(&c.url(0), u64::MAX, 2100);
    // (libtest prints its "test … ..." without a newline before the child's first line.)
    let opened = loop {
        let line = next_line(&rx);
        if let Some((_, s)) = line.split_once("opened ") {
            break s.parse::<u64>().unwrap();
        }
    };
    assert_eq!(opened, checkpointed);
    let mut seen = Vec::new();
    while seen.last() != Some(&2100) {
        let line = next_line(&rx);
        if let Some(s) = line.strip_prefix("delivered ") {
            seen.extend(s.split(' ').map(|x| x.parse::<u64>().unwrap()));
        }
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(seen, (checkpointed + 1..=2100).collect::<Vec<_>>());
}
