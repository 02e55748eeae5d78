//! Remote cursors: the canal API over a durable JetStream pull consumer of a stream the mirror
//! fills (one message per transom event, sequence = JetStream stream sequence).
//!
//! Invariant: the cursor hands out messages in stream-sequence order, each at most once per
//! open (until a rewind), and tells the server about an acknowledgement only for messages it
//! examined in order: every message at or below the server's ack point was handed out and
//! acknowledged by the user, or skipped by the filter. With the consumer's `AckPolicy::All`
//! one ack covers everything below it, so the server's ack floor is exactly the resume point:
//! a restarted cursor gets everything after it again and nothing at or below it.
//!
//! - **Fetching**: a task on the cursor's private runtime keeps a pull request open (at most
//!   `prefetch` messages buffered in the [`Inbox`]); `pull_batch` takes from the inbox and
//!   waits on it with its timeout, so a pull is a wait, not a round trip.
//! - **Views**: each message is decoded ([`envelope::decode`]) into an owned event behind an
//!   `Arc`; a pull's items point into those, and the cursor keeps the `Arc`s of the last batch
//!   until the next pull, so acks and rewinds never invalidate a batch the caller still reads.
//! - **Filters**: a stream prefix ending in `.` whose tokens encode to plain subject tokens
//!   becomes the consumer's subject filter; kinds and every other prefix are checked here.
//!   Skipped messages are acknowledged with the next ack that passes them.
//! - **Restart**: messages a previous session received but did not acknowledge (after a
//!   crash, or prefetched before a close) stay pending on the server until `ack_wait` passes,
//!   and newer messages would overtake them. At open the cursor reads the consumer's ack floor
//!   and pending count, and holds back what arrives until that many redeliveries (delivery
//!   count above 1) came, then hands everything out in sequence order: a new session of a
//!   name that left messages pending starts delivering up to `ack_wait` after the previous
//!   one received them. (Giving them back with `-NAK` on close does not help on nats-server
//!   2.9: the server hands the first of them to the closed session's pull request.)
//! - **Rewind** is local: the cursor keeps every examined, unacknowledged message and hands
//!   them out again.
//!
//! ```no_run
//! use std::time::Duration;
//! use transom::canal::{Canal, Pulled};
//! use transom::nats::remote::RemoteCursorOptions;
//! use transom::nats::NatsOptions;
//! let nats = NatsOptions::new(["nats://127.0.0.1:4222"]);
//! let mut cursor = Canal::remote_cursor(RemoteCursorOptions::new(nats, "EVENTS", "billing"))?;
//! while let Pulled::Items(items) = cursor.pull_batch(256, Some(Duration::from_secs(5)))? {
//!     let last = items.len() as u64; // … handle the items …
//!     let last = cursor.delivered().unwrap_or(last);
//!     cursor.ack(last)?;
//!     cursor.checkpoint()?; // returns once the server confirmed the acknowledgement
//! }
//! # Ok::<(), transom::canal::CanalError>(())
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::Message;
use async_nats::Subject;
use futures_util::StreamExt;

use crate::canal::{CanalError, Delivery, Filter, Item, PullWait, Start};
use crate::store::EventView;
use crate::sync::ready_fd::ReadyFd;

use crate::store::Event;

use super::connect::NatsOptions;
use super::envelope;
use super::error::NatsError;
use super::remote_inbox::Inbox;
use super::runtime::NatsRuntime;

/// How to open a remote cursor.
#[derive(Debug, Clone)]
pub struct RemoteCursorOptions {
    /// Servers, credentials, connect timeout.
    pub nats: NatsOptions,
    /// The JetStream stream the mirror writes.
    pub stream: String,
    /// The subject prefix the mirror uses (default `transom`).
    pub subject_prefix: String,
    /// The durable consumer's name: 1..=64 bytes of `[A-Za-z0-9_-]`. Reopening with the same
    /// name resumes after its last acknowledgement the server confirmed. One open cursor per
    /// name at a time (the server cannot tell two sessions of one name apart).
    pub name: String,
    /// Which events to deliver (see the module comment for where it is applied).
    pub filter: Filter,
    /// Where a consumer that does not exist yet starts: `Begin`, `End` or `At(n)`. An existing
    /// consumer resumes after its ack floor whatever this says. `Named` is refused: the name
    /// is `name`.
    pub start: Start,
    /// How long the server waits for an acknowledgement before it delivers a message again
    /// (also to a restarted session). Default 30 s.
    pub ack_wait: Duration,
    /// Messages buffered ahead of the pulls (at least 1). Default 1024.
    pub prefetch: usize,
}

