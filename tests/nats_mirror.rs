//! The JetStream mirror against real nats-server processes (tests/support/nats.rs): every
//! event exactly once at its own sequence through a stream-leader kill, a SIGKILLed and
//! restarted mirroring process, a server that is down at start, an oversized payload and a
//! diverged stream.

#![cfg(feature = "nats")]

#[path = "support/nats.rs"]
mod nats_support;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use nats_support::{ClusterOptions, NatsCluster};
use transom::nats::envelope;
use transom::nats::mirror::LogLevel;
use transom::nats::{Mirror, MirrorOptions, MirrorState, MirrorWait, NatsError, NatsOptions};
use transom::store::{AppendRequest, Config, EventView, Store, SyncPolicy};

const LONG: Option<Duration> = Some(Duration::from_secs(120));

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("transom-mirror-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open_store(dir: &std::path::Path) -> Arc<Store> {
    Arc::new(
        Store::open(Config {
            sync: SyncPolicy::Always,
            ..Config::on_disk(dir)
        })
        .unwrap(),
    )
}

/// `n` events from `from`: streams with dots and odd bytes, keys on some, links on others.
fn append(store: &Store, from: u64, n: u64) {
    let reqs: Vec<AppendRequest> = (from..from + n)
        .map(|i| {
            let stream = match i % 4 {
                0 => "orders.eu".to_owned(),
                1 => format!("acct {}", i % 7),
                2 => "ünï*>".to_owned(),
                _ => format!("s{}", i % 3),
            };
            let r = AppendRequest::new(stream, (i % 5) as u16, format!("payload-{i}").into_bytes());
            if i % 3 == 0 {
                r.with_idempotency_key(format!("k{i}"))
            } else {
                r
            }
        })
        .collect();
    for chunk in reqs.chunks(1000) {
        store.append_batch(chunk.to_vec()).unwrap();
    }
}

fn options(urls: Vec<String>, stream: &str, replicas: usize) -> MirrorOptions {
    let mut nats = NatsOptions::new(urls);
    nats.request_timeout = Duration::from_secs(2);
    let mut o = MirrorOptions::new(nats, stream);
    o.replicas = replicas;
    o.retry_min = Duration::from_millis(20);
    o.retry_max = Duration::from_millis(500);
    o
}

/// Reads the whole JetStream stream and checks it is the store, event for event: message `n`
/// is at stream sequence `n` and decodes to the store's event `n`.
fn assert_stream_equals_store(c: &mut NatsCluster, stream: &str, store: &Store) {
    let head = store.head();
    assert_eq!(
        c.stream_state(stream),
        (head, head),
        "messages, last sequence"
    );
    let js = c.js();
    let stream_name = stream.to_owned();
    let got: Vec<(u64, transom::store::Event)> = c.block_on(async move {
        let s = js.get_stream(&stream_name).await.unwrap();
        let consumer = s
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::with_capacity(head as usize);
        while (out.len() as u64) < head {
            let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
                .await
                .expect("messages within 30 s")
                .expect("stream open")
                .expect("message");
            let seq = m.info().unwrap().stream_sequence;
            let h = m.headers.clone().expect("headers");
            let e = envelope::decode(|n| h.get(n).map(|v| v.as_str()), &m.payload).unwrap();
            out.push((seq, e));
        }
        out
    });
    let mut batch = transom::store::EventBatch::new();
    let mut i = 0usize;
    let mut from = 1;
    while from <= head {
        let n = store.read_batch(from, 4096, &mut batch).unwrap();
        for v in batch.events() {
            let (seq, e) = &got[i];
            assert_eq!(*seq, v.sequence, "JetStream sequence == transom sequence");
            assert_eq!(EventView::of(e), *v, "event {}", v.sequence);
            i += 1;
        }
        from += n as u64;
    }
    assert_eq!(i as u64, head);
}

