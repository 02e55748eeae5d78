//! The JetStream mirror (issue 9) against its floor, in the same run: the same client
//! (async-nats) publishing the same messages — subject, the full envelope of headers
//! (Nats-Expected-Last-Sequence, Nats-Msg-Id, Transom-*), payload — pipelined with the same
//! window (1024 in flight, acks awaited in order), with no store and no mirror around it.
//!
//! Each round starts its own fresh stream (file storage) on real `nats-server -js` processes
//! this bench starts on free 127.0.0.1 ports: one node (R1) and a 3-node cluster (R3). A round
//! of the mirror = `Mirror::start` on a store already holding N events → `wait_shipped(N)`;
//! a round of the floor = connect → create the stream → publish N → last ack. Both include
//! the connect and the stream creation. Rounds alternate mirror / floor (this 2-core machine is
//! shared and noisy); medians are printed on `RESULT` lines, from which BENCHMARKS.md is built.
//!
//! `cargo bench -p transom-benches --bench nats` (env `TRANSOM_BENCH_NATS_EVENTS`, default
//! 100000; `TRANSOM_BENCH_NATS_ROUNDS`, default 5).

use std::collections::VecDeque;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use transom::nats::envelope;
use transom::nats::{Mirror, MirrorOptions, MirrorWait, NatsOptions};
use transom::store::{AppendRequest, Config, EventBatch, Store};

const WINDOW: usize = 1024;
const PAYLOAD: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// 1 or 3 nats-server processes; killed on drop.
struct Servers {
    children: Vec<Child>,
    urls: Vec<String>,
    dir: PathBuf,
}

impl Servers {
    fn start(n: usize) -> Servers {
        let dir =
            std::env::temp_dir().join(format!("transom-bench-nats-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
            .collect();
        let mut children = Vec::new();
        for (i, (p, c)) in ports.iter().enumerate() {
            let mut conf = format!(
                "server_name: b{i}\nlisten: 127.0.0.1:{p}\njetstream {{ store_dir: \"{}\" }}\n",
                dir.join(format!("n{i}")).display()
            );
            if n > 1 {
                conf += &format!(
                    "cluster {{ name: bench, listen: 127.0.0.1:{c}, routes: [{}] }}\n",
                    routes.join(", ")
                );
            }
            let path = dir.join(format!("n{i}.conf"));
            std::fs::write(&path, conf).unwrap();
            children.push(
                Command::new("nats-server")
                    .arg("-c")
                    .arg(&path)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("nats-server on PATH (apt-get install nats-server)"),
            );
        }
        for (p, _) in &ports {
            let deadline = Instant::now() + Duration::from_secs(30);
            while TcpStream::connect(("127.0.0.1", *p)).is_err() {
                assert!(Instant::now() < deadline, "nats-server did not start");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Servers {
            children,
            urls: ports
                .iter()
                .map(|(p, _)| format!("nats://127.0.0.1:{p}"))
                .collect(),
            dir,
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn filled_store(n: usize) -> Arc<Store> {
    let store = Arc::new(Store::open(Config::in_memory()).unwrap());
    let reqs: Vec<AppendRequest> = (0..n)
        .map(|i| AppendRequest::new(format!("orders.{}", i % 16), 1, vec![i as u8; PAYLOAD]))
        .collect();
    for chunk in reqs.chunks(10_000) {
        store.append_batch(chunk.to_vec()).unwrap();
    }
    store
}

/// One mirror round: seconds from start to the last acknowledgement.
fn mirror_round(
    store: &Arc<Store>,
    urls: &[String],
    stream: &str,
    prefix: &str,
    replicas: usize,
) -> f64 {
    let mut o = MirrorOptions::new(NatsOptions::new(urls.to_vec()), stream);
    o.subject_prefix = prefix.to_owned();
    o.replicas = replicas;
    o.max_in_flight = WINDOW;
    let t = Instant::now();
    let m = Mirror::start(store, o).unwrap();
    let w = m.wait_shipped(store.head(), Some(Duration::from_secs(300)));
    let secs = t.elapsed().as_secs_f64();
    assert!(matches!(w, MirrorWait::Shipped), "{w:?} {:?}", m.status());
    m.close().unwrap();
    secs
}

/// The floor: the same messages, the same client and window, no mirror.
fn floor_round(
    rt: &tokio::runtime::Runtime,
    messages: &Arc<Vec<(String, async_nats::HeaderMap, Vec<u8>)>>,
    urls: &[String],
    stream: &str,
    prefix: &str,
    replicas: usize,
) -> f64 {
    let messages = Arc::clone(messages);
    let urls = urls.to_vec();
    let (stream, prefix) = (stream.to_owned(), prefix.to_owned());
    rt.block_on(async move {
        let t = Instant::now();
        let addrs: Vec<async_nats::ServerAddr> = urls.iter().map(|u| u.parse().unwrap()).collect();
        let client = async_nats::ConnectOptions::new()
            .connect(addrs)
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: stream,
            subjects: vec![format!("{prefix}.>")],
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .unwrap();
        let mut in_flight = VecDeque::with_capacity(WINDOW);
        for (subject, headers, payload) in messages.iter() {
            let subject = format!("{prefix}{subject}");
            let ack = js
                .publish_with_headers(subject, headers.clone(), payload.clone().into())
                .await
                .unwrap();
            in_flight.push_back(ack);
            if in_flight.len() >= WINDOW {
                while in_flight.len() > WINDOW / 2 {
                    in_flight.pop_front().unwrap().await.unwrap();
                }
            }
        }
        while let Some(a) = in_flight.pop_front() {
            a.await.unwrap();
        }
        t.elapsed().as_secs_f64()
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let n = env_usize("TRANSOM_BENCH_NATS_EVENTS", 100_000);
    let rounds = env_usize("TRANSOM_BENCH_NATS_ROUNDS", 5);
    let store = filled_store(n);
    // The floor publishes exactly the mirror's messages (subject without the prefix, headers).
    let mut batch = EventBatch::new();
    let mut messages = Vec::with_capacity(n);
    let mut from = 1;
    while store.read_batch(from, 4096, &mut batch).unwrap() > 0 {
        for v in batch.events() {
            let env = envelope::encode(v, "");
            let mut h = async_nats::HeaderMap::new();
            for (k, val) in env.headers {
                h.insert(k, val);
            }
            messages.push((env.subject, h, v.payload.to_vec()));
            from = v.sequence + 1;
        }
    }
    let messages = Arc::new(messages);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (nodes, replicas) in [(1usize, 1usize), (3, 3)] {
        let name = format!("mirror_r{replicas}");
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let servers = Servers::start(nodes);
        let (mut m, mut f) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            m.push(mirror_round(
                &store,
                &servers.urls,
                &format!("M{r}"),
                &format!("m{r}"),
                replicas,
            ));
            f.push(floor_round(
                &rt,
                &messages,
                &servers.urls,
                &format!("F{r}"),
                &format!("f{r}"),
                replicas,
            ));
            println!(
                "round {r} R{replicas}: mirror {:.3} s, floor {:.3} s",
                m[r], f[r]
            );
        }
        let (mm, fm) = (median(&mut m), median(&mut f));
        println!(
            "RESULT {name}: {n} events x {PAYLOAD} B, {nodes} node(s): mirror {:.0} ev/s ({mm:.3} s), \
             floor {:.0} msg/s ({fm:.3} s), mirror/floor {:.2}",
            n as f64 / mm,
            n as f64 / fm,
            fm / mm
        );
    }
}
