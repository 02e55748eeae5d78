//! C ABI of the event store: open/close/free, appends, reads into caller buffers, causal
//! queries, gates as `{ctx, call, drop}` closures.
//!
//! Invariant: only conversion and checks here; every behaviour is `crate::store`'s. Results are
//! copied into caller memory (an event array plus a byte arena for stream names and payloads),
//! so nothing the caller holds points into the store. A closed handle refuses every call with
//! TRANSOM_ERR_CLOSED before it reaches the store.

use std::ffi::{c_char, c_void};
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::args::{
    bytes, check_array_out, closure, handle, handle_mut, input, out, slice, utf8, Handle, Out,
};
use super::closure::Closure;
use super::status::{
    guard, transom_status, Failure, TRANSOM_ERR_BUFFER_TOO_SMALL, TRANSOM_ERR_CLOSED,
    TRANSOM_ERR_INVALID_ARGUMENT, TRANSOM_OK,
};
use crate::store::{
    key_length_error, stream_length_error, validate_stream, AppendRef, Config, Event, EventId,
    EventView, ExpectedVersion, GateId, PendingEvent, Receipt, Rejection, Store, StoreError,
    SyncPolicy, MAX_IDEMPOTENCY_KEY_LEN, MAX_STREAM_LEN,
};

/// When appends reach stable storage: one of the TRANSOM_SYNC_* values
/// (`transom_store_config.sync`). Ignored by an in-memory store.
///
/// What a crash can lose of the appends that already returned TRANSOM_OK ("acknowledged"):
///
/// | policy | process crash (kill -9, abort) | machine crash (power loss, kernel panic) |
/// |---|---|---|
/// | ALWAYS | nothing | nothing |
/// | EVERY_N(n) | the write buffer: fewer than n events, < 64 KiB of frames + the last batch | the events after the last fsync: fewer than n |
/// | NEVER | the write buffer: < 64 KiB of frames + the last batch | everything after the last fsync (transom_store_sync, segment rollover, index flush, close) |
///
/// Under EVERY_N and NEVER a reader may already see an event a crash then loses, and the
/// sequences of lost events are given to new events after the reopen (under ALWAYS an event
/// becomes visible only once it is fsynced, so a sequence once seen is never reused). Under
/// NEVER a machine crash can also leave a hole in the middle of unsynced data, which the next
/// open reports as TRANSOM_ERR_CORRUPT rather than guessing.
pub type transom_sync_policy = u32;

/// Sync policy: an append returns only once it is fsynced (group commit shares fsyncs between
/// concurrent appenders), and only then do readers see it. Loses nothing on a process or a
/// machine crash. The default.
pub const TRANSOM_SYNC_ALWAYS: transom_sync_policy = 0;
/// Sync policy: fsync once every `sync_every_n` appended events. Frames are collected in a
/// write buffer written out at 64 KiB, at each fsync and at rollover: a process crash loses the
/// acknowledged events still in that buffer, a machine crash those after the last fsync (fewer
/// than n either way).
pub const TRANSOM_SYNC_EVERY_N: transom_sync_policy = 1;
/// Sync policy: fsync only on transom_store_sync, at segment rollover, at each index flush
/// (`index_flush_events`) and at close. A process crash loses the write buffer (< 64 KiB of
/// frames plus the last batch); a machine crash everything after the last fsync.
pub const TRANSOM_SYNC_NEVER: transom_sync_policy = 2;

/// Which stream version an append requires: one of the TRANSOM_EXPECT_* values
/// (`transom_append.expected`).
pub type transom_expected_version_kind = u32;

/// Expected version: no check.
pub const TRANSOM_EXPECT_ANY: transom_expected_version_kind = 0;
/// Expected version: the stream must not exist yet.
pub const TRANSOM_EXPECT_NO_STREAM: transom_expected_version_kind = 1;
/// Expected version: the stream must be exactly at `expected_version`.
pub const TRANSOM_EXPECT_EXACT: transom_expected_version_kind = 2;

/// Longest `transom_store_config.dir`, in bytes.
const MAX_DIR_LEN: usize = 4096;

