//! [`Store`]: open, append, read, wait, close.
//!
//! Invariant: one writer at a time holds the state lock while it checks idempotency and
//! expected versions, assigns sequence/id/version/timestamp, writes the frames and indexes the
//! events; readers only ever see events at or below the commit watermark (`head`), which under
//! `Always` moves only after the fsync covering them. So a sequence a reader has seen is never
//! lost or reused, and sequences are dense and never renumbered.

use crate::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::error::StoreError;
use super::event::{unix_nanos, validate_stream, AppendRequest, Event, EventId, Receipt};
use super::frame::{self, MAX_PAYLOAD_LIMIT};
use super::gate::{GateFn, GateId, Gates, PendingEvent, Rejection};
use super::index::Index;
use super::lock::DirLock;
use super::notify::{CommitListener, CommitNotifier, ListenerId, WaitOutcome};
use super::recovery::{recover, RecoveryReport};
use super::segment::{Journal, Segment, SyncCounter};
use super::sync::{GroupCommit, SyncPolicy};

/// Smallest accepted `segment_size`.
pub const MIN_SEGMENT_SIZE: u64 = 4096;

/// How to open a [`Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The store directory (created if missing), or `None` for a purely in-memory store (no
    /// lock, no files, nothing survives the store).
    pub dir: Option<PathBuf>,
    /// Durability of appends (ignored in memory).
    pub sync: SyncPolicy,
    /// Largest payload accepted, in bytes (at most [`MAX_PAYLOAD_LIMIT`]). Default 1 MiB.
    pub max_payload: usize,
    /// A segment file rolls over once the next batch would take it past this size (a single
    /// batch larger than this gets a segment of its own). Default 64 MiB, at least
    /// [`MIN_SEGMENT_SIZE`].
    pub segment_size: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dir: None,
            sync: SyncPolicy::Always,
            max_payload: 1 << 20,
            segment_size: 64 << 20,
        }
    }
}

impl Config {
    /// An in-memory store with default limits.
    pub fn in_memory() -> Self {
        Config::default()
    }

    /// An on-disk store in `dir` with default limits and `SyncPolicy::Always`.
    pub fn on_disk(dir: impl Into<PathBuf>) -> Self {
        Config {
            dir: Some(dir.into()),
            ..Config::default()
        }
    }