impl RemoteCursorOptions {
    /// Every event of `stream` (subject prefix `transom`) through the durable consumer `name`,
    /// from the beginning for a new consumer.
    pub fn new(nats: NatsOptions, stream: impl Into<String>, name: impl Into<String>) -> Self {
        RemoteCursorOptions {
            nats,
            stream: stream.into(),
            subject_prefix: envelope::DEFAULT_PREFIX.to_owned(),
            name: name.into(),
            filter: Filter::all(),
            start: Start::Begin,
            ack_wait: Duration::from_secs(30),
            prefetch: 1024,
        }
    }

    /// Replaces the filter.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Replaces the start of a new consumer.
    pub fn with_start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }
}

/// The inbox type a remote canal's closers and interrupters reach.
pub(crate) type RemoteInbox = Inbox<Message>;

/// Longest consumer name (JetStream allows more; this keeps subjects short).
pub const MAX_REMOTE_NAME_LEN: usize = 64;

fn check_name(name: &str) -> Result<(), CanalError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_REMOTE_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CanalError::InvalidArgument(
            "a remote cursor name is 1..=64 bytes of [A-Za-z0-9_-]",
        ))
    }
}

/// The consumer's server-side subject filter for `filter`, if its stream prefix maps to whole
/// subject tokens: it ends in `.`, and each token before it encodes to itself (no byte needs
/// `%XX`), so a stream name starts with the prefix exactly when its subject starts with the
/// prefix's tokens. Anything else is filtered here.
pub(crate) fn subject_filter(prefix: &str, filter: &Filter) -> Option<String> {
    let p = filter.stream_prefix();
    let body = p.strip_suffix(b".")?;
    let plain = |t: &[u8]| {
        !t.is_empty()
            && t.iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
    };
    if !body.split(|b| *b == b'.').all(plain) {
        return None;
    }
    Some(format!(
        "{prefix}.{}.>",
        std::str::from_utf8(body).expect("plain tokens are ASCII")
    ))
}

/// One examined message (or retention gap) not yet acknowledged on the server.
struct Held {
    /// The stream sequence (a gap: its last sequence).
    seq: u64,
    /// Where to acknowledge it (none for a gap).
    reply: Option<Subject>,
    what: Examined,
}

enum Examined {
    Event(Arc<Event>),
    Skipped,
    Gap { from: u64 },
}

/// Messages a previous session of this consumer received and did not acknowledge: the server
/// delivers them again (at once if that session gave them back, else after `ack_wait`), and
/// newer messages, delivered for the first time, would overtake them. Every pending message
/// is older than every message never delivered, so once all pending ones came again (their
/// delivery count is above 1), sorting what arrived restores the order.
struct Recovery {
    /// How many were pending at open.
    missing: usize,
    /// What arrived meanwhile, by sequence (the first copy of each).
    got: BTreeMap<u64, Message>,
    /// How many of them came as redeliveries.
    redelivered: usize,
    /// Messages without a JetStream acknowledgement subject (reported when examined).
    odd: Vec<Message>,
    /// Give up holding back newer messages after this (a pending message was removed from
    /// the stream, so it never comes again).
    until: Instant,
}

