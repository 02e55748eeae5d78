//! [`Store`]: open, append, read, wait, close, truncate, stats.
//!
//! Invariant: one writer at a time holds the state lock while it checks idempotency and
//! expected versions, assigns sequence/id/version/timestamp, writes the frames and indexes the
//! events; readers only ever see events at or below the commit watermark (`head`), which under
//! `Always` moves only after the fsync covering them. So a sequence a reader has seen is never
//! lost or reused, and sequences are dense and never renumbered.
//!
//! Two backends sit behind the same interface: in memory (`Config::dir = None`: every event in
//! RAM, indexed by hash maps) and on disk (the log in segment files, see [`super::disk`]; the
//! secondary lookups by stream, correlation and key in [`SecondaryIndex`] files, each answer
//! verified against the log; memory bounded whatever the log's size).

use crate::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::batch::{EventBatch, EventView, Keep};
use super::disk::{DiskLog, PassThroughMap};
use super::error::StoreError;
use super::event::{
    same_stream, unix_nanos, validate_stream, AppendRef, AppendRequest, Event, EventId, Receipt,
    Requests,
};
use super::frame::{self, FrameFields, MAX_PAYLOAD_LIMIT};
use super::gate::{GateFn, GateId, Gates, PendingEvent, Rejection};
use super::index::Index;
use super::lock::DirLock;
use super::lsm::{LsmIndex, Opened};
use super::notify::{CommitListener, CommitNotifier, ListenerId, WaitOutcome};
use super::recovery::RecoveryReport;
use super::secondary::{key_hash, IndexEntry, SecondaryIndex};
use super::segment::SyncCounter;
use super::sync::{GroupCommit, SyncPolicy};