/// An embedded, append-only event store.
///
/// On disk a store is a directory (`transom_store_config.dir`):
///
/// | file | kind | what |
/// |---|---|---|
/// | `LOCK` | lock | empty; the open store holds an exclusive flock on it (the kernel drops it when the process dies); recreated on open, never delete it while a store is open |
/// | `<20-digit first sequence>.seg` | DATA | the segments: the events, CRC-32C-checked frames |
/// | `MANIFEST` | DATA | the segments with their sequence ranges, the first retained sequence and how far the log was fsynced: what lets open notice a missing or short segment |
/// | `<20-digit first sequence>.idx` | derived | one sparse index per segment (sequence/id to offset, stream names) |
/// | `index/` | derived | the secondary indexes (streams and versions, correlation, idempotency keys) |
/// | `checkpoints/` | DATA (of canals) | named cursors' checkpoints: `<name>.ckpt`, and `<name>.known` once the name checkpointed (see transom_canal_checkpoint) |
///
/// Derived files are safe to delete while the store is closed: a missing, stale, truncated or
/// damaged derived file is rebuilt from the segments (never TRANSOM_ERR_CORRUPT), at the cost
/// of a scan: on open, except a sealed segment's damaged `.idx`, which its checksum exposes
/// when the segment is first read. Data files are not: a segment the MANIFEST lists that is
/// missing or shorter than its fsynced length, or a segment missing between two others, is
/// TRANSOM_ERR_CORRUPT. A MANIFEST that is missing or fails its checksum is rebuilt from a
/// full scan of the segments, but then a deleted newest segment can no longer be noticed:
/// keep the MANIFEST. Files other than these are ignored.
///
/// Torn tail: after a crash the newest segment may end in a write that did not finish. On
/// open, only bytes beyond the fsynced extent the MANIFEST records may be cut, and only when
/// they look like an interrupted write: a frame cut short (with no valid frame of a later
/// sequence after it), or a frame whose checksum fails or whose length is impossible followed
/// by nothing but zeros; an unfinished batch at the very end is removed whole (a batch is
/// all-or-nothing and was never acknowledged). transom_store_stats() reports the bytes cut
/// (`torn_tail_bytes_cut_at_open`). A damaged last record inside the fsynced extent was
/// acknowledged: it is damage, like any damage elsewhere, and gives TRANSOM_ERR_CORRUPT with
/// the file in transom_last_error() and the byte offset in transom_last_error_value(). Open
/// reads the newest record, so a damaged last record fails every open; other damage fails the
/// read that reaches it, or an open that has to scan that part of the log (after a crash, or
/// without its derived files). Nothing is cut or modified, so it is reported every time;
/// `transom-store verify` finds it and `transom-store recover` cuts the log there on request.
///
/// Retention (`retention_bytes`, `retention_age_ns`, transom_store_truncate) deletes whole
/// sealed segments, oldest first. Sequences are never renumbered and stream versions keep
/// counting every event ever appended. Reading a removed event is TRANSOM_ERR_TRUNCATED (with
/// the first retained sequence in transom_last_error_value()), never TRANSOM_ERR_NOT_FOUND.
/// An append whose idempotency key belongs to a removed event is refused with
/// TRANSOM_ERR_TRUNCATED: the store cannot compare the retry with the original, so it neither
/// appends it a second time nor returns a receipt for an event it no longer has.
/// transom_store_ancestors stops at the first removed cause;
/// transom_store_correlated leaves removed members out; both are TRANSOM_ERR_TRUNCATED when
/// the event asked about was removed.
///
/// Thread safety: every function taking a store may be called from any number of threads at
/// once, transom_store_close included (a call racing the close either completes or returns
/// TRANSOM_ERR_CLOSED), except transom_store_free, which must not race other calls on the same
/// handle.
pub struct transom_store {
    pub(crate) store: Arc<Store>,
}

impl Handle for transom_store {}

impl Drop for transom_store {
    /// transom_store_free of an open store closes it first: canals may still hold the store's
    /// memory, so dropping the handle alone would not.
    fn drop(&mut self) {
        let _ = self.store.close();
    }
}

impl transom_store {
    /// The store behind an open handle; TRANSOM_ERR_CLOSED once transom_store_close ran.
    pub(crate) fn open(&self) -> Result<&Arc<Store>, Failure> {
        if self.store.is_closed() {
            Err(Failure::fixed(TRANSOM_ERR_CLOSED, "the store is closed"))
        } else {
            Ok(&self.store)
        }
    }
}

/// A 128-bit event id (`hi` holds the most significant bits). `{0, 0}` means "none".
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct transom_event_id {
    /// Most significant 64 bits.
    pub hi: u64,
    /// Least significant 64 bits.
    pub lo: u64,
}

impl transom_event_id {
    fn get(self) -> Option<EventId> {
        EventId::from_u128((u128::from(self.hi) << 64) | u128::from(self.lo))
    }

    pub(crate) fn of(id: Option<EventId>) -> Self {
        let v = id.map_or(0, EventId::as_u128);
        transom_event_id {
            hi: (v >> 64) as u64,
            lo: v as u64,
        }
    }
}

/// How to open a store (`transom_store_open`). Zero-initialise it for the defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_store_config {
    /// The store directory (UTF-8, not NUL-terminated, at most 4096 bytes; created if
    /// missing), or NULL with `dir_len` 0 for an in-memory store.
    pub dir: *const c_char,
    /// Length of `dir` in bytes.
    pub dir_len: usize,
    /// TRANSOM_SYNC_ALWAYS (0, default), TRANSOM_SYNC_EVERY_N or TRANSOM_SYNC_NEVER.
    pub sync: transom_sync_policy,
    /// N for TRANSOM_SYNC_EVERY_N (at least 1); ignored otherwise.
    pub sync_every_n: u32,
    /// Largest payload in bytes; 0 = the default (1 MiB). At most 1 GiB.
    pub max_payload: usize,
    /// Segment file size in bytes; 0 = the default (64 MiB). At least 4096.
    pub segment_size: u64,
    /// Retention by size: at each segment rollover the oldest sealed segments are deleted
    /// while the segments total more than this many bytes. 0 = keep everything (the default).
    pub retention_bytes: u64,
    /// Retention by age: at each segment rollover the sealed segments whose newest event is
    /// older than this many nanoseconds are deleted. 0 = keep everything (the default).
    pub retention_age_ns: u64,
    /// The secondary index files (and the active segment's sparse index) are made durable
    /// every this many appended events and at close; a reopen after a crash re-reads at most
    /// about this many events. 0 = the default (65,536).
    pub index_flush_events: u64,
}