/// The canal's remote backend (see the module comment).
pub(crate) struct RemoteCursor {
    inbox: Arc<Inbox<Message>>,
    link: Link,
    filter: Filter,
    name: String,
    /// Sequences are dense (no server-side filter): a jump is a retention gap.
    dense: bool,
    acked: u64,
    delivered: u64,
    /// The next sequence expected from the server.
    next: u64,
    checkpointed: u64,
    /// The server's ack point: the last message acknowledged to it, and whether the server
    /// confirmed it.
    server_ack: Option<(u64, Subject)>,
    server_confirmed: u64,
    held: VecDeque<Held>,
    /// `held[..replay]` were handed out (or skipped) since the last rewind.
    replay: usize,
    /// Received and ordered, not examined yet.
    staged: VecDeque<Message>,
    recovery: Option<Recovery>,
    /// A malformed message stops the cursor here: every later pull reports it.
    poisoned: Option<CanalError>,
    /// The last batch's events, which its views borrow.
    keep: Vec<Arc<Event>>,
}

/// The connection and the fetch task on the private runtime.
struct Link {
    runtime: NatsRuntime,
    client: async_nats::Client,
    fetch: tokio::task::JoinHandle<()>,
    /// How long a checkpoint waits for the server's confirmation.
    confirm_timeout: Duration,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.fetch.abort();
    }
}

/// A NATS-layer failure as the canal reports it.
fn nats_error(e: NatsError) -> CanalError {
    match e {
        NatsError::InvalidOptions(_) | NatsError::Credentials { .. } => {
            CanalError::RemoteInvalid(e.to_string())
        }
        NatsError::Corrupt { sequence, reason } => CanalError::RemoteCorrupt { sequence, reason },
        NatsError::Closed => CanalError::Closed,
        NatsError::Runtime(_) | NatsError::Store(_) => CanalError::Io {
            context: "the remote cursor's runtime".into(),
            kind: std::io::ErrorKind::Other,
            message: e.to_string(),
        },
        _ => CanalError::Unavailable(e.to_string()),
    }
}

/// A failed JetStream exchange: the server is unavailable or refused.
fn unavailable(what: &str, e: impl std::fmt::Display) -> CanalError {
    CanalError::Unavailable(format!("{what}: {e}"))
}