fn stopped_error(w: MirrorWait) -> Arc<NatsError> {
    match w {
        MirrorWait::Stopped(Some(e)) => e,
        other => panic!("expected a stop with an error, got {other:?}"),
    }
}

#[test]
fn every_event_once_at_its_sequence_through_a_stream_leader_kill() {
    let dir = TempDir::new("leader");
    let mut c = NatsCluster::three();
    let store = open_store(&dir.0);
    let mirror = Mirror::start(&store, options(c.urls(), "LEADER", 3)).unwrap();
    append(&store, 0, 40_000);
    assert!(matches!(
        mirror.wait_shipped(20_000, LONG),
        MirrorWait::Shipped
    ));
    let leader = c.stream_leader("LEADER");
    c.kill(leader);
    append(&store, 40_000, 60_000);
    assert_eq!(store.head(), 100_000);
    let w = mirror.wait_shipped(100_000, LONG);
    assert!(
        matches!(w, MirrorWait::Shipped),
        "{w:?}: {:?}",
        mirror.status()
    );
    let s = mirror.status();
    assert_eq!(
        (s.state, s.shipped, s.lag),
        (MirrorState::Running, 100_000, 0)
    );
    mirror.close().unwrap();
    assert_eq!(mirror.status().state, MirrorState::Stopped);
    assert_stream_equals_store(&mut c, "LEADER", &store);
}

/// The child side of the process-kill test: mirrors while appending forever; prints a line
/// once 3000 events are shipped, then keeps going until killed.
fn mirroring_child(dir: &str, url: &str) {
    let store = open_store(std::path::Path::new(dir));
    let mirror = Mirror::start(&store, options(vec![url.to_owned()], "PROC", 1)).unwrap();
    let mut from = store.head();
    let mut announced = false;
    loop {
        append(&store, from, 500);
        from += 500;
        if !announced {
            assert!(matches!(
                mirror.wait_shipped(3000.min(store.head()), LONG),
                MirrorWait::Shipped
            ));
            if mirror.status().shipped >= 3000 {
                // Its own line: libtest has printed "test <name> ... " without a newline.
                println!("\nshipped {}", mirror.status().shipped);
                announced = true;
            }
        }
    }
}

#[test]
fn a_killed_mirroring_process_resumes_without_duplicate_or_gap() {
    if let (Ok(dir), Ok(url)) = (
        std::env::var("TRANSOM_MIRROR_CHILD_DIR"),
        std::env::var("TRANSOM_MIRROR_CHILD_URL"),
    ) {
        mirroring_child(&dir, &url);
        return;
    }
    let dir = TempDir::new("proc");
    let mut c = NatsCluster::single();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_mirroring_process_resumes_without_duplicate_or_gap",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TRANSOM_MIRROR_CHILD_DIR", &dir.0)
        .env("TRANSOM_MIRROR_CHILD_URL", c.url(0))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(n > 0, "the child ended before shipping 3000 events");
        if line.starts_with("shipped ") {
            // The child appends and ships continuously: this kill lands mid-way.
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-way: it appends and ships continuously
    child.wait().unwrap();
    let (_, before) = c.stream_state("PROC");
    assert!(before >= 3000, "{before}");
    let store = open_store(&dir.0);
    let head = store.head();
    assert!(
        head >= before,
        "the store (ALWAYS) has everything JetStream has"
    );
    let mirror = Mirror::start(&store, options(c.urls(), "PROC", 1)).unwrap();
    append(&store, head, 1000);
    assert!(matches!(
        mirror.wait_shipped(head + 1000, LONG),
        MirrorWait::Shipped
    ));
    mirror.close().unwrap();
    assert_stream_equals_store(&mut c, "PROC", &store);
}