/// One event to append.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_append {
    /// Stream name: UTF-8, 1..=255 bytes, no NUL byte.
    pub stream: *const c_char,
    /// Length of `stream` in bytes.
    pub stream_len: usize,
    /// Caller-defined kind.
    pub kind: u16,
    /// Payload bytes (NULL allowed when `payload_len` is 0).
    pub payload: *const u8,
    /// Payload length; at most the store's max_payload (checked before the payload is read).
    pub payload_len: usize,
    /// Correlation group, `{0, 0}` for none.
    pub correlation_id: transom_event_id,
    /// Cause, `{0, 0}` for none.
    pub causation_id: transom_event_id,
    /// Idempotency key (NULL with length 0 for none; otherwise 1..=1024 bytes). A retry with the
    /// same key and the same stream, kind and payload returns the original receipt; with
    /// anything else different it is TRANSOM_ERR_CONFLICT.
    pub idempotency_key: *const u8,
    /// Length of `idempotency_key`.
    pub idempotency_key_len: usize,
    /// TRANSOM_EXPECT_ANY (0), TRANSOM_EXPECT_NO_STREAM or TRANSOM_EXPECT_EXACT.
    pub expected: transom_expected_version_kind,
    /// The stream version required with TRANSOM_EXPECT_EXACT.
    pub expected_version: u64,
}

/// Proof of a committed append.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct transom_receipt {
    /// The event's id.
    pub id: transom_event_id,
    /// The event's global sequence (dense from 1, never renumbered).
    pub sequence: u64,
    /// The event's version within its stream (dense from 1).
    pub stream_version: u64,
}

/// A stored event, as copied into a `transom_event_buffer`: `stream` and `payload` point into
/// the buffer's arena.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_event {
    /// Unique, time-ordered id.
    pub id: transom_event_id,
    /// Global sequence.
    pub sequence: u64,
    /// Version within the stream.
    pub stream_version: u64,
    /// Commit time, Unix nanoseconds.
    pub timestamp_ns: u64,
    /// Correlation group (`{0, 0}` = none).
    pub correlation_id: transom_event_id,
    /// Cause (`{0, 0}` = none).
    pub causation_id: transom_event_id,
    /// Caller-defined kind.
    pub kind: u16,
    /// Stream name (not NUL-terminated), in the arena.
    pub stream: *const c_char,
    /// Length of `stream`.
    pub stream_len: usize,
    /// Payload, in the arena.
    pub payload: *const u8,
    /// Payload length.
    pub payload_len: usize,
}

/// Caller memory that read functions fill: an array of events and a byte arena holding their
/// stream names and payloads. Set `events`/`cap` (`cap` at least 1) and `arena`/`arena_cap`
/// (`arena` may be NULL when `arena_cap` is 0); the function sets the rest, on TRANSOM_OK and
/// on TRANSOM_ERR_BUFFER_TOO_SMALL only. When the answer does not fit, the function returns
/// TRANSOM_ERR_BUFFER_TOO_SMALL after writing the `count` events that fit, with `total` and
/// `arena_needed` saying what the whole answer needs. (transom_store_read is paged instead:
/// there `cap` is the page size, see its documentation.)
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_event_buffer {
    /// Array of `cap` events.
    pub events: *mut transom_event,
    /// Number of entries in `events` (at least 1).
    pub cap: usize,
    /// Bytes for stream names and payloads.
    pub arena: *mut u8,
    /// Size of `arena` in bytes.
    pub arena_cap: usize,
    /// Out: events written.
    pub count: usize,
    /// Out: events in the whole answer.
    pub total: usize,
    /// Out: arena bytes the whole answer needs.
    pub arena_needed: usize,
}

/// What a gate sees of an event about to be appended (pointers valid during the call only).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_gate_event {
    /// Stream name (not NUL-terminated).
    pub stream: *const c_char,
    /// Length of `stream`.
    pub stream_len: usize,
    /// Kind.
    pub kind: u16,
    /// Payload.
    pub payload: *const u8,
    /// Payload length.
    pub payload_len: usize,
    /// Correlation id (`{0, 0}` = none).
    pub correlation_id: transom_event_id,
    /// Causation id (`{0, 0}` = none).
    pub causation_id: transom_event_id,
    /// Position in the batch (0 for a single append).
    pub index: usize,
    /// Events in the batch (1 for a single append).
    pub batch_len: usize,
}