impl RemoteCursor {
    pub(crate) fn open(options: RemoteCursorOptions) -> Result<RemoteCursor, CanalError> {
        check_name(&options.name)?;
        let start = match options.start {
            Start::Begin => DeliverPolicy::All,
            Start::End => DeliverPolicy::New,
            Start::At(0) => {
                return Err(CanalError::InvalidArgument(
                    "a start sequence must be at least 1",
                ))
            }
            Start::At(n) => DeliverPolicy::ByStartSequence { start_sequence: n },
            Start::Named(_) => {
                return Err(CanalError::InvalidArgument(
                    "a remote cursor resumes by its name; start it at BEGIN, END or a sequence",
                ))
            }
        };
        super::mirror::validate_stream_name(&options.stream).map_err(nats_error)?;
        envelope::validate_prefix(&options.subject_prefix).map_err(|e| {
            CanalError::RemoteInvalid(format!("subject prefix {:?}: {e}", options.subject_prefix))
        })?;
        if options.ack_wait.is_zero() || options.prefetch == 0 {
            return Err(CanalError::InvalidArgument(
                "ack_wait and prefetch must be positive",
            ));
        }
        let filter_subject = subject_filter(&options.subject_prefix, &options.filter);
        let runtime = NatsRuntime::start("transom-remote").map_err(nats_error)?;
        let nats = options.nats.clone();
        let urls = options.nats.urls.join(", ");
        let conn = runtime
            .block_on(async move { super::connect::connect(&nats).await })
            .map_err(nats_error)?
            .map_err(|e| match nats_error(e) {
                CanalError::Unavailable(m) => CanalError::Unavailable(format!("{urls}: {m}")),
                other => other,
            })?;
        let (client, js) = (conn.client, conn.js);
        let config = PullConfig {
            durable_name: Some(options.name.clone()),
            ack_policy: AckPolicy::All,
            ack_wait: options.ack_wait,
            deliver_policy: start,
            filter_subject: filter_subject.clone().unwrap_or_default(),
            max_ack_pending: -1,
            max_deliver: -1,
            ..Default::default()
        };
        let confirm_timeout = options.nats.request_timeout;
        let stream = options.stream.clone();
        let (consumer, info) = runtime
            .block_on(async move {
                tokio::time::timeout(confirm_timeout, open_consumer(&js, &stream, config))
                    .await
                    .unwrap_or_else(|_| {
                        Err(CanalError::Unavailable(format!(
                            "JetStream did not answer within {confirm_timeout:?}"
                        )))
                    })
            })
            .map_err(nats_error)??;
        if info.config.ack_policy != AckPolicy::All {
            return Err(CanalError::RemoteInvalid(format!(
                "the consumer {:?} exists with the ack policy {:?}; a remote cursor needs its \
                 own consumer (ack policy all): delete it or use another name",
                options.name, info.config.ack_policy
            )));
        }
        if info.config.filter_subject != filter_subject.clone().unwrap_or_default() {
            return Err(CanalError::RemoteInvalid(format!(
                "the consumer {:?} exists with the subject filter {:?}, this cursor needs {:?}: \
                 delete it or use another name",
                options.name,
                info.config.filter_subject,
                filter_subject.unwrap_or_default()
            )));
        }
        let inbox = Arc::new(Inbox::new(options.prefetch));
        let fetch = runtime.spawn(fetch_loop(consumer, Arc::clone(&inbox), options.prefetch));
        let floor = info.ack_floor.stream_sequence;
        let recovery = (info.num_ack_pending > 0).then(|| Recovery {
            missing: info.num_ack_pending,
            got: BTreeMap::new(),
            redelivered: 0,
            odd: Vec::new(),
            until: Instant::now() + options.ack_wait * 3,
        });
        Ok(RemoteCursor {
            inbox,
            link: Link {
                runtime,
                client,
                fetch,
                confirm_timeout,
            },
            filter: options.filter,
            name: options.name,
            dense: filter_subject.is_none(),
            acked: floor,
            delivered: floor,
            next: floor + 1,
            checkpointed: floor,
            server_ack: None,
            server_confirmed: floor,
            held: VecDeque::new(),
            replay: 0,
            staged: VecDeque::new(),
            recovery,
            poisoned: None,
            keep: Vec::new(),
        })
    }

    pub(crate) fn inbox(&self) -> &Arc<Inbox<Message>> {
        &self.inbox
    }

    /// Whether items are waiting to be handed out without a message from the server.
    fn has_ready(&self) -> bool {
        self.replay < self.held.len() || !self.staged.is_empty() || self.poisoned.is_some()
    }

