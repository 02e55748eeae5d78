//! A real NATS JetStream cluster for integration tests: 1 or 3 `nats-server -js` processes on
//! free 127.0.0.1 ports, each with its own store directory under a temp dir, clustered with
//! routes when there are 3. Include it with `#[path = "support/nats.rs"] mod nats_support;`.
//!
//! Readiness is polled (the monitoring endpoint `/healthz`, every 20 ms, with a deadline), never
//! slept for. Nodes can be SIGKILLed and restarted on the same ports and directory; the stream
//! leader is found through the JetStream API. Everything is killed and removed on drop.
//! `nats-server` must be on PATH (`apt-get install nats-server`): without it the tests FAIL.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a node may take to become healthy.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

/// Options of a cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// The servers' `max_payload` (None = the server default, 1 MiB).
    pub max_payload: Option<usize>,
}

struct Node {
    name: String,
    client_port: u16,
    cluster_port: u16,
    monitor_port: u16,
    dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

/// 1 or 3 running `nats-server -js` processes.
pub struct NatsCluster {
    nodes: Vec<Node>,
    root: PathBuf,
    rt: tokio::runtime::Runtime,
    client: Option<async_nats::Client>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The `nats-server` binary, or a panic that says how to get it.
pub fn server_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join("nats-server");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "nats-server is not on PATH: these tests need a real NATS server \
         (Debian: apt-get install -y nats-server; .ci/run installs it)"
    );
}