/// The gate function's type (see `transom_gate_callback.call`).
type GateCall = unsafe extern "C" fn(
    ctx: *mut c_void,
    event: *const transom_gate_event,
    reason: *mut c_char,
    reason_cap: usize,
) -> i32;

/// A gate closure: `call` runs on the appending thread before the append commits, possibly on
/// several threads at once; `drop` (may be NULL) runs exactly once after the last call, when
/// the gate is removed or the store is closed.
#[repr(C)]
pub struct transom_gate_callback {
    /// Passed to `call` and `drop`.
    pub ctx: *mut c_void,
    /// The gate: return 0 to accept the event, or a non-zero rejection code (reported to the
    /// appender as TRANSOM_ERR_REJECTED with transom_last_error_value() == code); it may write a
    /// NUL-terminated reason of at most `reason_cap` bytes into `reason`.
    pub call: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            event: *const transom_gate_event,
            reason: *mut c_char,
            reason_cap: usize,
        ) -> i32,
    >,
    /// Releases `ctx`; may be NULL.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// A view of `e` whose pointers point into `e` itself.
pub(crate) fn event_view(e: &Event) -> transom_event {
    borrowed_event_view(&EventView::of(e))
}

/// The C view of a borrowed event: its pointers point where `e`'s do (a segment's memory map,
/// a canal's buffer or a stored event).
pub(crate) fn borrowed_event_view(e: &EventView<'_>) -> transom_event {
    transom_event {
        id: transom_event_id::of(Some(e.id)),
        sequence: e.sequence,
        stream_version: e.stream_version,
        timestamp_ns: e.timestamp_ns,
        correlation_id: transom_event_id::of(e.correlation_id),
        causation_id: transom_event_id::of(e.causation_id),
        kind: e.kind,
        stream: e.stream.as_ptr().cast(),
        stream_len: e.stream.len(),
        payload: e.payload.as_ptr(),
        payload_len: e.payload.len(),
    }
}

/// A stream name argument: its length is checked before a byte is read.
fn stream_name<'a>(stream: *const c_char, len: usize) -> Result<&'a str, Failure> {
    let stream = stream.cast::<u8>();
    let b = bytes!(stream, len, MAX_STREAM_LEN, |len| stream_length_error(len)
        .into())?;
    Ok(validate_stream(b)?)
}

/// The caller's event, borrowed (nothing is copied here; the store copies what it keeps).
fn request(event: &transom_append, max_payload: usize) -> Result<AppendRef<'_>, Failure> {
    let stream = stream_name(event.stream, event.stream_len)?;
    let payload = bytes!(event.payload, event.payload_len, max_payload, |len| {
        StoreError::TooLarge {
            len,
            max: max_payload,
        }
        .into()
    })?;
    let mut r = AppendRef::new(stream, event.kind, payload);
    r.correlation_id = event.correlation_id.get();
    r.causation_id = event.causation_id.get();
    if event.idempotency_key_len > 0 || !event.idempotency_key.is_null() {
        if event.idempotency_key_len == 0 {
            return Err(Failure::invalid(
                "idempotency_key_len is 0 but the key is not NULL",
            ));
        }
        let key = bytes!(
            event.idempotency_key,
            event.idempotency_key_len,
            MAX_IDEMPOTENCY_KEY_LEN,
            |len| key_length_error(len).into()
        )?;
        r.idempotency_key = Some(key);
    }
    r.expected = match event.expected {
        TRANSOM_EXPECT_ANY => ExpectedVersion::Any,
        TRANSOM_EXPECT_NO_STREAM => ExpectedVersion::NoStream,
        TRANSOM_EXPECT_EXACT => ExpectedVersion::Exact(event.expected_version),
        _ => return Err(Failure::invalid("expected is not a TRANSOM_EXPECT_* value")),
    };
    Ok(r)
}

fn receipt(r: Receipt) -> transom_receipt {
    transom_receipt {
        id: transom_event_id::of(Some(r.id)),
        sequence: r.sequence,
        stream_version: r.stream_version,
    }
}

/// Copies `src` into the start of `dst` (`dst.len() >= src.len()`); returns where it went.
fn copy_bytes(dst: &mut [MaybeUninit<u8>], src: &[u8]) -> *const u8 {
    let dst = &mut dst[..src.len()];
    // SAFETY: `dst` has exactly `src.len()` writable bytes (the slice above), and a caller
    // arena never overlaps an event the store owns.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast(), src.len()) };
    dst.as_ptr().cast()
}