    /// Same outcomes, in the same order of precedence, as a local cursor's pull.
    pub(crate) fn pull(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
        out: &mut Vec<Item<'static>>,
    ) -> Result<PullWait, CanalError> {
        out.clear();
        self.keep.clear();
        if max == 0 {
            return Err(CanalError::InvalidArgument("max must be at least 1"));
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let outcome = loop {
            let (epoch, closed) = self.inbox.epoch();
            if closed {
                break self.closed_or_interrupted();
            }
            if let Err(e) = self.fill(max, out) {
                if out.is_empty() {
                    break Err(e);
                }
                // Hand out what came before it; the next pull reports it.
                self.poisoned = Some(e);
            }
            if !out.is_empty() {
                break Ok(PullWait::Delivered);
            }
            if let Some(e) = self.poisoned.clone().or_else(|| self.inbox.failure()) {
                break Err(e);
            }
            if self.inbox.take_interrupt() {
                break Ok(PullWait::Interrupted);
            }
            let wait_until = match (&self.recovery, deadline) {
                (Some(r), Some(d)) => Some(d.min(r.until)),
                (Some(r), None) => Some(r.until),
                (None, d) => d,
            };
            if !self.inbox.wait(epoch, wait_until) && deadline.is_some_and(|d| Instant::now() >= d)
            {
                break Ok(PullWait::TimedOut);
            }
        };
        self.settle_acks();
        self.inbox.settle_fd(self.has_ready());
        outcome
    }

    fn closed_or_interrupted(&self) -> Result<PullWait, CanalError> {
        if self.inbox.take_interrupt() {
            Ok(PullWait::Interrupted)
        } else {
            Err(CanalError::Closed)
        }
    }

    /// Moves up to `max` items to `out`: held items after a rewind first, then newly received
    /// messages in order.
    fn fill(&mut self, max: usize, out: &mut Vec<Item<'static>>) -> Result<(), CanalError> {
        loop {
            while out.len() < max && self.replay < self.held.len() {
                let h = &self.held[self.replay];
                self.replay += 1;
                match &h.what {
                    Examined::Event(e) => {
                        self.delivered = h.seq;
                        self.keep.push(Arc::clone(e));
                        // SAFETY: the event is an `Arc` in `keep`, which is only cleared by the
                        // next pull after the canal cleared the views.
                        let view = EventView::of(unsafe { crate::store::forever(&**e) });
                        out.push(Delivery::Event {
                            sequence: h.seq,
                            value: view,
                        });
                    }
                    Examined::Gap { from } => {
                        self.delivered = h.seq;
                        out.push(Delivery::Gap {
                            from_seq: *from,
                            to_seq: h.seq,
                            count: h.seq - from + 1,
                        });
                    }
                    Examined::Skipped => {}
                }
            }
            if out.len() >= max || self.poisoned.is_some() {
                return Ok(());
            }
            let Some(msg) = self.next_message() else {
                return Ok(());
            };
            self.examine(msg)?;
        }
    }

    /// The next received message in order, if one is ready.
    fn next_message(&mut self) -> Option<Message> {
        loop {
            if let Some(m) = self.staged.pop_front() {
                return Some(m);
            }
            let mut got = VecDeque::new();
            self.inbox.take(256, &mut got);
            if got.is_empty() {
                if self
                    .recovery
                    .as_ref()
                    .is_some_and(|r| Instant::now() >= r.until)
                {
                    self.end_recovery();
                    continue;
                }
                return None;
            }
            match &mut self.recovery {
                None => self.staged = got,
                Some(r) => {
                    for m in got {
                        let Ok(info) = m.info() else {
                            r.odd.push(m);
                            continue;
                        };
                        let (seq, again) = (info.stream_sequence, info.delivered > 1);
                        if seq < self.next || r.got.contains_key(&seq) {
                            continue;
                        }
                        r.got.insert(seq, m);
                        r.redelivered += usize::from(again);
                    }
                    if r.redelivered >= r.missing {
                        self.end_recovery();
                    }
                }
            }
        }
    }

    fn end_recovery(&mut self) {
        if let Some(r) = self.recovery.take() {
            self.staged.extend(r.got.into_values());
            self.staged.extend(r.odd);
        }
    }

    /// Decodes one message into `held` (or drops it as a repeat of one already examined).
    fn examine(&mut self, msg: Message) -> Result<(), CanalError> {
        let Some(seq) = stream_sequence(&msg) else {
            let subject = msg.message.reply.as_deref().unwrap_or("").to_owned();
            self.staged.push_front(msg);
            return Err(CanalError::Unavailable(format!(
                "a message arrived without a JetStream acknowledgement subject ({subject:?})"
            )));
        };
        if seq < self.next {
            // Delivered again after ack_wait while this session still holds it.
            return Ok(());
        }
        let decoded = envelope::decode(
            |name| {
                msg.message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str())
            },
            &msg.message.payload,
        )
        .map_err(|e| e.to_string())
        .and_then(|event| {
            if event.sequence == seq {
                Ok(event)
            } else {
                Err(format!(
                    "Transom-Sequence is {} but the JetStream sequence is {seq}",
                    event.sequence
                ))
            }
        });
        let event = match decoded {
            Ok(e) => e,
            Err(reason) => {
                self.staged.push_front(msg);
                return Err(CanalError::RemoteCorrupt {
                    sequence: seq,
                    reason,
                });
            }
        };
        if self.dense && seq > self.next {
            // Retention removed these before this consumer read them.
            self.held.push_back(Held {
                seq: seq - 1,
                reply: None,
                what: Examined::Gap { from: self.next },
            });
        }
        let what = if self.filter.matches(&event) {
            Examined::Event(Arc::new(event))
        } else {
            Examined::Skipped
        };
        self.held.push_back(Held {
            seq,
            reply: msg.message.reply.clone(),
            what,
        });
        self.next = seq + 1;
        Ok(())
    }