/// The running server's version line (`nats-server: v2.9.10`).
pub fn server_version() -> String {
    let out = Command::new(server_binary())
        .arg("--version")
        .output()
        .expect("nats-server --version");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl NatsCluster {
    /// One node.
    pub fn single() -> NatsCluster {
        NatsCluster::start(1, ClusterOptions::default())
    }

    /// Three clustered nodes.
    pub fn three() -> NatsCluster {
        NatsCluster::start(3, ClusterOptions::default())
    }

    /// `n` nodes (1 or 3), started and healthy.
    pub fn start(n: usize, options: ClusterOptions) -> NatsCluster {
        let c = NatsCluster::configure(n, options);
        let mut c = c;
        for i in 0..n {
            c.spawn(i);
        }
        for i in 0..n {
            c.wait_ready(i);
        }
        c
    }

    /// `n` nodes configured (ports and directories chosen) but none started: for "server down
    /// at start" tests; start them with [`NatsCluster::restart`].
    pub fn configure(n: usize, options: ClusterOptions) -> NatsCluster {
        assert!(n == 1 || n == 3, "1 or 3 nodes");
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "transom-nats-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the cluster dir");
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| {
                let dir = root.join(format!("n{i}"));
                std::fs::create_dir_all(&dir).expect("create a node dir");
                Node {
                    name: format!("n{i}"),
                    client_port: free_port(),
                    cluster_port: free_port(),
                    monitor_port: free_port(),
                    config: dir.join("server.conf"),
                    dir,
                    child: None,
                }
            })
            .collect();
        let routes: Vec<String> = nodes
            .iter()
            .map(|n| format!("nats-route://127.0.0.1:{}", n.cluster_port))
            .collect();
        for node in &mut nodes {
            let mut conf = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{mon}\n\
                 jetstream {{\n  store_dir: \"{dir}\"\n}}\n",
                name = node.name,
                port = node.client_port,
                mon = node.monitor_port,
                dir = node.dir.join("js").display(),
            );
            if let Some(max) = options.max_payload {
                conf += &format!("max_payload: {max}\n");
            }
            if n > 1 {
                conf += &format!(
                    "cluster {{\n  name: transom-test\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                    node.cluster_port,
                    routes.join(", ")
                );
            }
            std::fs::write(&node.config, conf).expect("write server.conf");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        NatsCluster {
            nodes,
            root,
            rt,
            client: None,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `nats://127.0.0.1:<port>` of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].client_port)
    }

    /// Every node's URL.
    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    /// Node `i`'s server name (`n0`, `n1`, `n2`).
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// Whether node `i`'s process is running (started and not killed).
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("server.log"))
            .expect("open server.log");
        let child = Command::new(server_binary())
            .arg("-c")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn nats-server");
        node.child = Some(child);
    }

    /// The tail of node `i`'s log (for failure messages).
    pub fn log_tail(&self, i: usize) -> String {
        let text =
            std::fs::read_to_string(self.nodes[i].dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls node `i`'s `/healthz` until it answers 200 (JetStream enabled and current).
    pub fn wait_ready(&mut self, i: usize) {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(child) = self.nodes[i].child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.nodes[i].child = None;
                    panic!(
                        "nats-server node {i} exited ({status}) while starting:\n{}",
                        self.log_tail(i)
                    );
                }
            }
            if http_status(self.nodes[i].monitor_port, "/healthz") == Some(200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server node {i} not healthy after {READY_DEADLINE:?}:\n{}",
                self.log_tail(i)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs node `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().expect("node is running");
        child.kill().expect("SIGKILL nats-server");
        child.wait().expect("reap nats-server");
    }

    /// Starts node `i` again (same ports, same store directory) and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_ready(i);
    }

    /// Runs `f` on the harness's own runtime (for the test's own JetStream calls).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A client connected to the cluster (every URL), made once and reused.
    pub fn client(&mut self) -> async_nats::Client {
        if let Some(c) = &self.client {
            return c.clone();
        }
        let addrs: Vec<async_nats::ServerAddr> = self
            .urls()
            .iter()
            .map(|u| u.parse().expect("url"))
            .collect();
        let client = self
            .rt
            .block_on(
                async_nats::ConnectOptions::new()
                    .max_reconnects(None)
                    .reconnect_delay_callback(|_| Duration::from_millis(50))
                    .connect(addrs),
            )
            .expect("connect to the test cluster");
        self.client = Some(client.clone());
        client
    }

    /// A JetStream context on [`NatsCluster::client`] (API and ack timeout 5 s).
    pub fn js(&mut self) -> async_nats::jetstream::Context {
        let client = self.client();
        // The context spawns its acker task: inside the harness's runtime.
        let _in_runtime = self.rt.enter();
        async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(client)
    }

    /// Creates a file-backed stream with `replicas` over `subjects`, retrying while the
    /// cluster has no meta leader yet.
    pub fn create_stream(&mut self, name: &str, subjects: &[&str], replicas: usize) {
        let js = self.js();
        let config = async_nats::jetstream::stream::Config {
            name: name.to_owned(),
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            num_replicas: replicas,
            storage: async_nats::jetstream::stream::StorageType::File,
            ..Default::default()
        };
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            match self.rt.block_on(js.create_stream(config.clone())) {
                Ok(_) => return,
                Err(e) => assert!(Instant::now() < deadline, "create stream {name}: {e}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Calls `probe` every 20 ms until it gives a value; panics naming `what` after
    /// [`READY_DEADLINE`].
    fn poll<T>(&mut self, what: &str, mut probe: impl FnMut(&mut Self) -> Option<T>) -> T {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: nothing after {READY_DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The stream's info from the JetStream API, or None while it has no leader.
    fn stream_info(&mut self, name: &str) -> Option<async_nats::jetstream::stream::Info> {
        let js = self.js();
        self.rt.block_on(async {
            let mut s = js.get_stream(name).await.ok()?;
            s.info().await.ok().cloned()
        })
    }

    /// The index of the node that leads stream `name`, polled until it has one.
    pub fn stream_leader(&mut self, name: &str) -> usize {
        self.poll(&format!("leader of stream {name}"), |c| {
            let leader = c.stream_info(name)?.cluster?.leader?;
            c.nodes.iter().position(|n| n.name == leader)
        })
    }

    /// The stream's (messages, last sequence), retrying while it has no leader.
    pub fn stream_state(&mut self, name: &str) -> (u64, u64) {
        self.poll(&format!("state of stream {name}"), |c| {
            let info = c.stream_info(name)?;
            Some((info.state.messages, info.state.last_sequence))
        })
    }

    /// Publishes and waits for the JetStream acknowledgement, retrying (same message id, so
    /// at most one copy is stored) until `deadline` passes; returns the stream sequence.
    pub fn publish_acked(&mut self, subject: &str, payload: &[u8], msg_id: &str) -> u64 {
        let js = self.js();
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            let r = self.rt.block_on(async {
                let mut h = async_nats::HeaderMap::new();
                h.insert("Nats-Msg-Id", msg_id);
                let ack = js
                    .publish_with_headers(subject.to_owned(), h, payload.to_vec().into())
                    .await?;
                ack.await
            });
            match r {
                Ok(ack) => return ack.sequence,
                Err(e) => assert!(Instant::now() < deadline, "publish to {subject}: {e}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The root directory of the cluster's files.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        self.client = None;
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A minimal HTTP/1.0 GET on 127.0.0.1:`port`: the status code, or None if nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1)?.parse().ok()
}
