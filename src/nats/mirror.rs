//! The mirror: ships every committed event of a store, in sequence order, exactly once, to one
//! JetStream stream whose stream sequence equals the transom sequence.
//!
//! Invariant: message `n` is only ever published with `Nats-Expected-Last-Sequence: n − 1`, so
//! JetStream stores it at sequence `n` or refuses it; whenever the mirror does not know what
//! the stream holds (start, reconnect, a refused or unanswered publish) it reads the stream's
//! last sequence `L` and compares the `Transom-Id` of message `L` with the store's event `L`
//! before shipping `L + 1` onwards. A stream that is ahead of the store, or holds a different
//! event, stops the mirror with [`NatsError::Diverged`]: it never skips or renumbers.
//!
//! What is shipped when: events up to [`Store::head`] — under `SyncPolicy::Always` that head
//! only covers fsynced events, so JetStream never holds a sequence a machine crash could make
//! the store reuse; under `EveryN`/`Never` it covers written events (a machine crash that loses
//! some makes the store and the stream disagree, which the next start reports as `Diverged`).
//!
//! Appends never wait for the mirror: the store's commit listener only wakes the mirror's
//! task (a non-blocking notify) on its private runtime thread.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;

use super::connect::{connect, Connection, NatsOptions};
use super::envelope::{self, DEFAULT_PREFIX};
use super::error::NatsError;
use super::runtime::NatsRuntime;
use crate::store::{EventBatch, ListenerId, Store, StoreError};
use crate::sync::{Condvar, Mutex};

/// The level of a mirror log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Progress worth knowing (connected, resumed at a sequence).
    Info,
    /// A contained failure: the mirror retries.
    Warn,
    /// The mirror stopped.
    Error,
}

/// Where the mirror's log messages go (called on the mirror's runtime thread, no lock held).
pub type LogFn = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// How to mirror a store.
#[derive(Clone)]
pub struct MirrorOptions {
    /// The servers.
    pub nats: NatsOptions,
    /// The JetStream stream: 1..=255 bytes of `[A-Za-z0-9_-]`.
    pub stream: String,
    /// Subjects are `<subject_prefix>.<encoded transom stream>`; the JetStream stream listens
    /// on `<subject_prefix>.>`. Default `transom`.
    pub subject_prefix: String,
    /// Replicas when the mirror creates the stream (1..=5; an existing stream is used as it
    /// is).
    pub replicas: usize,
    /// Publishes awaiting their acknowledgement at most (1..=65536).
    pub max_in_flight: usize,
    /// First delay after a failure; doubled per consecutive failure up to `retry_max`.
    pub retry_min: Duration,
    /// Longest delay between attempts.
    pub retry_max: Duration,
    /// Log sink (state changes, retries, the stop); `None`: no logging (the status still
    /// reports everything).
    pub log: Option<LogFn>,
}

impl std::fmt::Debug for MirrorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorOptions")
            .field("nats", &self.nats)
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .field("replicas", &self.replicas)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl MirrorOptions {
    /// Mirror to JetStream stream `stream` on `nats`, with the defaults: prefix `transom`,
    /// 1 replica, 1024 publishes in flight, retries from 100 ms to 5 s, no log.
    pub fn new(nats: NatsOptions, stream: impl Into<String>) -> MirrorOptions {
        MirrorOptions {
            nats,
            stream: stream.into(),
            subject_prefix: DEFAULT_PREFIX.to_owned(),
            replicas: 1,
            max_in_flight: 1024,
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            log: None,
        }
    }

    /// Checks the options without a server.
    pub fn validate(&self) -> Result<(), NatsError> {
        self.nats.validate()?;
        validate_stream_name(&self.stream)?;
        envelope::validate_prefix(&self.subject_prefix).map_err(NatsError::InvalidOptions)?;
        if !(1..=5).contains(&self.replicas) {
            return Err(NatsError::InvalidOptions(format!(
                "replicas must be 1..=5, got {}",
                self.replicas
            )));
        }
        if !(1..=65536).contains(&self.max_in_flight) {
            return Err(NatsError::InvalidOptions(format!(
                "max_in_flight must be 1..=65536, got {}",
                self.max_in_flight
            )));
        }
        if self.retry_min.is_zero() || self.retry_max < self.retry_min {
            return Err(NatsError::InvalidOptions(
                "retry_min must be above zero and at most retry_max".into(),
            ));
        }
        Ok(())
    }
}