    /// Tells the server about every leading held message that is acknowledged or skipped (one
    /// `AckAll` ack on the last of them), and forgets them.
    fn settle_acks(&mut self) {
        let mut n = 0;
        let mut last = None;
        for h in self.held.iter().take(self.replay) {
            let done = h.seq <= self.acked || matches!(h.what, Examined::Skipped);
            if !done {
                break;
            }
            if let Some(r) = &h.reply {
                last = Some((h.seq, r));
            }
            n += 1;
        }
        if let Some((seq, reply)) = last {
            let reply = reply.clone();
            let client = self.link.client.clone();
            let subject = reply.clone();
            // Fire and forget: the connection keeps the order, a checkpoint confirms.
            self.link.runtime.spawn(async move {
                let _ = client.publish(subject, Default::default()).await;
            });
            self.server_ack = Some((seq, reply));
        }
        self.held.drain(..n);
        self.replay -= n;
    }

    pub(crate) fn ack(&mut self, seq: u64) -> Result<(), CanalError> {
        crate::canal::check_ack(self.acked, self.delivered, seq)?;
        self.acked = seq;
        self.settle_acks();
        Ok(())
    }

    /// Waits until the server confirmed the acknowledgements up to the acked position.
    pub(crate) fn checkpoint(&mut self) -> Result<(), CanalError> {
        self.settle_acks();
        if let Some((seq, reply)) = self.server_ack.clone() {
            if seq > self.server_confirmed {
                let client = self.link.client.clone();
                let wait = self.link.confirm_timeout;
                self.link
                    .runtime
                    .block_on(async move {
                        tokio::time::timeout(wait, client.request(reply, Default::default())).await
                    })
                    .map_err(nats_error)?
                    .map_err(|_| {
                        CanalError::Unavailable(format!(
                            "JetStream did not confirm the acknowledgement of sequence {seq} \
                             within {wait:?}"
                        ))
                    })?
                    .map_err(|e| unavailable("confirming an acknowledgement", e))?;
                self.server_confirmed = seq;
            }
        }
        self.checkpointed = self.acked;
        Ok(())
    }