/// Smallest accepted `segment_size`.
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// Under `Never` and `EveryN` the write buffer is written to the file once it holds this much.
pub(crate) const WRITE_BUFFER: usize = 64 << 10;
/// Entries of the cache of recently appended streams' latest versions.
const VERSION_CACHE: usize = 4096;
/// Name of the secondary indexes' directory inside a store directory.
pub const INDEX_DIR: &str = "index";

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
    /// Retention by size: at each segment rollover the oldest sealed segments are deleted
    /// while the log's segments total more than this many bytes. 0 (default) = keep all.
    pub retention_bytes: u64,
    /// Retention by age: at each segment rollover sealed segments whose newest event is older
    /// than this are deleted. `None` (default) = keep all.
    pub retention_age: Option<Duration>,
    /// The secondary indexes (and the active segment's sparse index) are made durable every
    /// this many appended events (and at close); a reopen after a crash replays at most about
    /// this many events. Default 65,536, at least 1.
    pub index_flush_events: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dir: None,
            sync: SyncPolicy::Always,
            max_payload: 1 << 20,
            segment_size: 64 << 20,
            retention_bytes: 0,
            retention_age: None,
            index_flush_events: 65_536,
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
        if self.index_flush_events == 0 {
            return Err(StoreError::InvalidArgument(
                "index_flush_events must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A snapshot of a store's size and bookkeeping ([`Store::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Events held (retained), visible or not yet.
    pub events: u64,
    /// Segment files (0 in memory).
    pub segments: u64,
    /// Bytes of segment files, the write buffer included (0 in memory).
    pub bytes_on_disk: u64,
    /// The first retained sequence (1 when retention removed nothing).
    pub first_sequence: u64,
    /// The last visible sequence (the head).
    pub last_sequence: u64,
    /// Frames decoded to open the store (0 after a clean close, see
    /// [`RecoveryReport::frames_scanned`]).
    pub frames_scanned_at_open: u64,
    /// The highest sequence the secondary index files cover durably.
    pub index_covered_sequence: u64,
    /// Bytes of the store's own read cache (0: sealed segments are memory-mapped, so the OS
    /// page cache serves reads).
    pub read_cache_bytes: u64,
    /// Heap held by the store's own structures: the log's tables and buffers, the version
    /// cache and the secondary index's memory (`index_heap_bytes`). In memory: the events.
    pub heap_bytes: u64,
    /// The secondary index's share of `heap_bytes`.
    pub index_heap_bytes: u64,
    /// Times the secondary index was rebuilt from the log while the store was open, because
    /// its files turned out damaged (a rebuild at open shows in [`Store::recovery_report`]).
    pub index_rebuilds: u64,
}

/// A small direct-mapped cache of hot streams' latest version (writer's view), so appends to
/// a busy stream need no index lookup. Bounded: `VERSION_CACHE` slots, names up to 255 bytes.
struct VersionCache {
    slots: Vec<(u128, String, u64)>,
}

impl VersionCache {
    fn new() -> Self {
        VersionCache {
            slots: (0..VERSION_CACHE).map(|_| (0, String::new(), 0)).collect(),
        }
    }

    fn slot(hash: u128) -> usize {
        (hash as usize) % VERSION_CACHE
    }

    fn get(&self, hash: u128, stream: &str) -> Option<u64> {
        let (h, name, v) = &self.slots[Self::slot(hash)];
        (*h == hash && name == stream).then_some(*v)
    }

    fn put(&mut self, hash: u128, stream: &str, version: u64) {
        let slot = &mut self.slots[Self::slot(hash)];
        if slot.0 != hash || slot.1 != stream {
            slot.0 = hash;
            slot.1.clear();
            slot.1.push_str(stream);
        }
        slot.2 = version;
    }

    fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(u128, String, u64)>()
            + self.slots.iter().map(|s| s.1.capacity()).sum::<usize>()
    }
}

struct Disk {
    log: DiskLog,
    secondary: Box<dyn SecondaryIndex>,
    versions: VersionCache,
    /// Scratch for `assign_versions` (reused: an append allocates nothing for it).
    assigned: Vec<(u128, u64)>,
    /// Events appended since the last index flush.
    since_flush: u64,
    /// Times the secondary index was rebuilt after reporting damage while open.
    rebuilds: u64,
    /// Set by a simulated crash: close must not flush anything.
    #[cfg(test)]
    crashed: bool,
}

impl Disk {
    /// The stream's latest version, visible or not (the writer's view).
    fn current_version(&mut self, stream: &str, hash: u128) -> Result<u64, StoreError> {
        if let Some(v) = self.versions.get(hash, stream) {
            return Ok(v);
        }
        let v = self.version_at_or_below(stream, hash, u64::MAX)?;
        self.versions.put(hash, stream, v);
        Ok(v)
    }

    /// The stream's highest version among events with a sequence `<= visible`. Candidates are
    /// checked against the log; a candidate whose event retention removed is taken on the
    /// index's word (a 2^-128 hash collision is the only way it could be another stream's).
    fn version_at_or_below(
        &self,
        stream: &str,
        hash: u128,
        visible: u64,
    ) -> Result<u64, StoreError> {
        let first = self.log.first_retained();
        let mut max = 8;
        loop {
            let candidates = self.secondary.stream_versions_desc(hash, max);
            for &(v, seq) in &candidates {
                if seq > visible {
                    continue;
                }
                if seq < first || self.log.stream_is(seq, stream)? {
                    return Ok(v);
                }
            }
            if candidates.len() < max {
                return Ok(0);
            }
            max *= 8;
        }
    }

    /// The event of the log that was appended with `key`, if any.
    fn by_key(&self, key: &[u8]) -> Result<Option<Event>, StoreError> {
        for seq in self.secondary.by_idempotency_key(key_hash(key)) {
            if seq < self.log.first_retained() {
                // Refused rather than appended a second time: the original may have been it.
                return Err(StoreError::Truncated {
                    first_retained: self.log.first_retained(),
                });
            }
            if let Some(e) = self.log.event_at(seq)? {
                if e.idempotency_key.as_deref() == Some(key) {
                    return Ok(Some(e));
                }
            }
        }
        Ok(None)
    }

    /// Rebuilds the secondary index from the log after it reported damage: every retained
    /// event is replayed into an empty index (derived data is never trusted once damaged).
    fn rebuild_index(&mut self) -> Result<(), StoreError> {
        self.secondary.reset()?;
        self.versions = VersionCache::new();
        let (from, to) = (self.log.first_retained(), self.log.last_seq());
        let replayed = replay_into(&self.log, &mut *self.secondary, from.max(1), to)?;
        self.since_flush = replayed;
        self.rebuilds += 1;
        Ok(())
    }

    /// Writes the buffer, fsyncs, writes the active segment's index, flushes the secondary
    /// index and records it all in the MANIFEST.
    fn flush_index(&mut self, counter: &SyncCounter, clean: bool) -> Result<(), StoreError> {
        self.log.write_out()?;
        self.secondary.flush()?;
        self.log.checkpoint(counter, clean)?;
        self.since_flush = 0;
        Ok(())
    }
}

enum Backend {
    Memory(Box<Index>),
    Disk(Box<Disk>),
}

struct State {
    backend: Backend,
    last_id: u128,
    last_ts: u64,
    /// Set when a journal write failed: the file may end in a torn batch.
    poisoned: Option<String>,
    closed: bool,
}

impl State {
    fn last_sequence(&self) -> u64 {
        match &self.backend {
            Backend::Memory(i) => i.last_sequence(),
            Backend::Disk(d) => d.log.last_seq(),
        }
    }
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

/// Adds the log's events `from..=to` to `secondary`; returns how many.
fn replay_into(
    log: &DiskLog,
    secondary: &mut dyn SecondaryIndex,
    from: u64,
    to: u64,
) -> Result<u64, StoreError> {
    let mut replayed = 0u64;
    if from > to {
        return Ok(0);
    }
    log.visit(from, to, &mut |fr, name| {
        secondary.add(&IndexEntry {
            sequence: fr.sequence,
            stream: key_hash(name.as_bytes()),
            stream_version: fr.stream_version,
            correlation: fr.correlation_id,
            idempotency_key: fr.key.map(key_hash),
        });
        replayed += 1;
        true
    })?;
    Ok(replayed)
}

fn open_disk(
    config: &Config,
    dir: &std::path::Path,
    counter: &SyncCounter,
) -> Result<(Box<Disk>, RecoveryReport, u128, u64), StoreError> {
    let opened = DiskLog::open(dir, config.segment_size, counter)?;
    let (log, mut report) = (opened.log, opened.report);
    let index_dir = dir.join(INDEX_DIR);
    let last = log.last_seq();
    let (index, opened) = LsmIndex::open(&index_dir)?;
    let mut secondary: Box<dyn SecondaryIndex> = Box::new(index);
    // Damaged (the index cleared itself), missing while the log has events, or ahead of the
    // log (a log that lost its unsynced tail to a machine crash): rebuilt from the log.
    // A MANIFEST rebuilt from a full scan says nothing about what the index covered: its
    // files are not trusted either.
    let stale = secondary.covered() > last || report.manifest_rebuilt;
    if stale {
        secondary.reset()?;
    }
    report.index_rebuilt = stale
        || matches!(opened, Opened::Reset { .. })
        || (matches!(opened, Opened::Fresh) && last >= log.first_retained() && last > 0);
    let from = (secondary.covered() + 1).max(log.first_retained());
    let replayed = replay_into(&log, &mut *secondary, from, last)?;
    let (mut last_id, mut last_ts) = (0u128, 0u64);
    if last >= log.first_retained() {
        log.visit(last, last, &mut |fr, _| {
            last_id = fr.id.as_u128();
            last_ts = fr.timestamp_ns;
            false
        })?;
    }
    report.index_replayed = replayed;
    report.events = (last + 1).saturating_sub(log.first_retained());
    let disk = Box::new(Disk {
        log,
        secondary,
        versions: VersionCache::new(),
        assigned: Vec::new(),
        since_flush: replayed,
        rebuilds: 0,
        #[cfg(test)]
        crashed: false,
    });
    Ok((disk, report, last_id, last_ts))
}

impl Store {
    /// Opens (or creates) a store. On disk this takes the directory lock (`Locked` if another
    /// store holds it) and runs recovery: `Corrupt` with file and offset for any damage other
    /// than a torn tail (which is cut off, see [`Store::recovery_report`]), `Unsupported` for
    /// a directory of an older format. Derived files are rebuilt when needed.
    pub fn open(config: Config) -> Result<Store, StoreError> {
        config.validate()?;
        let counter = SyncCounter::default();
        let (lock, backend, report, last_id, last_ts) = match &config.dir {
            None => (
                None,
                Backend::Memory(Box::default()),
                RecoveryReport::default(),
                0,
                0,
            ),
            Some(dir) => {
                if dir.as_os_str().as_encoded_bytes().contains(&0) {
                    return Err(StoreError::InvalidArgument(
                        "the store directory name contains a NUL byte".into(),
                    ));
                }
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
                let lock = DirLock::acquire(dir)?;
                let (disk, report, last_id, last_ts) = open_disk(&config, dir, &counter)?;
                (Some(lock), Backend::Disk(disk), report, last_id, last_ts)
            }
        };
        let state = State {
            backend,
            last_id,
            last_ts,
            poisoned: None,
            closed: false,
        };
        let head = state.last_sequence();
        let group = GroupCommit::new(head);
        if let Backend::Disk(d) = &state.backend {
            let (file, path) = d.log.active_file();
            group.note_written(head, file, path);
        }
        Ok(Store {
            config,
            state: RwLock::new(state),
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

    /// Reads keep working after `close` (the log's files stay open until the store is
    /// dropped), so consumers can drain every committed event after the store closed.
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
    pub fn append(&self, mut request: AppendRequest) -> Result<Receipt, StoreError> {
        let mut receipt = None;
        self.commit(std::slice::from_mut(&mut request), &mut receipt)?;
        Ok(receipt.expect("one receipt per request"))
    }

    /// Appends events atomically: all of them are stored, with consecutive sequences, or none.
    ///
    /// Order of checks: arguments (`InvalidArgument`, `TooLarge`); idempotent replay (every
    /// request carries a key already used with the same stream, kind and payload → the original
    /// receipts, gates are not run again; a key reused with a different request, or a batch
    /// that only partly replays, → `Conflict`; a key whose original event retention removed →
    /// `Truncated`, never a second append); gates (`Rejected`, `GatePanicked`); expected
    /// versions, each request seeing the versions left by the earlier requests of the batch
    /// (`Conflict`). Under `SyncPolicy::Always` it returns once the events are fsynced.
    pub fn append_batch(
        &self,
        mut requests: Vec<AppendRequest>,
    ) -> Result<Vec<Receipt>, StoreError> {
        let mut receipts = Vec::with_capacity(requests.len());
        self.commit(&mut requests[..], &mut receipts)?;
        Ok(receipts)
    }

    /// [`Store::append`] of a borrowed request: the store copies the bytes it keeps, so the
    /// caller builds no `String` or `Vec`.
    pub fn append_ref(&self, request: AppendRef<'_>) -> Result<Receipt, StoreError> {
        let mut receipt = None;
        self.commit(&mut std::slice::from_ref(&request), &mut receipt)?;
        Ok(receipt.expect("one receipt per request"))
    }

    /// [`Store::append_batch`] of borrowed requests: same checks, atomicity, receipts and
    /// durability, without a `String` and a `Vec` per event on the caller's side.
    pub fn append_batch_refs(
        &self,
        requests: &[AppendRef<'_>],
    ) -> Result<Vec<Receipt>, StoreError> {
        let mut receipts = Vec::with_capacity(requests.len());
        self.commit(&mut { requests }, &mut receipts)?;
        Ok(receipts)
    }

    /// [`Store::append_batch`] over owned or borrowed requests (a single append needs no
    /// `Vec`), handing each receipt to `out` in order. The in-memory backend takes the owned
    /// requests' strings and buffers (they are left empty).
    fn commit<R: Requests + ?Sized>(
        &self,
        requests: &mut R,
        out: &mut impl Receipts,
    ) -> Result<(), StoreError> {
        // Refused before the gates run: after `close` no gate is called again.
        if self.is_closed() {
            return Err(StoreError::Closed);
        }
        // Counted from here, so a group-commit leader waits for this append too.
        let _in_flight =
            (self.on_disk() && self.config.sync == SyncPolicy::Always).then(|| self.group.enter());
        let n = requests.count();
        if n == 0 {
            return Err(StoreError::InvalidArgument("empty batch".into()));
        }
        let mut has_keys = false;
        let mut checked: Option<&str> = None;
        for i in 0..n {
            let r = requests.at(i);
            r.validate(
                self.config.max_payload,
                checked.is_some_and(|c| std::ptr::eq(c, r.stream)),
            )?;
            checked = Some(r.stream);
            has_keys |= r.idempotency_key.is_some();
        }
        if has_keys {
            let mut keys = HashSet::new();
            for k in (0..n).filter_map(|i| requests.at(i).idempotency_key) {
                if !keys.insert(k) {
                    return Err(StoreError::InvalidArgument(
                        "the same idempotency key twice in one batch".into(),
                    ));
                }
            }
            let replayed = replay(&self.read_state()?.backend, requests)?;
            if let Some(receipts) = replayed {
                return self.finish_replay(receipts, out);
            }
        }
        self.gates.check(requests)?;

        let mut guard = self.write_state()?;
        let st = &mut *guard;
        if let Some(why) = st.poisoned.clone().or_else(|| self.group.failure()) {
            return Err(StoreError::io(
                "the store failed earlier; reopen it",
                std::io::Error::other(why),
            ));
        }
        // A secondary index that reported damage is rebuilt from the log before this append
        // trusts its answers (damage found by this append's own lookups is handled below).
        if let Backend::Disk(d) = &mut st.backend {
            if d.secondary.damaged() {
                d.rebuild_index()?;
            }
        }
        if has_keys {
            if let Some(receipts) = replay(&st.backend, requests)? {
                drop(guard);
                return self.finish_replay(receipts, out);
            }
        }
        let first_seq = st.last_sequence() + 1;
        let last_seq = first_seq + n as u64 - 1;
        // One clock reading per batch: its events share a timestamp, and their ids follow the
        // first one consecutively (still time-ordered and strictly increasing).
        let now = unix_nanos();
        let first_id = EventId::next_after_at(st.last_id, now).as_u128();
        let last_ts = st.last_ts.max(now);
        let id_of = |i: usize| EventId::from_u128(first_id + i as u128).expect("ids are non-zero");
        match &mut st.backend {
            Backend::Memory(index) => {
                let mut assigned = Vec::new();
                assign_versions(requests, &mut assigned, |s, _| Ok(index.stream_version(s)))?;
                for (i, &(_, version)) in assigned.iter().enumerate() {
                    let (kind, correlation_id, causation_id) = {
                        let r = requests.at(i);
                        (r.kind, r.correlation_id, r.causation_id)
                    };
                    let (stream, payload, idempotency_key) = requests.take(i);
                    let e = Event {
                        id: id_of(i),
                        sequence: first_seq + i as u64,
                        stream,
                        stream_version: version,
                        kind,
                        correlation_id,
                        causation_id,
                        timestamp_ns: last_ts,
                        payload,
                        idempotency_key,
                    };
                    out.put(Receipt::from(&e));
                    index.insert(Arc::new(e));
                }
            }
            Backend::Disk(d) => {
                let mut assigned = std::mem::take(&mut d.assigned);
                assign_versions(requests, &mut assigned, |s, h| d.current_version(s, h))?;
                if d.secondary.damaged() {
                    // The lookups above met damage, so their answers may be incomplete: rebuild
                    // from the log and ask again.
                    d.rebuild_index()?;
                    if has_keys && replay_disk(d, requests)?.is_some() {
                        return Err(StoreError::Conflict(
                            "an idempotency key of this batch was found only after rebuilding a \
                             damaged index; retry to get the original receipts"
                                .into(),
                        ));
                    }
                    assign_versions(requests, &mut assigned, |s, h| d.current_version(s, h))?;
                }
                let bytes: usize = (0..n)
                    .map(|i| {
                        let r = requests.at(i);
                        frame::max_encoded_len(
                            r.stream.len(),
                            r.idempotency_key.map_or(0, <[u8]>::len),
                            r.payload.len(),
                        )
                    })
                    .sum();
                if d.log.needs_roll(bytes) {
                    if let Err(e) = self.roll(d) {
                        st.poisoned = Some(e.to_string());
                        return Err(e);
                    }
                }
                d.log.reserve(bytes);
                for (i, &(hash, version)) in assigned.iter().enumerate() {
                    let r = requests.at(i);
                    let id = id_of(i);
                    let sequence = first_seq + i as u64;
                    d.log.push_frame(
                        r.stream,
                        hash,
                        FrameFields {
                            sequence,
                            timestamp_ns: last_ts,
                            id: id.as_u128(),
                            kind: r.kind,
                            stream_ref: 0,
                            stream_version: version,
                            correlation_id: r.correlation_id,
                            causation_id: r.causation_id,
                            key: r.idempotency_key,
                            defines: None,
                            payload: r.payload,
                            more_in_batch: i + 1 < n,
                        },
                    );
                    out.put(Receipt {
                        id,
                        sequence,
                        stream_version: version,
                    });
                }
                let write_now = match self.config.sync {
                    SyncPolicy::Always => true,
                    SyncPolicy::EveryN(every) => {
                        d.log.buffered() >= WRITE_BUFFER
                            || last_seq - self.group.synced() >= u64::from(every)
                    }
                    SyncPolicy::Never => d.log.buffered() >= WRITE_BUFFER,
                };
                if write_now {
                    if let Err(e) = d.log.write_out() {
                        st.poisoned = Some(e.to_string());
                        return Err(e);
                    }
                }
                for (i, &(hash, version)) in assigned.iter().enumerate() {
                    let r = requests.at(i);
                    d.secondary.add(&IndexEntry {
                        sequence: first_seq + i as u64,
                        stream: hash,
                        stream_version: version,
                        correlation: r.correlation_id,
                        idempotency_key: r.idempotency_key.map(key_hash),
                    });
                    // The cache needs only the last version of a run of one stream.
                    if assigned.get(i + 1).map_or(true, |&(next, _)| next != hash) {
                        d.versions.put(hash, r.stream, version);
                    }
                }
                d.assigned = assigned;
                d.since_flush += n as u64;
                if d.since_flush >= self.config.index_flush_events {
                    if let Err(e) = d.flush_index(&self.counter, false) {
                        // The events are written; the store cannot vouch for more.
                        st.poisoned = Some(e.to_string());
                    }
                }
                // Offer the events to group commit only once they are indexed, so whatever
                // a leader makes visible is already readable.
                let (file, path) = d.log.active_file();
                self.group.note_written(d.log.written_seq(), file, path);
            }
        }
        st.last_id = first_id + n as u128 - 1;
        st.last_ts = last_ts;
        let durable_first = self.on_disk() && self.config.sync == SyncPolicy::Always;
        if !durable_first {
            self.notifier.advance(last_seq);
        }
        // Release the writer lock before any fsync: that is what lets appenders group.
        drop(guard);
        match (self.on_disk(), self.config.sync) {
            (true, SyncPolicy::Always) => self.await_durable(last_seq)?,
            (true, SyncPolicy::EveryN(n)) if last_seq - self.group.synced() >= u64::from(n) => {
                self.notifier.notify();
                self.await_durable(last_seq.min(self.group.written()))?;
            }
            _ => self.notifier.notify(),
        }
        Ok(())
    }

    /// Seals the active segment, starts a new one, then applies retention.
    fn roll(&self, d: &mut Disk) -> Result<(), StoreError> {
        d.log.roll(&self.counter)?;
        let min_ts = self.config.retention_age.map_or(0, |age| {
            unix_nanos().saturating_sub(age.as_nanos() as u64).max(1)
        });
        let k = d.log.retention_count(self.config.retention_bytes, min_ts);
        if k > 0 {
            self.remove_segments(d, k)?;
        }
        Ok(())
    }

    /// Removes the `k` oldest sealed segments, after the secondary index made their entries
    /// durable (they cannot be replayed once the segments are gone).
    fn remove_segments(&self, d: &mut Disk, k: usize) -> Result<u64, StoreError> {
        if d.secondary.covered() < d.log.last_seq_of_first(k) {
            d.flush_index(&self.counter, false)?;
        }
        d.log.remove_first(k)
    }

    fn finish_replay(
        &self,
        receipts: Vec<Receipt>,
        out: &mut impl Receipts,
    ) -> Result<(), StoreError> {
        let max = receipts.iter().map(|r| r.sequence).max().unwrap_or(0);
        if self.on_disk() && self.config.sync == SyncPolicy::Always {
            self.await_durable(max)?;
        }
        for r in receipts {
            out.put(r);
        }
        Ok(())
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

    /// The visible event with this id: `NotFound`, or `Truncated` when retention removed the
    /// events up to it (any id below the first retained event's id once retention removed
    /// something, including ids that never existed: the store cannot tell them apart).
    pub fn get(&self, id: EventId) -> Result<Arc<Event>, StoreError> {
        let st = self.read_state()?;
        let head = self.head();
        match &st.backend {
            Backend::Memory(index) => index.get(id, head).ok_or(StoreError::NotFound),
            Backend::Disk(d) => match d.log.find_id(id)? {
                Some(e) if e.sequence <= head => Ok(Arc::new(e)),
                _ => Err(StoreError::NotFound),
            },
        }
    }

    /// Up to `max` events of `stream`, from stream version `from_version` (1-based, inclusive;
    /// 0 reads from the start), in order. An unknown stream reads as empty. `Truncated` when
    /// the read would start at a version whose event retention removed (read from the
    /// version of the first retained event instead; `from_version` 0 reads from the start
    /// and gets `Truncated` too once the stream's first events were removed).
    pub fn read(
        &self,
        stream: &str,
        from_version: u64,
        max: usize,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        validate_stream(stream.as_bytes())?;
        {
            let st = self.read_state()?;
            if let Backend::Memory(index) = &st.backend {
                return Ok(index.read_stream(stream, from_version, max, self.head()));
            }
        }
        self.query_disk(|d, head| {
            let first = d.log.first_retained();
            let hash = key_hash(stream.as_bytes());
            let mut out = Vec::new();
            let mut from = from_version.max(1);
            while out.len() < max {
                let want = (max - out.len()).saturating_add(8).min(1 << 16);
                let candidates = d.secondary.stream_range(hash, from, want);
                for &(v, seq) in &candidates {
                    if seq < first {
                        return Err(StoreError::Truncated {
                            first_retained: first,
                        });
                    }
                    if seq > head {
                        return Ok(out);
                    }
                    if let Some(e) = d.log.event_at(seq)? {
                        if e.stream == stream {
                            out.push(Arc::new(e));
                            if out.len() == max {
                                return Ok(out);
                            }
                        }
                    }
                    from = v + 1;
                }
                if candidates.len() < want {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// Up to `max` events in global order from sequence `from` (inclusive; 0 = from the first
    /// retained event). With [`Store::wait_for_sequence`] this is all a cursor needs:
    /// sequences are dense, so a cursor at `n` reads from `n + 1` and never misses or repeats
    /// an event. `Truncated { first_retained }` when `from` (other than 0) is below the first
    /// retained sequence.
    pub fn read_from_sequence(&self, from: u64, max: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let st = self.read_state()?;
        let head = self.head();
        match &st.backend {
            Backend::Memory(index) => Ok(index.read_from_sequence(from, max, head)),
            Backend::Disk(d) => {
                let Some((from, to)) = disk_range(from, max, d.log.first_retained(), head)? else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::with_capacity((to - from + 1).min(4096) as usize);
                // Through the views: frames of a sealed segment whose CRC this process already
                // checked are not checked again, and the map is prefetched ahead of the decode.
                let mut keep = Keep::default();
                d.log.views(from, to, &mut keep, &mut |v| {
                    out.push(Arc::new(v.to_event()));
                    true
                })?;
                Ok(out)
            }
        }
    }

    /// Fills `batch` (cleared first) with up to `max` events in global order from sequence
    /// `from`, like [`Store::read_from_sequence`] (same `from` rules, same `Truncated`), but
    /// without allocating per event: the views borrow the memory-mapped sealed segments (no
    /// copy), a per-batch buffer (the segment being appended to: one copy) or, in memory, the
    /// stored events. They stay valid until the batch's next fill or its drop, also across a
    /// retention that removes their segment. Returns the number of events.
    pub fn read_batch(
        &self,
        from: u64,
        max: usize,
        batch: &mut EventBatch,
    ) -> Result<usize, StoreError> {
        batch.clear();
        let (views, keep) = batch.parts();
        self.read_views(from, max, keep, &mut |v| {
            views.push(v);
            true
        })?;
        Ok(views.len())
    }

    /// The engine of [`Store::read_batch`] for consumers that keep their own views: hands the
    /// views of up to `max` events from `from` to `sink` until it returns `false`. The views
    /// live as long as `keep` is not cleared.
    pub(crate) fn read_views(
        &self,
        from: u64,
        max: usize,
        keep: &mut Keep,
        sink: &mut impl FnMut(EventView<'static>) -> bool,
    ) -> Result<(), StoreError> {
        let st = self.read_state()?;
        let head = self.head();
        match &st.backend {
            Backend::Memory(index) => {
                for e in index.slice_from(from, max, head) {
                    if !sink(keep.arc(e)) {
                        break;
                    }
                }
                Ok(())
            }
            Backend::Disk(d) => match disk_range(from, max, d.log.first_retained(), head)? {
                Some((from, to)) => d.log.views(from, to, keep, sink),
                None => Ok(()),
            },
        }
    }

    /// The causation chain above `id`: its cause, the cause's cause, …, nearest first, stopping
    /// at the first cause that is not an event of this store, or that retention removed (the
    /// chain then ends with the event whose cause is gone; `get` of that cause says
    /// `Truncated`). `NotFound`/`Truncated` if `id` itself is unknown/removed.
    pub fn ancestors(&self, id: EventId) -> Result<Vec<Arc<Event>>, StoreError> {
        {
            let st = self.read_state()?;
            if let Backend::Memory(index) = &st.backend {
                return index.ancestors(id, self.head()).ok_or(StoreError::NotFound);
            }
        }
        let mut event = self.get(id)?;
        let mut seen = HashSet::from([id]);
        let mut out = Vec::new();
        while let Some(cause) = event.causation_id {
            if !seen.insert(cause) {
                break; // a forged cycle; ids are caller-supplied in causation_id
            }
            match self.get(cause) {
                Ok(parent) => {
                    out.push(parent.clone());
                    event = parent;
                }
                Err(StoreError::NotFound | StoreError::Truncated { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Every retained, visible event sharing `id`'s correlation group (its `correlation_id`,
    /// or `id` itself when it has none), in sequence order, `id` included; members retention
    /// removed are left out. `NotFound`/`Truncated` if `id` is unknown/removed.
    pub fn correlated(&self, id: EventId) -> Result<Vec<Arc<Event>>, StoreError> {
        {
            let st = self.read_state()?;
            if let Backend::Memory(index) = &st.backend {
                return index
                    .correlated(id, self.head())
                    .ok_or(StoreError::NotFound);
            }
        }
        let event = self.get(id)?;
        let key = event.correlation_key();
        // The group's root (the event whose id is the key) is not in the correlation index
        // (only members pointing at a root are; stores written before may list it too).
        let root = if key == event.id {
            Some(event.sequence)
        } else {
            match self.get(key) {
                Ok(r) if r.correlation_key() == key => Some(r.sequence),
                Ok(_) | Err(StoreError::NotFound | StoreError::Truncated { .. }) => None,
                Err(e) => return Err(e),
            }
        };
        self.query_disk(|d, head| {
            let first = d.log.first_retained();
            let mut out = Vec::new();
            let mut seqs = d.secondary.correlated(key);
            if let Some(r) = root {
                if let Err(at) = seqs.binary_search(&r) {
                    seqs.insert(at, r);
                }
            }
            for seq in seqs {
                if seq < first || seq > head {
                    continue;
                }
                if let Some(e) = d.log.event_at(seq)? {
                    if e.correlation_key() == key {
                        out.push(Arc::new(e));
                    }
                }
            }
            Ok(out)
        })
    }

    /// The number of visible events ever appended to `stream` (its current version; events
    /// removed by retention still count).
    pub fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        validate_stream(stream.as_bytes())?;
        {
            let st = self.read_state()?;
            if let Backend::Memory(index) = &st.backend {
                return Ok(index.visible_stream_version(stream, self.head()));
            }
        }
        self.query_disk(|d, head| d.version_at_or_below(stream, key_hash(stream.as_bytes()), head))
    }

    /// Runs a query of the on-disk backend that consults the secondary index. When the index
    /// reports damage (a page whose checksum failed), its answer may be incomplete: the index
    /// is rebuilt from the log and the query runs again. After `close` the directory is no
    /// longer this store's, so nothing is rebuilt: the query fails with an I/O error instead.
    fn query_disk<R>(
        &self,
        query: impl Fn(&Disk, u64) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        {
            let st = self.read_state()?;
            let Backend::Disk(d) = &st.backend else {
                unreachable!("query_disk is only called for the on-disk backend")
            };
            if !d.secondary.damaged() {
                let answer = query(d, self.head());
                if !d.secondary.damaged() {
                    return answer;
                }
            }
        }
        {
            let mut st = self.state.write();
            if st.closed {
                return Err(StoreError::io(
                    "the secondary index is damaged and the store is closed; reopen it to rebuild",
                    std::io::Error::other("damaged index"),
                ));
            }
            if let Backend::Disk(d) = &mut st.backend {
                if d.secondary.damaged() {
                    d.rebuild_index()?;
                }
            }
        }
        let st = self.read_state()?;
        let Backend::Disk(d) = &st.backend else {
            unreachable!("the backend never changes")
        };
        query(d, self.head())
    }

    /// The first retained sequence: 1 until retention or [`Store::truncate`] removed
    /// segments. Events below it read as `Truncated`.
    pub fn first_sequence(&self) -> u64 {
        match &self.state.read().backend {
            Backend::Memory(_) => 1,
            Backend::Disk(d) => d.log.first_retained(),
        }
    }

    /// Removes every sealed segment whose events all have a sequence below `before_sequence`
    /// (whole segments only: the segment being appended to is never removed, so fewer events
    /// may go than asked). The MANIFEST is updated first, then the files are deleted.
    /// Sequences are never renumbered and stream versions keep counting. Returns the first
    /// retained sequence. `Unsupported` in memory, `Closed` after close.
    pub fn truncate(&self, before_sequence: u64) -> Result<u64, StoreError> {
        let mut guard = self.write_state()?;
        let st = &mut *guard;
        if let Some(why) = st.poisoned.clone() {
            return Err(StoreError::io(
                "the store failed earlier; reopen it",
                std::io::Error::other(why),
            ));
        }
        let Backend::Disk(d) = &mut st.backend else {
            return Err(StoreError::Unsupported(
                "truncate needs an on-disk store".into(),
            ));
        };
        // Never beyond what is durable and visible.
        let before = before_sequence.min(self.head() + 1);
        let k = (0..)
            .take_while(|&k| d.log.segments() > k + 1 && d.log.last_seq_of_first(k + 1) < before)
            .count();
        self.remove_segments(d, k)
    }

    /// Sizes and bookkeeping of the store.
    pub fn stats(&self) -> StoreStats {
        let st = self.state.read();
        let head = self.head();
        match &st.backend {
            Backend::Memory(index) => StoreStats {
                events: index.last_sequence(),
                first_sequence: 1,
                last_sequence: head,
                heap_bytes: index.heap_bytes() as u64,
                ..StoreStats::default()
            },
            Backend::Disk(d) => {
                let index_heap = d.secondary.heap_bytes();
                StoreStats {
                    events: (d.log.last_seq() + 1).saturating_sub(d.log.first_retained()),
                    segments: d.log.segments() as u64,
                    bytes_on_disk: d.log.bytes_on_disk(),
                    first_sequence: d.log.first_retained(),
                    last_sequence: head,
                    frames_scanned_at_open: self.report.frames_scanned,
                    index_covered_sequence: d.secondary.covered(),
                    index_rebuilds: d.rebuilds,
                    read_cache_bytes: 0,
                    heap_bytes: (d.log.heap_bytes() + d.versions.heap_bytes() + index_heap) as u64,
                    index_heap_bytes: index_heap as u64,
                }
            }
        }
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
        self.write_buffer()?;
        self.await_durable(self.group.written())
    }

    /// Writes the write buffer to the file and offers it to group commit.
    fn write_buffer(&self) -> Result<(), StoreError> {
        let mut st = self.state.write();
        let st = &mut *st;
        if let Backend::Disk(d) = &mut st.backend {
            if st.poisoned.is_none() {
                if let Err(e) = d.log.write_out() {
                    st.poisoned = Some(e.to_string());
                    return Err(e);
                }
                let (file, path) = d.log.active_file();
                self.group.note_written(d.log.written_seq(), file, path);
            }
        }
        Ok(())
    }

    /// Closes the store: waits for the append in progress, writes and fsyncs everything
    /// written (under every policy), writes the indexes and the MANIFEST (marked clean, so the
    /// next open scans no frame; each of these is skipped when the files on disk already hold
    /// it, so closing a store nothing was appended to does no I/O), releases the directory lock, wakes every waiter (they get
    /// `Ready` if the head passed their mark, else `Closed`) and unregisters every gate (each
    /// is dropped after its last call). Later appends and syncs fail with `Closed`; reads of
    /// committed events keep working so consumers can drain them, until the store is dropped.
    /// Closing twice is a no-op. Dropping the store closes it.
    pub fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut result = Ok(());
        let flush = {
            let mut st = self.state.write();
            st.closed = true;
            #[cfg(test)]
            let crashed = matches!(&st.backend, Backend::Disk(d) if d.crashed);
            #[cfg(not(test))]
            let crashed = false;
            self.on_disk() && st.poisoned.is_none() && !crashed
        };
        if flush {
            result = self.write_buffer();
            if result.is_ok() && self.group.failure().is_none() {
                result = self.await_durable(self.group.written());
            }
            if result.is_ok() {
                let mut st = self.state.write();
                if let Backend::Disk(d) = &mut st.backend {
                    result = d.flush_index(&self.counter, true);
                }
            }
        }
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

    /// Runs `f` while this store still holds its directory lock (on disk, until the end of
    /// [`Store::close`]), keeping the lock from being released meanwhile; `None` if the lock
    /// was released (or the store is in memory). Lets files that live beside the log (canal
    /// checkpoints) be written only by the directory's current owner.
    pub(crate) fn while_dir_locked<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let held = self.lock.lock();
        held.as_ref().map(|_| f())
    }

    /// Whether [`Store::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Data fsyncs issued so far (diagnostics; group commit keeps it below the append count).
    pub fn fsync_count(&self) -> u64 {
        self.counter.count()
    }

    /// Test hook: ends the store as a killed process would: unwritten buffered frames are
    /// lost, nothing is flushed, no index or MANIFEST is written; the lock is released.
    #[cfg(test)]
    pub(crate) fn simulate_crash(&self) {
        {
            let mut st = self.state.write();
            if let Backend::Disk(d) = &mut st.backend {
                d.log.discard_buffer();
                d.crashed = true;
            }
        }
        let _ = self.close();
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
        match &st.backend {
            Backend::Disk(d) => Some(d.log.position()),
            Backend::Memory(_) => None,
        }
    }
}

/// The inclusive sequence range a disk read of up to `max` events from `from` covers (0 = from
/// the first retained event), given the log's first retained sequence and the head; `None` when
/// it is empty, `Truncated` when `from` (other than 0) is below the first retained sequence.
fn disk_range(
    from: u64,
    max: usize,
    first: u64,
    head: u64,
) -> Result<Option<(u64, u64)>, StoreError> {
    if from != 0 && from < first {
        return Err(StoreError::Truncated {
            first_retained: first,
        });
    }
    let from = from.max(first);
    if max == 0 || from > head {
        return Ok(None);
    }
    Ok(Some((from, head.min(from.saturating_add(max as u64 - 1)))))
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Where [`Store::commit`] puts receipts: a `Vec` for a batch, an `Option` for one append.
trait Receipts {
    fn put(&mut self, receipt: Receipt);
}

impl Receipts for Vec<Receipt> {
    fn put(&mut self, receipt: Receipt) {
        self.push(receipt);
    }
}

impl Receipts for Option<Receipt> {
    fn put(&mut self, receipt: Receipt) {
        *self = Some(receipt);
    }
}

/// For each request, its stream's hash and the version it gets (into `out`, cleared first);
/// each request sees the versions left by the batch's earlier requests. `Conflict` on a
/// failed expected-version check.
fn assign_versions<R: Requests + ?Sized>(
    requests: &R,
    out: &mut Vec<(u128, u64)>,
    mut current: impl FnMut(&str, u128) -> Result<u64, StoreError>,
) -> Result<(), StoreError> {
    let n = requests.count();
    out.clear();
    out.reserve(n);
    // Small batches search their own earlier requests; big ones use a map.
    let mut seen: Option<PassThroughMap<usize>> = (n > 16).then(PassThroughMap::default);
    for i in 0..n {
        let r = requests.at(i);
        // A run of requests to one stream (the common batch): no hash, no search.
        if i > 0 && same_stream(requests.at(i - 1).stream, r.stream) {
            let (hash, now) = out[i - 1];
            r.expected.check(r.stream, now)?;
            out.push((hash, now + 1));
            continue;
        }
        let hash = key_hash(r.stream.as_bytes());
        if let (Some(map), Some(&(prev, _))) = (&mut seen, out.last()) {
            // The run that just ended skipped the map: its last request is the stream's latest.
            map.insert(prev, i - 1);
        }
        let earlier = match &seen {
            Some(map) => map
                .get(&hash)
                .copied()
                .filter(|&j| requests.at(j).stream == r.stream),
            None => (0..i)
                .rev()
                .find(|&j| out[j].0 == hash && requests.at(j).stream == r.stream),
        };
        let now = match earlier {
            Some(j) => out[j].1,
            None => current(r.stream, hash)?,
        };
        r.expected.check(r.stream, now)?;
        out.push((hash, now + 1));
        if let Some(map) = &mut seen {
            map.insert(hash, i);
        }
    }
    Ok(())
}

/// `Some(original receipts)` when every request is an idempotent retry; `Conflict` when a key
/// is reused for a different request or only part of the batch replays; `Truncated` when a
/// key's original event was removed by retention; `None` otherwise.
fn replay<R: Requests + ?Sized>(
    backend: &Backend,
    requests: &R,
) -> Result<Option<Vec<Receipt>>, StoreError> {
    match backend {
        Backend::Memory(index) => {
            replay_with(requests, |key| Ok(index.by_key(key).map(|e| (**e).clone())))
        }
        Backend::Disk(d) => replay_disk(d, requests),
    }
}

fn replay_disk<R: Requests + ?Sized>(
    d: &Disk,
    requests: &R,
) -> Result<Option<Vec<Receipt>>, StoreError> {
    replay_with(requests, |key| d.by_key(key))
}

fn replay_with<R: Requests + ?Sized>(
    requests: &R,
    by_key: impl Fn(&[u8]) -> Result<Option<Event>, StoreError>,
) -> Result<Option<Vec<Receipt>>, StoreError> {
    let mut receipts = Vec::new();
    for i in 0..requests.count() {
        let r = requests.at(i);
        let Some(key) = r.idempotency_key else {
            continue;
        };
        let original = by_key(key)?;
        if let Some(original) = original {
            if !r.matches(&original) {
                return Err(StoreError::Conflict(
                    "idempotency key already used with a different stream, kind or payload".into(),
                ));
            }
            receipts.push(Receipt::from(&original));
        }
    }
    match receipts.len() {
        0 => Ok(None),
        n if n == requests.count() => Ok(Some(receipts)),
        _ => Err(StoreError::Conflict(
            "the batch partly repeats earlier idempotency keys".into(),
        )),
    }
}