/// Checks a JetStream stream name: 1..=255 bytes of `[A-Za-z0-9_-]`.
pub fn validate_stream_name(name: &str) -> Result<(), NatsError> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(NatsError::InvalidOptions(format!(
            "JetStream stream name {name:?} must be 1..=255 bytes of [A-Za-z0-9_-]"
        )));
    }
    Ok(())
}

/// What the mirror is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorState {
    /// Connecting for the first time (nothing shipped by this mirror yet).
    Connecting,
    /// Connected; shipping events as they commit (or idle with no lag).
    Running,
    /// A connection or publish failed; retrying with backoff (`last_error` says why).
    Retrying,
    /// Stopped for good: closed, or a final error (`last_error`: divergence, a message over
    /// the server's maximum, the store gone).
    Stopped,
}

/// A snapshot of the mirror ([`Mirror::status`]).
#[derive(Debug, Clone)]
pub struct MirrorStatus {
    /// What the mirror is doing.
    pub state: MirrorState,
    /// The highest sequence JetStream has acknowledged (every event up to it is in the
    /// stream, at its own sequence); 0 before the first.
    pub shipped: u64,
    /// The store's head when the snapshot was taken.
    pub store_head: u64,
    /// `store_head − shipped` (0 when the stream is level with the store).
    pub lag: u64,
    /// Failed attempts since the mirror started (connections, publishes).
    pub retries: u64,
    /// The last failure (kept after recovery, until the next one), or `None`.
    pub last_error: Option<Arc<NatsError>>,
}

/// The outcome of [`Mirror::wait_shipped`].
#[derive(Debug, Clone)]
pub enum MirrorWait {
    /// JetStream holds every event up to the sequence asked for.
    Shipped,
    /// The timeout passed first.
    Timeout,
    /// The mirror stopped first: the error that stopped it, or `None` when it was closed.
    Stopped(Option<Arc<NatsError>>),
}

struct Progress {
    state: MirrorState,
    shipped: u64,
    retries: u64,
    last_error: Option<Arc<NatsError>>,
    /// The final error that stopped the mirror (None while running, or after a close).
    stopped_by: Option<Arc<NatsError>>,
}

struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
    /// Woken by commits and by close.
    wake: tokio::sync::Notify,
    closing: std::sync::atomic::AtomicBool,
    log: Option<LogFn>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self.progress.lock());
        self.changed.notify_all();
    }

    fn log(&self, level: LogLevel, message: &str) {
        if let Some(log) = &self.log {
            log(level, message);
        }
    }

    fn closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A running mirror of one store to one JetStream stream. `Send + Sync`: status and wait from
/// any thread. Dropping it closes it.
pub struct Mirror {
    shared: Arc<Shared>,
    store: Weak<Store>,
    listener: Mutex<Option<ListenerId>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    runtime: Mutex<Option<NatsRuntime>>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("status", &self.status())
            .finish()
    }
}