/// Copies `events` into the caller's buffer; BUFFER_TOO_SMALL when not all of them fit.
fn fill(buf: &mut transom_event_buffer, events: &[Arc<Event>]) -> Result<transom_status, Failure> {
    let slots = check_array_out(buf.events, buf.cap, "buffer->events")?;
    let arena: &mut [MaybeUninit<u8>] = if buf.arena_cap == 0 {
        &mut []
    } else {
        check_array_out(buf.arena, buf.arena_cap, "buffer->arena")?
    };
    let needed: usize = events
        .iter()
        .map(|e| e.stream.len() + e.payload.len())
        .sum();
    let mut count = 0;
    let mut used = 0;
    for (slot, e) in slots.iter_mut().zip(events) {
        let (stream_len, payload_len) = (e.stream.len(), e.payload.len());
        if arena.len() - used < stream_len + payload_len {
            break;
        }
        let stream = copy_bytes(&mut arena[used..], e.stream.as_bytes());
        let payload = copy_bytes(&mut arena[used + stream_len..], &e.payload);
        slot.write(transom_event {
            stream: stream.cast(),
            payload,
            ..event_view(e)
        });
        used += stream_len + payload_len;
        count += 1;
    }
    buf.count = count;
    buf.total = events.len();
    buf.arena_needed = needed;
    if count == events.len() {
        Ok(TRANSOM_OK)
    } else {
        Err(Failure::new(
            TRANSOM_ERR_BUFFER_TOO_SMALL,
            format!(
                "the answer has {} events needing {} arena bytes; {} fit",
                events.len(),
                needed,
                count
            ),
        ))
    }
}

/// The body of the queries by event id: checks the arguments, runs `query`, copies its answer.
fn by_id(
    store: *const transom_store,
    id: transom_event_id,
    buffer: *mut transom_event_buffer,
    query: impl FnOnce(&Store, EventId) -> Result<Vec<Arc<Event>>, StoreError>,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        let buffer = handle_mut!(buffer)?;
        let id = id.get().ok_or(Failure::fixed(
            TRANSOM_ERR_INVALID_ARGUMENT,
            "id {0, 0} names no event",
        ))?;
        fill(buffer, &query(s, id)?)
    })
}

/// Opens (or creates) a store. On disk this takes the directory's lock (TRANSOM_ERR_LOCKED if
/// another store holds it) and runs recovery: a torn tail is cut off; a segment the MANIFEST
/// lists that is missing or short, and damage in what open reads (the newest record, and the
/// frames it has to scan), give TRANSOM_ERR_CORRUPT with the file in transom_last_error() and
/// the offset in transom_last_error_value(); derived files are rebuilt (see transom_store for
/// the files and what counts as a torn tail). After a clean close no frame is scanned
/// (transom_store_stats(): `frames_scanned_at_open` 0; only the newest record is read); after
/// a crash only the frames written since the last index flush. A directory of the 0.2 format (segments
/// "TRNSEG01") is TRANSOM_ERR_UNSUPPORTED. A NUL byte in `dir` is TRANSOM_ERR_INVALID_ARGUMENT.
/// Release the handle with transom_store_free.
#[no_mangle]
pub unsafe extern "C" fn transom_store_open(
    config: *const transom_store_config,
    out_store: *mut *mut transom_store,
) -> transom_status {
    guard(|| {
        let config = input!(config)?;
        let out = out!(out_store)?;
        let mut cfg = Config::default();
        if config.dir_len > 0 || !config.dir.is_null() {
            let dir = utf8!(config.dir, config.dir_len, MAX_DIR_LEN)?;
            if dir.is_empty() {
                return Err(Failure::invalid(
                    "config->dir is empty; use NULL for in-memory",
                ));
            }
            cfg.dir = Some(PathBuf::from(dir));
        }
        cfg.sync = match config.sync {
            TRANSOM_SYNC_ALWAYS => SyncPolicy::Always,
            TRANSOM_SYNC_EVERY_N => SyncPolicy::EveryN(config.sync_every_n),
            TRANSOM_SYNC_NEVER => SyncPolicy::Never,
            _ => {
                return Err(Failure::invalid(
                    "config->sync is not a TRANSOM_SYNC_* value",
                ))
            }
        };
        if config.max_payload != 0 {
            cfg.max_payload = config.max_payload;
        }
        if config.segment_size != 0 {
            cfg.segment_size = config.segment_size;
        }
        cfg.retention_bytes = config.retention_bytes;
        cfg.retention_age =
            (config.retention_age_ns != 0).then(|| Duration::from_nanos(config.retention_age_ns));
        if config.index_flush_events != 0 {
            cfg.index_flush_events = config.index_flush_events;
        }
        let store = Store::open(cfg)?;
        transom_store {
            store: Arc::new(store),
        }
        .publish(out);
        Ok(TRANSOM_OK)
    })
}

/// Closes the store; the handle stays valid until transom_store_free. Waits for the append in
/// progress, fsyncs everything, releases the directory lock, wakes every waiter and removes
/// every gate (each gate's `drop` runs after its last call). Open canals and workers of the
/// store keep its events readable until they are freed, so they hand out every committed event
/// before reporting TRANSOM_ERR_CLOSED; their acks and checkpoints return TRANSOM_ERR_CLOSED
/// from the close on (stop workers first to keep their exit checkpoints). Every later call on the handle returns
/// TRANSOM_ERR_CLOSED. TRANSOM_ERR_IO when the final fsync failed (the store is closed all the
/// same); closing a closed store returns TRANSOM_OK.
#[no_mangle]
pub unsafe extern "C" fn transom_store_close(store: *const transom_store) -> transom_status {
    guard(|| {
        handle!(store)?.store.close()?;
        Ok(TRANSOM_OK)
    })
}