    fn validate(&self) -> Result<(), StoreError> {
        if self.max_payload > MAX_PAYLOAD_LIMIT {
            return Err(StoreError::InvalidArgument(format!(
                "max_payload {} exceeds the limit of {MAX_PAYLOAD_LIMIT}",
                self.max_payload
            )));
        }
        if self.segment_size < MIN_SEGMENT_SIZE {
            return Err(StoreError::InvalidArgument(format!(
                "segment_size {} is below the minimum of {MIN_SEGMENT_SIZE}",
                self.segment_size
            )));
        }
        if self.sync == SyncPolicy::EveryN(0) {
            return Err(StoreError::InvalidArgument(
                "EveryN(0): N must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

struct State {
    index: Index,
    journal: Option<Journal>,
    last_id: u128,
    last_ts: u64,
    /// Set when a journal write failed: the file may end in a torn batch.
    poisoned: Option<String>,
    closed: bool,
}

/// An embedded, append-only event store. `Send + Sync`: share it with `Arc` and call every
/// method from any thread; appends are serialised internally, reads run in parallel.
pub struct Store {
    config: Config,
    state: RwLock<State>,
    group: GroupCommit,
    notifier: CommitNotifier,
    gates: Gates,
    counter: SyncCounter,
    closed: AtomicBool,
    lock: Mutex<Option<DirLock>>,
    report: RecoveryReport,
    /// The gates registered and not yet unregistered, so that [`Store::close`] can remove them
    /// (the gate registry itself has no "remove all").
    gate_ids: Mutex<Vec<GateId>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.config)
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) a store. On disk this takes the directory lock (`Locked` if another
    /// store holds it) and runs recovery (`Corrupt` with file and offset for any damage other
    /// than a torn tail, which is cut off; see [`Store::recovery_report`]).
    pub fn open(config: Config) -> Result<Store, StoreError> {
        config.validate()?;
        let counter = SyncCounter::default();
        let mut index = Index::default();
        let (mut last_id, mut last_ts) = (0u128, 0u64);
        let (lock, journal, report) = match &config.dir {
            None => (None, None, RecoveryReport::default()),
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
                let lock = DirLock::acquire(dir)?;
                let recovered = recover(dir, &counter)?;
                for e in recovered.events {
                    last_id = e.id.as_u128();
                    last_ts = e.timestamp_ns;
                    index.insert(Arc::new(e));
                }
                let segment = match recovered.tail {
                    Some((path, len)) => Segment::open_append(path, len)?,
                    None => Segment::create(dir, 1, &counter)?,
                };
                let journal = Journal::new(dir.clone(), segment, config.segment_size);
                (Some(lock), Some(journal), recovered.report)
            }
        };
        let head = index.last_sequence();
        let group = GroupCommit::new(head);
        if let Some(j) = &journal {
            let (file, path) = j.current();
            group.note_written(head, file, path);
        }
        Ok(Store {
            config,
            state: RwLock::new(State {
                index,
                journal,
                last_id,
                last_ts,
                poisoned: None,
                closed: false,
            }),
            group,
            notifier: CommitNotifier::new(head),
            gates: Gates::default(),
            counter,
            closed: AtomicBool::new(false),
            lock: Mutex::new(lock),
            report,
            gate_ids: Mutex::new(Vec::new()),
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What recovery found when the store was opened (empty in memory).
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Reads keep working after `close` (the index stays in memory until the store is dropped),
    /// so consumers can drain every committed event after the store closed.
    fn read_state(&self) -> Result<RwLockReadGuard<'_, State>, StoreError> {
        Ok(self.state.read())
    }

    fn write_state(&self) -> Result<RwLockWriteGuard<'_, State>, StoreError> {
        let st = self.state.write();
        if st.closed {
            return Err(StoreError::Closed);
        }
        Ok(st)
    }

    fn on_disk(&self) -> bool {
        self.config.dir.is_some()
    }

    /// Appends one event. See [`Store::append_batch`].
    pub fn append(&self, request: AppendRequest) -> Result<Receipt, StoreError> {
        let mut receipts = self.append_batch(vec![request])?;
        Ok(receipts.pop().expect("one receipt per request"))
    }

    /// Appends events atomically: all of them are stored, with consecutive sequences, or none.
    ///
    /// Order of checks: arguments (`InvalidArgument`, `TooLarge`); idempotent replay (every
    /// request carries a key already used with the same stream, kind and payload → the original
    /// receipts, gates are not run again; a key reused with a different request, or a batch
    /// that only partly replays, → `Conflict`); gates (`Rejected`, `GatePanicked`); expected
    /// versions, each request seeing the versions left by the earlier requests of the batch
    /// (`Conflict`). Under `SyncPolicy::Always` it returns once the events are fsynced.
    pub fn append_batch(&self, requests: Vec<AppendRequest>) -> Result<Vec<Receipt>, StoreError> {
        // Refused before the gates run: after `close` no gate is called again.
        if self.is_closed() {
            return Err(StoreError::Closed);
        }
        if requests.is_empty() {
            return Err(StoreError::InvalidArgument("empty batch".into()));
        }
        let mut keys = HashSet::new();
        for r in &requests {
            r.validate(self.config.max_payload)?;
            if let Some(k) = &r.idempotency_key {
                if !keys.insert(k.as_slice()) {
                    return Err(StoreError::InvalidArgument(
                        "the same idempotency key twice in one batch".into(),
                    ));
                }
            }
        }
        if !keys.is_empty() {
            let replayed = replay(&self.read_state()?.index, &requests)?;
            if let Some(receipts) = replayed {
                return self.finish_replay(receipts);
            }
        }
        self.gates.check(&requests)?;

        let mut guard = self.write_state()?;
        let st = &mut *guard;
        if let Some(why) = st.poisoned.clone().or_else(|| self.group.failure()) {
            return Err(StoreError::io(
                "the store failed earlier; reopen it",
                std::io::Error::other(why),
            ));
        }
        if !keys.is_empty() {
            if let Some(receipts) = replay(&st.index, &requests)? {
                drop(guard);
                return self.finish_replay(receipts);
            }
        }
        // Each request sees the versions left by the batch's earlier requests.
        let mut current_version: HashMap<&str, u64> = HashMap::new();
        let mut assigned = Vec::with_capacity(requests.len());
        for r in &requests {
            let current = match current_version.get(r.stream.as_str()) {
                Some(&v) => v,
                None => st.index.stream_version(&r.stream),
            };
            r.expected.check(&r.stream, current)?;
            current_version.insert(&r.stream, current + 1);
            assigned.push(current + 1);
        }
        drop(current_version);

        let first_seq = st.index.last_sequence() + 1;
        let (mut last_id, mut last_ts) = (st.last_id, st.last_ts);
        let n = requests.len();
        let mut events = Vec::with_capacity(n);
        for (i, (r, version)) in requests.into_iter().zip(assigned).enumerate() {
            let id = EventId::next_after(last_id);
            last_id = id.as_u128();
            last_ts = last_ts.max(unix_nanos());
            events.push(Event {
                id,
                sequence: first_seq + i as u64,
                stream: r.stream,
                stream_version: version,
                kind: r.kind,
                correlation_id: r.correlation_id,
                causation_id: r.causation_id,
                timestamp_ns: last_ts,
                payload: r.payload,
                idempotency_key: r.idempotency_key,
            });
        }
        let last_seq = first_seq + n as u64 - 1;
        if let Some(journal) = st.journal.as_mut() {
            let mut buf = Vec::with_capacity(events.iter().map(frame::encoded_len).sum());
            for (i, e) in events.iter().enumerate() {
                frame::encode(e, i + 1 < n, &mut buf);
            }
            if let Err(e) = journal.append(&buf, first_seq, &self.counter) {
                st.poisoned = Some(e.to_string());
                return Err(e);
            }
        }
        st.last_id = last_id;
        st.last_ts = last_ts;
        let receipts: Vec<Receipt> = events.iter().map(Receipt::from).collect();
        for e in events {
            st.index.insert(Arc::new(e));
        }
        // Offer the events to group commit only once they are indexed, so whatever a leader
        // makes visible is already readable.
        if let Some(journal) = &st.journal {
            let (file, path) = journal.current();
            self.group.note_written(last_seq, file, path);
        }
        let durable_first = self.on_disk() && self.config.sync == SyncPolicy::Always;
        if !durable_first {
            self.notifier.advance(last_seq);
        }
        // Release the writer lock before any fsync: that is what lets appenders group.
        drop(guard);
        match (self.on_disk(), self.config.sync) {
            (true, SyncPolicy::Always) => self.await_durable(last_seq)?,
            (true, SyncPolicy::EveryN(n)) if self.group.unsynced() >= u64::from(n) => {
                self.notifier.notify();
                self.await_durable(last_seq)?;
            }
            _ => self.notifier.notify(),
        }
        Ok(receipts)
    }

    fn finish_replay(&self, receipts: Vec<Receipt>) -> Result<Vec<Receipt>, StoreError> {
        let max = receipts.iter().map(|r| r.sequence).max().unwrap_or(0);
        if self.on_disk() && self.config.sync == SyncPolicy::Always {
            self.await_durable(max)?;
        }
        Ok(receipts)
    }

    fn await_durable(&self, seq: u64) -> Result<(), StoreError> {
        let advanced = self
            .group
            .wait_durable(seq, &self.counter, &|n| self.notifier.advance(n))?;
        if advanced.is_some() {
            self.notifier.notify();
        }
        Ok(())
    }

    /// The visible event with this id, or `NotFound`.
    pub fn get(&self, id: EventId) -> Result<Arc<Event>, StoreError> {
        let st = self.read_state()?;
        st.index.get(id, self.head()).ok_or(StoreError::NotFound)
    }

    /// Up to `max` events of `stream`, from stream version `from_version` (1-based, inclusive;
    /// 0 reads from the start), in order. An unknown stream reads as empty.
    pub fn read(
        &self,
        stream: &str,
        from_version: u64,
        max: usize,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        validate_stream(stream.as_bytes())?;
        let st = self.read_state()?;
        Ok(st.index.read_stream(stream, from_version, max, self.head()))
    }

    /// Up to `max` events in global order from sequence `from` (inclusive; 0 = from the start).
    /// With [`Store::wait_for_sequence`] this is all a cursor needs: sequences are dense, so a
    /// cursor at `n` reads from `n + 1` and never misses or repeats an event.
    pub fn read_from_sequence(&self, from: u64, max: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let st = self.read_state()?;
        Ok(st.index.read_from_sequence(from, max, self.head()))
    }

    /// The causation chain above `id`: its cause, the cause's cause, …, nearest first, stopping
    /// at the first cause that is not an event of this store. `NotFound` if `id` is unknown.
    pub fn ancestors(&self, id: EventId) -> Result<Vec<Arc<Event>>, StoreError> {
        let st = self.read_state()?;
        st.index
            .ancestors(id, self.head())
            .ok_or(StoreError::NotFound)
    }

    /// Every event sharing `id`'s correlation group (its `correlation_id`, or `id` itself when
    /// it has none), in sequence order, `id` included. `NotFound` if `id` is unknown.
    pub fn correlated(&self, id: EventId) -> Result<Vec<Arc<Event>>, StoreError> {
        let st = self.read_state()?;
        st.index
            .correlated(id, self.head())
            .ok_or(StoreError::NotFound)
    }

    /// The number of visible events in `stream` (its current version).
    pub fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        validate_stream(stream.as_bytes())?;
        let st = self.read_state()?;
        Ok(st.index.visible_stream_version(stream, self.head()))
    }

    /// The highest visible sequence (0 when empty): every event up to it is readable.
    pub fn head(&self) -> u64 {
        self.notifier.head()
    }

    /// Parks the calling thread until the head exceeds `after`, the store closes, or `timeout`
    /// passes (`None` = no limit). Event-driven: no polling, an idle waiter uses no CPU.
    pub fn wait_for_sequence(&self, after: u64, timeout: Option<Duration>) -> WaitOutcome {
        self.notifier.wait_beyond(after, timeout)
    }

    /// Registers `listener`, called with the new head each time events become visible, and
    /// once more when the store closes. It runs on the committing thread with no store lock
    /// held and must be quick (wake something, don't work); panics are caught and ignored.
    /// The head it gets is a hint (calls may overlap); read [`Store::head`] for the truth.
    pub fn on_commit(&self, listener: impl Fn(u64) + Send + Sync + 'static) -> ListenerId {
        let listener: Arc<CommitListener> = Arc::new(listener);
        self.notifier.add_listener(listener)
    }

    /// Removes a listener (`NotFound` if unknown). A call already in progress may still finish.
    pub fn remove_listener(&self, id: ListenerId) -> Result<(), StoreError> {
        if self.notifier.remove_listener(id) {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    /// Registers a gate, run on every event of every later append before it commits. The
    /// gate is dropped after its last call, once it is unregistered or the store is closed.
    pub fn register_gate(
        &self,
        gate: impl Fn(&PendingEvent<'_>) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> GateId {
        let gate: Box<GateFn> = Box::new(gate);
        let mut ids = self.gate_ids.lock();
        let id = self.gates.register(gate);
        ids.push(id);
        id
    }

    /// Unregisters a gate: it is not called again once this returns, and this waits for its
    /// in-flight calls (except when called from inside that gate on this thread).
    /// `GateNotFound` if no gate has this id (any more).
    pub fn unregister_gate(&self, id: GateId) -> Result<(), StoreError> {
        self.gate_ids.lock().retain(|&g| g != id);
        if self.gates.unregister(id) {
            Ok(())
        } else {
            Err(StoreError::GateNotFound(id.as_u64()))
        }
    }

    /// Whether any gate is registered.
    pub fn has_gates(&self) -> bool {
        !self.gates.is_empty()
    }

    /// Makes every append so far durable (no-op in memory).
    pub fn sync(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        if !self.on_disk() {
            return Ok(());
        }
        self.await_durable(self.group.written())
    }

    /// Closes the store: waits for the append in progress, fsyncs everything written (under
    /// every policy), releases the directory lock, wakes every waiter (they get `Ready` if
    /// the head passed their mark, else `Closed`) and unregisters every gate (each is dropped
    /// after its last call). Later appends and syncs fail with `Closed`; reads of committed
    /// events keep working so consumers can drain them, until the store is dropped. Closing
    /// twice is a no-op. Dropping the store closes it.
    pub fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let journal = {
            let mut st = self.state.write();
            st.closed = true;
            if st.poisoned.is_some() {
                None
            } else {
                st.journal.take()
            }
        };
        let result = match journal {
            Some(_) if self.group.failure().is_none() => self.await_durable(self.group.written()),
            _ => Ok(()),
        };
        drop(journal);
        drop(self.lock.lock().take());
        self.notifier.close();
        // Last, with no store lock held: gates are caller code (their drop too), and an append
        // still running its gates is waited for here.
        let gates = std::mem::take(&mut *self.gate_ids.lock());
        for id in gates {
            let _ = self.gates.unregister(id);
        }
        result
    }

    /// Whether [`Store::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Data fsyncs issued so far (diagnostics; group commit keeps it below the append count).
    pub fn fsync_count(&self) -> u64 {
        self.counter.count()
    }

    #[cfg(test)]
    pub(crate) fn group(&self) -> &GroupCommit {
        &self.group
    }

    #[cfg(test)]
    pub(crate) fn sync_counter(&self) -> &SyncCounter {
        &self.counter
    }

    #[cfg(test)]
    pub(crate) fn journal_position(&self) -> Option<(PathBuf, u64)> {
        let st = self.state.read();
        st.journal.as_ref().map(Journal::position)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// `Some(original receipts)` when every request is an idempotent retry; `Conflict` when a key
/// is reused for a different request or only part of the batch replays; `None` otherwise.
fn replay(index: &Index, requests: &[AppendRequest]) -> Result<Option<Vec<Receipt>>, StoreError> {
    let mut receipts = Vec::new();
    for r in requests {
        let Some(key) = &r.idempotency_key else {
            continue;
        };
        if let Some(original) = index.by_key(key) {
            if !r.matches(original) {
                return Err(StoreError::Conflict(
                    "idempotency key already used with a different stream, kind or payload".into(),
                ));
            }
            receipts.push(Receipt::from(&**original));
        }
    }
    match receipts.len() {
        0 => Ok(None),
        n if n == requests.len() => Ok(Some(receipts)),
        _ => Err(StoreError::Conflict(
            "the batch partly repeats earlier idempotency keys".into(),
        )),
    }
}