    pub(crate) fn rewind(&mut self) {
        self.replay = 0;
        self.delivered = self.acked;
        self.inbox.settle_fd(self.has_ready());
    }

    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The next sequence it will hand out (after a rewind: the first unacknowledged one).
    pub(crate) fn next(&self) -> u64 {
        self.held
            .get(self.replay)
            .map_or(self.next, |h| match h.what {
                Examined::Gap { from } => from,
                _ => h.seq,
            })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn checkpointed(&self) -> u64 {
        self.checkpointed
    }

    pub(crate) fn fd(&self) -> std::io::Result<RawFd> {
        self.inbox.fd(self.has_ready())
    }

    pub(crate) fn restore_fd(&self, fd: ReadyFd) {
        self.inbox.restore_fd(fd, self.has_ready());
    }
}

/// The stream sequence from a message's acknowledgement subject.
fn stream_sequence(m: &Message) -> Option<u64> {
    m.info().ok().map(|i| i.stream_sequence)
}

/// Finds the durable consumer, or creates it with `config`; returns it with its state.
async fn open_consumer(
    js: &async_nats::jetstream::Context,
    stream: &str,
    config: PullConfig,
) -> Result<(PullConsumer, async_nats::jetstream::consumer::Info), CanalError> {
    let name = config.durable_name.clone().unwrap_or_default();
    let stream = js
        .get_stream(stream)
        .await
        .map_err(|e| unavailable(&format!("opening the JetStream stream {stream:?}"), e))?;
    let consumer: PullConsumer = stream
        .get_or_create_consumer(&name, config)
        .await
        .map_err(|e| unavailable(&format!("opening the consumer {name:?}"), e))?;
    // The state now, not as of the creation (the cached info may be older).
    let info = stream
        .consumer_info(&name)
        .await
        .map_err(|e| unavailable(&format!("reading the consumer {name:?}"), e))?;
    Ok((consumer, info))
}

/// Keeps a pull request open and moves what arrives into the inbox, at most `prefetch`
/// messages ahead of the puller.
async fn fetch_loop(consumer: PullConsumer, inbox: Arc<Inbox<Message>>, prefetch: usize) {
    let stream = consumer
        .stream()
        .max_messages_per_batch(prefetch)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await;
    let mut stream = match stream {
        Ok(s) => s,
        Err(e) => return inbox.fail(unavailable("starting to fetch", e)),
    };
    use async_nats::jetstream::consumer::pull::MessagesErrorKind as Kind;
    loop {
        inbox.room().await;
        let first = stream.next().await;
        // Everything already received goes to the puller in one push (one wake-up); `end` is
        // what stopped the gathering when it was not "nothing more yet".
        let mut batch = Vec::new();
        let mut end = Some(first);
        while let Some(Some(Ok(m))) = end {
            batch.push(m);
            end = if batch.len() >= prefetch {
                None
            } else {
                futures_util::FutureExt::now_or_never(stream.next())
            };
        }
        inbox.push(batch);
        match end {
            // Nothing more ready (or the batch is full): wait for the next message.
            None => {}
            Some(Some(Ok(_))) => unreachable!("the gathering loop takes every message"),
            // A lost connection or a missed heartbeat: the client reconnects and the stream
            // asks again; pulls meanwhile time out like an idle cursor's.
            Some(Some(Err(e))) if matches!(e.kind(), Kind::MissingHeartbeat | Kind::Pull) => {}
            Some(Some(Err(e))) => return inbox.fail(unavailable("fetching", e)),
            Some(None) => {
                return inbox.fail(CanalError::Unavailable("the message feed ended".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_filter_is_used_only_for_whole_token_prefixes() {
        let f = |p: &str| subject_filter("transom", &Filter::all().with_stream_prefix(p).unwrap());
        assert_eq!(f("orders.").as_deref(), Some("transom.orders.>"));
        assert_eq!(f("orders.eu.").as_deref(), Some("transom.orders.eu.>"));
        assert_eq!(f("orders"), None);
        assert_eq!(f("orders.e"), None);
        assert_eq!(f(".orders."), None);
        assert_eq!(f("a..b."), None);
        assert_eq!(f("a b."), None);
        assert_eq!(f(""), None);
        assert_eq!(
            subject_filter("transom", &Filter::all().with_kinds([1])),
            None
        );
    }

    /// The server filter must never hide an event the local filter would deliver: every
    /// stream under the prefix, odd names included, has a subject the filter matches.
    #[test]
    fn a_subject_filter_matches_every_stream_under_its_prefix() {
        let matches = |filter: &str, subject: &str| {
            let (head, _) = filter.split_once(".>").unwrap();
            subject.len() > head.len() + 1
                && subject.starts_with(head)
                && subject.as_bytes()[head.len()] == b'.'
        };
        let filter = subject_filter(
            "transom",
            &Filter::all().with_stream_prefix("orders.").unwrap(),
        )
        .unwrap();
        for stream in [
            "orders.",
            "orders..",
            "orders..x",
            "orders.x",
            "orders.*",
            "orders. ",
        ] {
            let subject = format!(
                "transom.{}",
                crate::nats::envelope::encode_subject_stream(stream)
            );
            assert!(matches(&filter, &subject), "{stream:?} -> {subject}");
            assert!(subject.split('.').all(|t| !t.is_empty()), "{subject}");
        }
    }

    #[test]
    fn names_are_plain_tokens() {
        assert!(check_name("orders-eu_1").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
