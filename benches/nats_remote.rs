//! Remote cursors (issue 9): `pull_batch` throughput of a remote canal (a durable JetStream
//! pull consumer on a local `nats-server -js`) against a local cursor over the same events,
//! and against the floor: the same client (async-nats) pulling the same messages from a
//! durable consumer with the same batch and acknowledging each batch, nothing decoded.
//!
//! No criterion: the three are alternated round by round (this 2-core machine is shared and
//! noisy) and medians are printed on `RESULT` lines; `BENCHMARKS.md` ("NATS remote cursor")
//! is built from them. Each round reads every event once through a fresh consumer name, so
//! every round does the same work.
//!
//! Run: `cargo bench -p transom-benches --bench nats_remote` (`nats-server` on PATH;
//! `TRANSOM_BENCH_EVENTS` = events, default 200,000; `TRANSOM_BENCH_ROUNDS`, default 5).

#[path = "../tests/support/nats.rs"]
mod nats_support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nats_support::NatsCluster;
use transom::canal::{Canal, CursorOptions, Delivery, Pulled, Start};
use transom::nats::envelope;
use transom::nats::remote::RemoteCursorOptions;
use transom::nats::NatsOptions;
use transom::store::{AppendRequest, Config, EventView, Store};

const STREAM: &str = "BENCH";
const BATCH: usize = 256;
const PAYLOAD: usize = 128;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fill(c: &mut NatsCluster, store: &Store, n: u64) {
    c.create_stream(STREAM, &["transom.>"], 1);
    let js = c.js();
    let mut from = 1;
    while from <= n {
        let events = store.read_from_sequence(from, 4096).unwrap();
        c.block_on(async {
            let mut acks = Vec::with_capacity(events.len());
            for e in &events {
                let env = envelope::encode(&EventView::of(e), "transom");
                let mut h = async_nats::HeaderMap::new();
                for (name, value) in &env.headers {
                    h.insert(*name, value.as_str());
                }
                acks.push(
                    js.publish_with_headers(env.subject, h, e.payload.clone().into())
                        .await
                        .unwrap(),
                );
            }
            for a in acks {
                a.await.unwrap();
            }
        });
        from += events.len() as u64;
    }
}

fn local(store: &Arc<Store>, n: u64) -> Duration {
    let t = Instant::now();
    let mut c = Canal::cursor(store, CursorOptions::new(Start::Begin)).unwrap();
    let mut seen = 0u64;
    while seen < n {
        if let Pulled::Items(items) = c.pull_batch(BATCH, Some(Duration::from_secs(10))).unwrap() {
            for i in items {
                if let Delivery::Event { value, .. } = i {
                    black_box(value.payload.len());
                }
            }
            seen += items.len() as u64;
            c.ack(seen).unwrap();
        }
    }
    t.elapsed()
}

fn remote(url: &str, name: &str, n: u64) -> Duration {
    let t = Instant::now();
    let o = RemoteCursorOptions::new(NatsOptions::new([url]), STREAM, name);
    let mut c = Canal::remote_cursor(o).unwrap();
    let mut seen = 0u64;
    while seen < n {
        match c.pull_batch(BATCH, Some(Duration::from_secs(10))).unwrap() {
            Pulled::Items(items) => {
                for i in items {
                    if let Delivery::Event { value, .. } = i {
                        black_box(value.payload.len());
                    }
                }
                seen += items.len() as u64;
                c.ack(seen).unwrap();
            }
            other => panic!("remote pull: {other:?} after {seen}"),
        }
    }
    c.checkpoint().unwrap();
    t.elapsed()
}

/// The client alone: a durable pull consumer (AckAll, 1024 messages prefetched like the remote
/// cursor), one ack per 256 messages and a confirmed ack at the end (the remote cursor's
/// checkpoint), payload length touched, nothing decoded.
fn floor(c: &mut NatsCluster, name: &str, n: u64) -> Duration {
    use async_nats::jetstream::consumer::{pull, AckPolicy};
    let js = c.js();
    let name = name.to_owned();
    c.block_on(async move {
        let t = Instant::now();
        let stream = js.get_stream(STREAM).await.unwrap();
        let consumer: async_nats::jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    ack_policy: AckPolicy::All,
                    max_ack_pending: -1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(1024)
            .messages()
            .await
            .unwrap();
        let mut seen = 0u64;
        while seen < n {
            let m = messages.next().await.unwrap().unwrap();
            black_box(m.message.payload.len());
            seen += 1;
            if seen == n {
                m.double_ack().await.unwrap();
            } else if seen.is_multiple_of(BATCH as u64) {
                m.ack().await.unwrap();
            }
        }
        t.elapsed()
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let n = env("TRANSOM_BENCH_EVENTS", 200_000) as u64;
    let rounds = env("TRANSOM_BENCH_ROUNDS", 5);
    let store = Arc::new(Store::open(Config::in_memory()).unwrap());
    let payload = vec![7u8; PAYLOAD];
    for chunk in 0..n.div_ceil(1000) {
        let reqs = (0..1000.min(n - chunk * 1000))
            .map(|i| {
                AppendRequest::new(
                    format!("stream-{}", (chunk * 1000 + i) % 100),
                    1,
                    payload.clone(),
                )
            })
            .collect();
        store.append_batch(reqs).unwrap();
    }
    let mut c = NatsCluster::single();
    fill(&mut c, &store, n);
    let url = c.url(0);
    println!("nats_remote: {n} events of {PAYLOAD} B, batch {BATCH}, {rounds} rounds");
    let (mut l, mut r, mut f) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        let a = rate(local(&store, n));
        let b = rate(remote(&url, &format!("remote{round}"), n));
        let d = rate(floor(&mut c, &format!("floor{round}"), n));
        println!("round {round}: local {a:.0}/s remote {b:.0}/s client floor {d:.0}/s");
        l.push(a);
        r.push(b);
        f.push(d);
    }
    let (l, r, f) = (median(&mut l), median(&mut r), median(&mut f));
    println!("RESULT local_cursor_items_per_s {l:.0}");
    println!("RESULT remote_cursor_items_per_s {r:.0}");
    println!("RESULT client_floor_items_per_s {f:.0}");
    println!("RESULT remote_over_local {:.3}", r / l);
    println!("RESULT remote_over_floor {:.3}", r / f);
}