/// Releases the handle (NULL is accepted), closing the store first if it is open (an error of
/// that close is not reported: call transom_store_close first to see it). Canals and workers
/// of the store stay valid; they report TRANSOM_ERR_CLOSED once they handed out every event.
#[no_mangle]
pub unsafe extern "C" fn transom_store_free(store: *mut transom_store) {
    // SAFETY: a non-NULL store comes from transom_store_open and is freed once (the C contract).
    unsafe { transom_store::free(store) }
}

/// Appends one event and writes its receipt to `*out_receipt` (may be NULL if not wanted).
/// Every length is checked against its limit before a byte is read: `payload_len` over
/// max_payload is TRANSOM_ERR_TOO_LARGE, `idempotency_key_len` over 1024 and `stream_len` over
/// 255 are TRANSOM_ERR_INVALID_ARGUMENT. TRANSOM_ERR_TRUNCATED when the idempotency key
/// belongs to an event retention removed (see transom_store).
#[no_mangle]
pub unsafe extern "C" fn transom_store_append(
    store: *const transom_store,
    event: *const transom_append,
    out_receipt: *mut transom_receipt,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        let event = input!(event)?;
        let out = Out::optional(out_receipt);
        let r = s.append_ref(request(event, s.config().max_payload)?)?;
        if let Some(out) = out {
            out.write(receipt(r));
        }
        Ok(TRANSOM_OK)
    })
}

/// Appends the `count` events of the input array `events` all-or-nothing (every gate and
/// version check passes, or nothing is stored) and writes their `count` receipts, in order,
/// to the output array `out_receipts` (of `count` entries; may be NULL if not wanted). `count`
/// 0 is TRANSOM_ERR_INVALID_ARGUMENT. Each event is checked as in transom_store_append, all
/// of them before anything is copied or stored.
#[no_mangle]
pub unsafe extern "C" fn transom_store_append_batch(
    store: *const transom_store,
    events: *const transom_append,
    count: usize,
    out_receipts: *mut transom_receipt,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        let events = slice!(events, count)?;
        let receipts_out = match out_receipts.is_null() || count == 0 {
            true => None,
            false => Some(check_array_out(out_receipts, count, "out_receipts")?),
        };
        let max_payload = s.config().max_payload;
        let requests = events
            .iter()
            .map(|e| request(e, max_payload))
            .collect::<Result<Vec<_>, _>>()?;
        let receipts = s.append_batch_refs(&requests)?;
        if let Some(out) = receipts_out {
            for (slot, r) in out.iter_mut().zip(receipts) {
                slot.write(receipt(r));
            }
        }
        Ok(TRANSOM_OK)
    })
}

/// Copies the event with this id into `buffer` (TRANSOM_ERR_NOT_FOUND if none is visible).
/// TRANSOM_ERR_TRUNCATED once retention removed events and the id is below the first retained
/// event's id (the store cannot tell a removed id from one that never existed there).
#[no_mangle]
pub unsafe extern "C" fn transom_store_get(
    store: *const transom_store,
    id: transom_event_id,
    buffer: *mut transom_event_buffer,
) -> transom_status {
    by_id(store, id, buffer, |s, id| Ok(vec![s.get(id)?]))
}

/// Copies up to `buffer->cap` events of a stream, from stream version `from_version`
/// (1-based, inclusive; 0 = from the start), into `buffer`. An unknown stream reads as empty.
/// Here `cap` is the page size: the answer is at most `cap` events (`total` never exceeds it),
/// and fewer than `cap` means the end of the stream; read the next page from the last
/// `stream_version + 1`. TRANSOM_ERR_BUFFER_TOO_SMALL only when the arena cannot hold the page.
/// TRANSOM_ERR_TRUNCATED (first retained sequence in transom_last_error_value()) when the page
/// would start at a version whose event retention removed (`from_version` 0 included): read
/// on from a later version.
#[no_mangle]
pub unsafe extern "C" fn transom_store_read(
    store: *const transom_store,
    stream: *const c_char,
    stream_len: usize,
    from_version: u64,
    buffer: *mut transom_event_buffer,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        let name = stream_name(stream, stream_len)?;
        let buffer = handle_mut!(buffer)?;
        let events = s.read(name, from_version, buffer.cap)?;
        fill(buffer, &events)
    })
}

/// Copies the causation chain above `id` (its cause, the cause's cause, …, nearest first) into
/// `buffer`. The chain ends at the first cause that is not an event of this store or that
/// retention removed. TRANSOM_ERR_NOT_FOUND / TRANSOM_ERR_TRUNCATED when `id` itself is
/// unknown / removed.
#[no_mangle]
pub unsafe extern "C" fn transom_store_ancestors(
    store: *const transom_store,
    id: transom_event_id,
    buffer: *mut transom_event_buffer,
) -> transom_status {
    by_id(store, id, buffer, |s, id| s.ancestors(id))
}