impl Mirror {
    /// Starts mirroring `store`: checks the options, starts the private runtime thread and
    /// returns at once — connecting, creating the stream if it is missing, and catching up
    /// happen in the background ([`Mirror::status`], [`Mirror::wait_shipped`]). A server that
    /// is down is retried with backoff. `InvalidOptions` for unusable options, `Closed` for a
    /// closed store.
    pub fn start(store: &Arc<Store>, options: MirrorOptions) -> Result<Mirror, NatsError> {
        options.validate()?;
        if store.is_closed() {
            return Err(NatsError::Closed);
        }
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress {
                state: MirrorState::Connecting,
                shipped: 0,
                retries: 0,
                last_error: None,
                stopped_by: None,
            }),
            changed: Condvar::new(),
            wake: tokio::sync::Notify::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            log: options.log.clone(),
        });
        let runtime = NatsRuntime::start("transom-mirror")?;
        let wake = Arc::downgrade(&shared);
        let listener = store.on_commit(move |_| {
            if let Some(s) = wake.upgrade() {
                s.wake.notify_one();
            }
        });
        let task = runtime.spawn(run(Arc::clone(&shared), Arc::downgrade(store), options));
        Ok(Mirror {
            shared,
            store: Arc::downgrade(store),
            listener: Mutex::new(Some(listener)),
            task: Mutex::new(Some(task)),
            runtime: Mutex::new(Some(runtime)),
        })
    }

    /// A snapshot: state, last shipped sequence, store head, lag, last error.
    pub fn status(&self) -> MirrorStatus {
        let p = self.shared.progress.lock();
        let store_head = self.store.upgrade().map_or(p.shipped, |s| s.head());
        MirrorStatus {
            state: p.state,
            shipped: p.shipped,
            store_head,
            lag: store_head.saturating_sub(p.shipped),
            retries: p.retries,
            last_error: p.last_error.clone(),
        }
    }

    /// Blocks until JetStream holds every event up to `sequence`, the mirror stops, or
    /// `timeout` passes (`None` = no limit).
    pub fn wait_shipped(&self, sequence: u64, timeout: Option<Duration>) -> MirrorWait {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut p = self.shared.progress.lock();
        loop {
            if p.shipped >= sequence {
                return MirrorWait::Shipped;
            }
            if p.state == MirrorState::Stopped {
                return MirrorWait::Stopped(p.stopped_by.clone());
            }
            match deadline {
                None => p = self.shared.changed.wait(p),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return MirrorWait::Timeout;
                    }
                    p = self.shared.changed.wait_timeout(p, d - now).0;
                }
            }
        }
    }

    /// Stops the mirror: no new publish is started; the acknowledgements of publishes in
    /// flight are awaited (each for at most the request timeout), so `shipped` is exact;
    /// then the runtime thread ends. Idempotent. Returns once the mirror has stopped.
    pub fn close(&self) -> Result<(), NatsError> {
        self.shared
            .closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(id) = self.listener.lock().take() {
            if let Some(store) = self.store.upgrade() {
                let _ = store.remove_listener(id);
            }
        }
        let task = self.task.lock().take();
        let runtime = self.runtime.lock().take();
        if let (Some(task), Some(runtime)) = (task, runtime) {
            if runtime.on_runtime_thread() {
                // Closed from the log callback: the task ends at its next step; the runtime
                // thread detaches.
                drop(runtime);
            } else {
                let _ = runtime.block_on(task);
                drop(runtime);
            }
        }
        self.shared.update(|p| p.state = MirrorState::Stopped);
        Ok(())
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Why one connected session ended.
enum SessionEnd {
    /// Close was asked for.
    Closed,
    /// Final: the mirror stops.
    Stop(NatsError),
    /// Transient: reconnect / resync after a backoff.
    Retry(NatsError),
}

async fn run(shared: Arc<Shared>, store: Weak<Store>, options: MirrorOptions) {
    let mut backoff = options.retry_min;
    let mut conn: Option<Connection> = None;
    let mut ever_ran = false;
    loop {
        if shared.closing() {
            break;
        }
        let end = match &conn {
            None => match connect(&options.nats).await {
                Ok(c) => {
                    shared.log(
                        LogLevel::Info,
                        &format!(
                            "mirror to JetStream stream {} connected to {}",
                            options.stream,
                            c.client.server_info().server_name
                        ),
                    );
                    conn = Some(c);
                    continue;
                }
                Err(e) if e.is_transient() => SessionEnd::Retry(e),
                Err(e) => SessionEnd::Stop(e),
            },
            Some(c) => session(&shared, &store, &options, c, &mut backoff, &mut ever_ran).await,
        };
        match end {
            SessionEnd::Closed => break,
            SessionEnd::Stop(e) => {
                shared.log(
                    LogLevel::Error,
                    &format!("mirror to JetStream stream {} stopped: {e}", options.stream),
                );
                let e = Arc::new(e);
                shared.update(|p| {
                    p.state = MirrorState::Stopped;
                    p.last_error = Some(Arc::clone(&e));
                    p.stopped_by = Some(e);
                });
                return;
            }
            SessionEnd::Retry(e) => {
                shared.log(
                    LogLevel::Warn,
                    &format!(
                        "mirror to JetStream stream {}: {e}; retrying in {backoff:?}",
                        options.stream
                    ),
                );
                shared.update(|p| {
                    p.state = MirrorState::Retrying;
                    p.retries += 1;
                    p.last_error = Some(Arc::new(e));
                });
                let _ = tokio::time::timeout(backoff, shared.wake.notified()).await;
                backoff = (backoff * 2).min(options.retry_max);
            }
        }
    }
    shared.update(|p| p.state = MirrorState::Stopped);
}

/// One connected run: find where the stream is, then ship until something fails.
async fn session(
    shared: &Shared,
    store: &Weak<Store>,
    options: &MirrorOptions,
    conn: &Connection,
    backoff: &mut Duration,
    ever_ran: &mut bool,
) -> SessionEnd {
    let last = match resume_point(store, options, conn).await {
        Ok(last) => last,
        Err(e) if e.is_transient() => return SessionEnd::Retry(e),
        Err(e) => return SessionEnd::Stop(e),
    };
    *backoff = options.retry_min;
    *ever_ran = true;
    shared.update(|p| {
        p.state = MirrorState::Running;
        p.shipped = last;
    });
    shared.log(
        LogLevel::Info,
        &format!(
            "mirror to JetStream stream {} running from sequence {}",
            options.stream,
            last + 1
        ),
    );
    ship(shared, store, options, conn, last).await
}

/// Reads what the JetStream stream holds (creating it if missing) and checks it against the
/// store: returns its last sequence, after which shipping continues.
async fn resume_point(
    store: &Weak<Store>,
    options: &MirrorOptions,
    conn: &Connection,
) -> Result<u64, NatsError> {
    let mut stream = match conn.js.get_stream(&options.stream).await {
        Ok(s) => s,
        Err(e) => match e.kind() {
            async_nats::jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                create_stream(options, conn).await?
            }
            _ => return Err(NatsError::Unavailable(format!("stream info: {e}"))),
        },
    };
    let info = stream
        .info()
        .await
        .map_err(|e| NatsError::Unavailable(format!("stream info: {e}")))?;
    let last = info.state.last_sequence;
    let store = store.upgrade().ok_or(NatsError::Closed)?;
    let head = store.head();
    if last > head {
        return Err(NatsError::Diverged {
            sequence: head + 1,
            reason: format!(
                "JetStream stream {} holds sequences up to {last}, the store only up to {head}",
                options.stream
            ),
        });
    }
    if last > 0 {
        let msg = stream.get_raw_message(last).await;
        match msg {
            Ok(m) => {
                let theirs = m
                    .headers
                    .get(envelope::ID)
                    .map_or_else(|| "(none)".to_owned(), |v| v.as_str().to_owned());
                match store.read_from_sequence(last, 1) {
                    Ok(ours) if ours.first().is_some_and(|e| e.sequence == last) => {
                        let ours = format!("{:032x}", ours[0].id.as_u128());
                        if theirs != ours {
                            return Err(NatsError::Diverged {
                                sequence: last,
                                reason: format!(
                                    "JetStream message {last} has Transom-Id {theirs}, the \
                                     store's event {last} has {ours}"
                                ),
                            });
                        }
                    }
                    // Retention removed the store's copy: nothing to compare with.
                    Ok(_) | Err(StoreError::Truncated { .. }) => {}
                    Err(e) => return Err(NatsError::Store(e)),
                }
            }
            Err(e) => {
                use async_nats::jetstream::stream::LastRawMessageErrorKind as K;
                if !matches!(e.kind(), K::NoMessageFound) {
                    return Err(NatsError::Unavailable(format!("get message {last}: {e}")));
                }
                // The stream's own limits removed it: nothing to compare with.
            }
        }
    }
    let first = store.first_sequence();
    if head >= first && last + 1 < first {
        return Err(NatsError::Store(StoreError::Truncated {
            first_retained: first,
        }));
    }
    Ok(last)
}