#[test]
fn a_server_down_at_start_is_retried_and_the_mirror_catches_up() {
    let dir = TempDir::new("down");
    let mut c = NatsCluster::configure(1, ClusterOptions::default());
    let store = open_store(&dir.0);
    append(&store, 0, 2000);
    let (tx, rx) = mpsc::channel::<(LogLevel, String)>();
    let tx = std::sync::Mutex::new(tx);
    let mut o = options(c.urls(), "DOWN", 1);
    o.log = Some(Arc::new(move |level, msg: &str| {
        let _ = tx.lock().unwrap().send((level, msg.to_owned()));
    }));
    let mirror = Mirror::start(&store, o).unwrap();
    // The first failed connect is logged as a warning; appends are not held up meanwhile.
    let (level, msg) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(level, LogLevel::Warn, "{msg}");
    append(&store, 2000, 1000);
    let s = mirror.status();
    assert_eq!(
        (s.state, s.shipped, s.store_head),
        (MirrorState::Retrying, 0, 3000)
    );
    assert!(matches!(
        s.last_error.as_deref(),
        Some(NatsError::Unavailable(_) | NatsError::Timeout(_))
    ));
    assert!(s.retries >= 1);
    c.restart(0);
    assert!(matches!(
        mirror.wait_shipped(3000, LONG),
        MirrorWait::Shipped
    ));
    assert_eq!(mirror.status().state, MirrorState::Running);
    mirror.close().unwrap();
    assert_stream_equals_store(&mut c, "DOWN", &store);
}

#[test]
fn an_event_over_the_server_max_payload_stops_the_mirror_naming_it() {
    let dir = TempDir::new("big");
    let mut c = NatsCluster::start(
        1,
        ClusterOptions {
            max_payload: Some(8192),
        },
    );
    let store = open_store(&dir.0);
    append(&store, 0, 10);
    store
        .append(AppendRequest::new("big", 1, vec![7u8; 9000]))
        .unwrap();
    append(&store, 11, 5);
    let mirror = Mirror::start(&store, options(c.urls(), "BIG", 1)).unwrap();
    let e = stopped_error(mirror.wait_shipped(16, LONG));
    match &*e {
        NatsError::TooLarge { sequence, max, .. } => assert_eq!((*sequence, *max), (11, 8192)),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("event 11"), "{e}");
    let s = mirror.status();
    assert_eq!((s.state, s.shipped, s.lag), (MirrorState::Stopped, 10, 6));
    assert_eq!(c.stream_state("BIG"), (10, 10));
}

#[test]
fn a_stream_that_diverged_from_the_store_stops_the_mirror() {
    let mut c = NatsCluster::single();
    let (da, db, dc) = (
        TempDir::new("div-a"),
        TempDir::new("div-b"),
        TempDir::new("div-c"),
    );
    let a = open_store(&da.0);
    append(&a, 0, 10);
    let m = Mirror::start(&a, options(c.urls(), "DIV", 1)).unwrap();
    assert!(matches!(m.wait_shipped(10, LONG), MirrorWait::Shipped));
    m.close().unwrap();
    // Same sequences, other events: message 10's Transom-Id differs.
    let b = open_store(&db.0);
    append(&b, 0, 12);
    let m = Mirror::start(&b, options(c.urls(), "DIV", 1)).unwrap();
    match &*stopped_error(m.wait_shipped(12, LONG)) {
        NatsError::Diverged { sequence, .. } => assert_eq!(*sequence, 10),
        other => panic!("{other}"),
    }
    assert_eq!(m.status().state, MirrorState::Stopped);
    // A store behind the stream: JetStream holds 6..=10, which this store does not.
    let s = open_store(&dc.0);
    append(&s, 0, 5);
    let m = Mirror::start(&s, options(c.urls(), "DIV", 1)).unwrap();
    match &*stopped_error(m.wait_shipped(5, LONG)) {
        NatsError::Diverged { sequence, .. } => assert_eq!(*sequence, 6),
        other => panic!("{other}"),
    }
    // Nothing was written to the stream by either.
    assert_eq!(c.stream_state("DIV"), (10, 10));
}
