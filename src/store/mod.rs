//! The embedded event store: an append-only log of [`Event`]s, in memory or on disk, with
//! per-stream versions, a causal graph (correlation / causation), idempotent appends, gates and
//! event-driven commit notification for the canals built on top.
//!
//! Invariant: every event gets a global `sequence` at commit, dense from 1 and written into its
//! frame, never renumbered; readers see a prefix of the log (everything up to [`Store::head`])
//! and, under [`SyncPolicy::Always`], only events already fsynced. A sequence once seen is
//! therefore a stable position: cursors can resume from it after a restart.
//!
//! On disk a store is a directory (see `disk.rs` for the table of files): `LOCK` (exclusive
//! `flock`, see [`lock`]), segment files `<first sequence>.seg` of CRC-32C-checked frames
//! ([`frame`] documents the byte layout) — the data —, a small `MANIFEST` stating the segments
//! and how far the log was fsynced, and derived files safe to delete (rebuilt on open): a sparse
//! index `<first sequence>.idx` per segment and the secondary indexes in `index/`. Memory does
//! not grow with the log: sealed segments are memory-mapped, lookups go through the sparse and
//! secondary indexes. Opening after a clean close scans no frame; after a crash it scans the
//! frames written since the last index flush. A torn tail (bytes after the last fsynced extent
//! the MANIFEST records) is cut; any other damage, or a listed segment that is missing or
//! short, is [`StoreError::Corrupt`]; a directory of the 0.2 format is
//! [`StoreError::Unsupported`]. Retention ([`Config::retention_bytes`],
//! [`Config::retention_age`], [`Store::truncate`]) deletes whole sealed segments; reading a
//! removed event is [`StoreError::Truncated`].
//!
//! What a crash loses, by policy: `Always` — nothing acknowledged, process or machine crash.
//! `EveryN(n)` — a process crash loses the acknowledged events still in the write buffer
//! (fewer than n, < 64 KiB of frames plus the last batch); a machine crash the events after the
//! last fsync (fewer than n). `Never` — a process crash loses the write buffer (< 64 KiB of
//! frames plus the last batch); a machine crash everything after the last fsync (`sync`,
//! rollover, index flush, close), possibly with a hole reported as `Corrupt`.
//!
//! ## For consumers (canals)
//!
//! - A position is a sequence. A consumer that has handled everything up to `n` reads from
//!   `n + 1` with [`Store::read_from_sequence`]; sequences are dense, so nothing is skipped or
//!   repeated, and they are the same after a restart.
//! - Waiting is event-driven: [`Store::wait_for_sequence`] parks the thread until the head
//!   passes `n` (or a timeout, or close); [`Store::on_commit`] calls back on every commit so a
//!   consumer with its own condition variable (to be woken by `stop` as well) can use that.
//! - Under [`SyncPolicy::Always`] the head covers only fsynced events, so a sequence a
//!   consumer saw survives any crash. Under `EveryN` and `Never` the head covers written
//!   events: after a machine crash the store may reopen with a lower head, and the lost
//!   sequences will be given to new events; a durable checkpoint above the reopened head
//!   means exactly that.
//! - After [`Store::close`] appends fail with `Closed` but reads keep working, and waiters
//!   wake with `Ready` while the head is above their mark, then `Closed`: consumers can drain.
//! - Recovery ignores files other than `LOCK`, `MANIFEST`, `*.seg`, `*.idx` and `index/`, so
//!   checkpoints can live in the store directory.
//! - Below [`Store::first_sequence`] (after retention) `read_from_sequence` fails with
//!   `Truncated { first_retained }`; reading from 0 starts at the first retained event.
//!
//! ```
//! use transom::store::{AppendRequest, Config, ExpectedVersion, Store};
//! let store = Store::open(Config::in_memory()).unwrap();
//! let r = store
//!     .append(AppendRequest::new("orders/1", 1, b"created".to_vec()).expecting(ExpectedVersion::NoStream))
//!     .unwrap();
//! assert_eq!((r.sequence, r.stream_version), (1, 1));
//! assert_eq!(store.get(r.id).unwrap().payload, b"created");
//! ```
//!
//! Callers whose bytes already live somewhere append borrowed requests ([`AppendRef`],
//! [`Store::append_ref`], [`Store::append_batch_refs`]): same checks and receipts, no `String`
//! or `Vec` per event (the C API appends this way).
//!
//! ```
//! use transom::store::{AppendRef, Config, Store};
//! let store = Store::open(Config::in_memory()).unwrap();
//! let payload = [7u8; 16];
//! let batch = [AppendRef::new("orders/1", 1, &payload), AppendRef::new("orders/1", 2, b"paid")];
//! let receipts = store.append_batch_refs(&batch).unwrap();
//! assert_eq!(receipts[1].stream_version, 2);
//! ```

mod batch;
mod disk;
mod error;
mod event;
pub mod frame;
mod gate;
mod index;
pub mod inspect;
pub mod lock;
mod lsm;
mod manifest;
mod notify;
mod recovery;
mod secondary;
mod segment;
mod sparse;
#[allow(clippy::module_inception)]
mod store;
mod sync;

#[cfg(test)]
mod disk_tests;
#[cfg(test)]
mod test_dir;
#[cfg(test)]
mod tests;

pub(crate) use batch::{forever, Keep};
pub use batch::{EventBatch, EventView};
pub use error::StoreError;
pub(crate) use event::{key_length_error, stream_length_error};
pub use event::{
    validate_stream, AppendRef, AppendRequest, Event, EventId, ExpectedVersion, Receipt,
    MAX_IDEMPOTENCY_KEY_LEN, MAX_STREAM_LEN,
};
pub use gate::{GateFn, GateId, PendingEvent, Rejection};
pub use notify::{CommitListener, ListenerId, WaitOutcome};
pub use recovery::{RecoveryReport, Truncation};
pub use store::{Config, Store, StoreStats, INDEX_DIR, MIN_SEGMENT_SIZE};
pub use sync::SyncPolicy;