async fn create_stream(
    options: &MirrorOptions,
    conn: &Connection,
) -> Result<jetstream::stream::Stream, NatsError> {
    let config = jetstream::stream::Config {
        name: options.stream.clone(),
        subjects: vec![format!("{}.>", options.subject_prefix)],
        num_replicas: options.replicas,
        storage: jetstream::stream::StorageType::File,
        retention: jetstream::stream::RetentionPolicy::Limits,
        duplicate_window: Duration::from_secs(120),
        max_messages_per_subject: -1,
        max_messages: -1,
        max_bytes: -1,
        ..Default::default()
    };
    conn.js.create_stream(config).await.map_err(|e| {
        use async_nats::jetstream::context::CreateStreamErrorKind as K;
        let what = format!("create stream {}: {e}", options.stream);
        match e.kind() {
            // Another stream of the account listens on the prefix: a configuration error that
            // retrying cannot fix (one subject prefix per mirrored stream).
            K::JetStream(j)
                if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_SUBJECT_OVERLAP =>
            {
                NatsError::InvalidOptions(format!(
                    "{what} (another stream already listens on {}.>: give each mirror its own \
                     subject prefix)",
                    options.subject_prefix
                ))
            }
            _ => NatsError::Refused(what),
        }
    })
}

/// The size of a message on the wire as the server counts it against `max_payload`: the
/// header block (`NATS/1.0\r\n`, `Name: value\r\n` each, `\r\n`) plus the payload.
fn message_size(headers: &[(&'static str, String)], payload: usize) -> usize {
    let block: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    10 + block + 2 + payload
}

/// Ships from `last + 1` until close (Closed), a final error (Stop) or a transient one (Retry).
async fn ship(
    shared: &Shared,
    store: &Weak<Store>,
    options: &MirrorOptions,
    conn: &Connection,
    last: u64,
) -> SessionEnd {
    let mut in_flight: VecDeque<(u64, jetstream::context::PublishAckFuture)> = VecDeque::new();
    let mut next = last + 1;
    let mut batch = EventBatch::new();
    let window = options.max_in_flight;
    loop {
        if shared.closing() {
            return match drain_all(shared, &mut in_flight, options).await {
                Ok(()) => SessionEnd::Closed,
                Err(e) => SessionEnd::Retry(e),
            };
        }
        let Some(s) = store.upgrade() else {
            let _ = drain_all(shared, &mut in_flight, options).await;
            return SessionEnd::Stop(NatsError::Closed);
        };
        let head = s.head();
        if next <= head && in_flight.len() < window {
            let room = (window - in_flight.len()).min(512);
            let read = s.read_batch(next, room, &mut batch);
            drop(s);
            if let Err(e) = read {
                return SessionEnd::Stop(NatsError::Store(e));
            }
            let max = conn.max_payload();
            for v in batch.events() {
                let env = envelope::encode(v, &options.subject_prefix);
                let size = message_size(&env.headers, v.payload.len());
                if size > max {
                    // Everything before it ships; then the mirror stops naming it.
                    if let Err(e) = drain_all(shared, &mut in_flight, options).await {
                        return SessionEnd::Retry(e);
                    }
                    return SessionEnd::Stop(NatsError::TooLarge {
                        sequence: v.sequence,
                        size,
                        max,
                    });
                }
                let mut headers = async_nats::HeaderMap::new();
                for (name, value) in env.headers {
                    headers.insert(name, value);
                }
                let payload = v.payload.to_vec().into();
                match conn
                    .js
                    .publish_with_headers(env.subject, headers, payload)
                    .await
                {
                    Ok(ack) => in_flight.push_back((v.sequence, ack)),
                    Err(e) => {
                        return match e.kind() {
                            PublishErrorKind::MaxPayloadExceeded => {
                                let _ = drain_all(shared, &mut in_flight, options).await;
                                SessionEnd::Stop(NatsError::TooLarge {
                                    sequence: v.sequence,
                                    size,
                                    max,
                                })
                            }
                            _ => SessionEnd::Retry(NatsError::Unavailable(format!(
                                "publish of {}: {e}",
                                v.sequence
                            ))),
                        };
                    }
                }
                next = v.sequence + 1;
            }
            batch.clear();
            if in_flight.len() >= window {
                if let Err(e) = drain(shared, &mut in_flight, window / 2).await {
                    return SessionEnd::Retry(e);
                }
            }
            continue;
        }
        drop(s);
        if !in_flight.is_empty() {
            let keep = in_flight.len() - 1;
            if let Err(e) = drain(shared, &mut in_flight, keep).await {
                return SessionEnd::Retry(e);
            }
            continue;
        }
        shared.wake.notified().await;
    }
}

/// Awaits every acknowledgement still in flight, for at most one request timeout in all (each
/// ack's own timeout only starts when it is awaited: 1024 of them against a dead server must
/// not hold a close for 1024 timeouts). What is not acknowledged by then stays unshipped.
async fn drain_all(
    shared: &Shared,
    in_flight: &mut VecDeque<(u64, jetstream::context::PublishAckFuture)>,
    options: &MirrorOptions,
) -> Result<(), NatsError> {
    match tokio::time::timeout(options.nats.request_timeout, drain(shared, in_flight, 0)).await {
        Ok(r) => r,
        Err(_) => {
            in_flight.clear();
            Err(NatsError::Timeout(
                "acknowledgements of the publishes in flight".into(),
            ))
        }
    }
}

/// Awaits acknowledgements, oldest first, until at most `keep` publishes are in flight. An
/// acknowledgement at another sequence than the one published, or any failure, ends the
/// session: the caller resynchronises from the stream's state.
async fn drain(
    shared: &Shared,
    in_flight: &mut VecDeque<(u64, jetstream::context::PublishAckFuture)>,
    keep: usize,
) -> Result<(), NatsError> {
    let mut acked = None;
    let result = loop {
        if in_flight.len() <= keep {
            break Ok(());
        }
        let (seq, ack) = in_flight.pop_front().expect("non-empty");
        match ack.await {
            Ok(a) if a.sequence == seq => acked = Some(seq),
            Ok(a) => {
                break Err(NatsError::Refused(format!(
                    "event {seq} was acknowledged at JetStream sequence {}",
                    a.sequence
                )));
            }
            Err(e) => {
                break Err(match e.kind() {
                    PublishErrorKind::WrongLastSequence => NatsError::Refused(format!(
                        "publish of {seq}: JetStream's last sequence is not {} ({e})",
                        seq - 1
                    )),
                    PublishErrorKind::TimedOut => {
                        NatsError::Timeout(format!("acknowledgement of {seq}"))
                    }
                    _ => NatsError::Unavailable(format!("publish of {seq}: {e}")),
                });
            }
        }
    };
    // One progress update (lock + wake of waiters) per drained run, not per acknowledgement.
    if let Some(seq) = acked {
        shared.update(|p| p.shipped = seq);
    }
    if result.is_err() {
        in_flight.clear();
    }
    result
}