/// Copies every event of `id`'s correlation group (in sequence order, `id` included) into
/// `buffer`; members retention removed are left out. TRANSOM_ERR_NOT_FOUND /
/// TRANSOM_ERR_TRUNCATED when `id` itself is unknown / removed.
#[no_mangle]
pub unsafe extern "C" fn transom_store_correlated(
    store: *const transom_store,
    id: transom_event_id,
    buffer: *mut transom_event_buffer,
) -> transom_status {
    by_id(store, id, buffer, |s, id| s.correlated(id))
}

/// Makes every append so far durable (a no-op in memory).
#[no_mangle]
pub unsafe extern "C" fn transom_store_sync(store: *const transom_store) -> transom_status {
    guard(|| {
        handle!(store)?.open()?.sync()?;
        Ok(TRANSOM_OK)
    })
}

/// Writes the highest visible sequence (0 when empty) to `*out_sequence`.
#[no_mangle]
pub unsafe extern "C" fn transom_store_head(
    store: *const transom_store,
    out_sequence: *mut u64,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        out!(out_sequence)?.write(s.head());
        Ok(TRANSOM_OK)
    })
}

/// Registers a gate, run on every event of every later append before it commits. The store
/// owns the closure from the call on, also when the call fails (then `drop` has already run).
/// `*out_id` names the gate for transom_store_remove_gate.
#[no_mangle]
pub unsafe extern "C" fn transom_store_add_gate(
    store: *const transom_store,
    gate: transom_gate_callback,
    out_id: *mut u64,
) -> transom_status {
    guard(move || {
        // Taken first, so that every refusal below runs its drop exactly once.
        let gate = closure!(gate)?;
        let s = handle!(store)?.open()?;
        let out = out!(out_id)?;
        let id = s.register_gate(move |e: &PendingEvent<'_>| run_gate(&gate, e));
        out.write(id.as_u64());
        Ok(TRANSOM_OK)
    })
}

fn run_gate(gate: &Closure<GateCall>, e: &PendingEvent<'_>) -> Result<(), Rejection> {
    let view = transom_gate_event {
        stream: e.stream.as_ptr().cast(),
        stream_len: e.stream.len(),
        kind: e.kind,
        payload: e.payload.as_ptr(),
        payload_len: e.payload.len(),
        correlation_id: transom_event_id::of(e.correlation_id),
        causation_id: transom_event_id::of(e.causation_id),
        index: e.index,
        batch_len: e.batch_len,
    };
    let mut reason = [0u8; 256];
    // SAFETY: the C gate promised to accept these arguments; view and reason live across the
    // call; reason_cap leaves room for a NUL we add below anyway.
    let code = unsafe {
        (gate.call())(
            gate.ctx(),
            &view,
            reason.as_mut_ptr().cast(),
            reason.len() - 1,
        )
    };
    if code == 0 {
        return Ok(());
    }
    let end = reason
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(reason.len() - 1);
    Err(Rejection::new(
        code,
        String::from_utf8_lossy(&reason[..end]),
    ))
}

/// Removes the gate `id`: it is not called again once this returns, and this waits for its
/// calls in flight on other threads (from inside the gate itself it returns at once). Its
/// `drop` runs after its last call. TRANSOM_ERR_NOT_FOUND ("no gate with id N") for an id that
/// names no registered gate.
#[no_mangle]
pub unsafe extern "C" fn transom_store_remove_gate(
    store: *const transom_store,
    id: u64,
) -> transom_status {
    guard(|| {
        handle!(store)?
            .open()?
            .unregister_gate(GateId::from_u64(id))?;
        Ok(TRANSOM_OK)
    })
}

/// A snapshot of a store's size and bookkeeping, written by transom_store_stats (the struct
/// cannot share the function's name in C). In memory only
/// `events`, `first_sequence` (1), `last_sequence` and `heap_bytes` are non-zero.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct transom_store_statistics {
    /// Events held (retained), visible or not yet.
    pub events: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of the segment files, the unwritten write buffer included.
    pub bytes_on_disk: u64,
    /// The first retained sequence (1 until retention or transom_store_truncate removed
    /// segments; reading below it is TRANSOM_ERR_TRUNCATED).
    pub first_sequence: u64,
    /// The last visible sequence (the head, as transom_store_head).
    pub last_sequence: u64,
    /// Frames decoded to open the store: 0 after a clean close; after a crash the frames
    /// written since the last index flush, plus those of segments whose index was rebuilt.
    pub frames_scanned_at_open: u64,
    /// The highest sequence the secondary index files cover durably (index flushes happen
    /// every `index_flush_events` events and at close).
    pub index_covered_sequence: u64,
    /// Bytes of the store's own read cache (0: sealed segments are memory-mapped, so the
    /// operating system's page cache serves reads and is not counted here).
    pub read_cache_bytes: u64,
    /// Heap bytes held by the store's own structures: the log's tables and write buffer, the
    /// version cache and the secondary index's memory (`index_heap_bytes`). It does not grow
    /// with the number of events on disk. In memory: every event.
    pub heap_bytes: u64,
    /// The secondary index's share of `heap_bytes` (its in-memory table of recent entries).
    pub index_heap_bytes: u64,
    /// Opening: segment index files (`*.idx`) found missing, stale or damaged and rebuilt.
    pub segment_indexes_rebuilt_at_open: u64,
    /// Opening: events re-read from the log into the secondary indexes (those after the
    /// sequence the index files covered).
    pub index_events_replayed_at_open: u64,
    /// Opening: bytes of a torn tail cut off the newest segment (see transom_store).
    pub torn_tail_bytes_cut_at_open: u64,
    /// Opening: the secondary index files were missing, damaged or ahead of the log and were
    /// rebuilt from the segments.
    pub index_rebuilt_at_open: bool,
    /// Opening: the MANIFEST was missing or damaged and was rebuilt from a full scan.
    pub manifest_rebuilt_at_open: bool,
}

/// Writes the store's sizes and bookkeeping to `*out_stats` (see transom_store_statistics). Cheap:
/// no I/O, a short read lock.
#[no_mangle]
pub unsafe extern "C" fn transom_store_stats(
    store: *const transom_store,
    out_stats: *mut transom_store_statistics,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        let out = out!(out_stats)?;
        let st = s.stats();
        let report = s.recovery_report();
        out.write(transom_store_statistics {
            events: st.events,
            segments: st.segments,
            bytes_on_disk: st.bytes_on_disk,
            first_sequence: st.first_sequence,
            last_sequence: st.last_sequence,
            frames_scanned_at_open: st.frames_scanned_at_open,
            index_covered_sequence: st.index_covered_sequence,
            read_cache_bytes: st.read_cache_bytes,
            heap_bytes: st.heap_bytes,
            index_heap_bytes: st.index_heap_bytes,
            segment_indexes_rebuilt_at_open: report.indexes_rebuilt,
            index_events_replayed_at_open: report.index_replayed,
            torn_tail_bytes_cut_at_open: report.truncated.as_ref().map_or(0, |t| t.removed),
            index_rebuilt_at_open: report.index_rebuilt,
            manifest_rebuilt_at_open: report.manifest_rebuilt,
        });
        Ok(TRANSOM_OK)
    })
}

/// Writes the first retained sequence to `*out_sequence`: 1 until retention or
/// transom_store_truncate removed segments (also 1 for an empty store and in memory). Events
/// below it read as TRANSOM_ERR_TRUNCATED.
#[no_mangle]
pub unsafe extern "C" fn transom_store_first_sequence(
    store: *const transom_store,
    out_sequence: *mut u64,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        out!(out_sequence)?.write(s.first_sequence());
        Ok(TRANSOM_OK)
    })
}

/// Removes the oldest events, whole sealed segments at a time: every segment whose events all
/// have a sequence below `before_sequence` (capped at the head + 1) is deleted. The segment
/// being appended to is never removed, so fewer events may go than asked; the MANIFEST is
/// updated first, then the files are deleted and the directory is fsynced. Sequences are never
/// renumbered and stream versions keep counting. Writes the first retained sequence to
/// `*out_first_retained` (may be NULL if not wanted). Reading below it is then
/// TRANSOM_ERR_TRUNCATED; cursors and checkpoints below it get a TRANSOM_ITEM_GAP item.
/// TRANSOM_ERR_UNSUPPORTED for an in-memory store.
#[no_mangle]
pub unsafe extern "C" fn transom_store_truncate(
    store: *const transom_store,
    before_sequence: u64,
    out_first_retained: *mut u64,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        let out = Out::optional(out_first_retained);
        let first = s.truncate(before_sequence)?;
        if let Some(out) = out {
            out.write(first);
        }
        Ok(TRANSOM_OK)
    })
}

/// Copies up to `buffer->cap` events in global order, from sequence `from_sequence`
/// (inclusive; 0 = from the first retained event), into `buffer`. Paged like
/// transom_store_read: the answer is at most `cap` events, fewer means the head was reached;
/// read the next page from the last `sequence + 1`. TRANSOM_ERR_TRUNCATED (first retained
/// sequence in transom_last_error_value()) when `from_sequence` is not 0 and below the first
/// retained sequence. TRANSOM_ERR_BUFFER_TOO_SMALL only when the arena cannot hold the page.
#[no_mangle]
pub unsafe extern "C" fn transom_store_read_sequence(
    store: *const transom_store,
    from_sequence: u64,
    buffer: *mut transom_event_buffer,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?.open()?;
        let buffer = handle_mut!(buffer)?;
        check_array_out(buffer.events, buffer.cap, "buffer->events")?;
        let events = s.read_from_sequence(from_sequence, buffer.cap)?;
        fill(buffer, &events)
    })
}
