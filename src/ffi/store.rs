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

use super::args::{
    bytes, check_array_out, closure, handle, handle_mut, input, out, slice, utf8, Handle, Out,
};
use super::closure::Closure;
use super::status::{
    guard, transom_status, Failure, TRANSOM_ERR_BUFFER_TOO_SMALL, TRANSOM_ERR_CLOSED,
    TRANSOM_ERR_INVALID_ARGUMENT, TRANSOM_OK,
};
use crate::store::{
    key_length_error, stream_length_error, validate_stream, AppendRequest, Config, Event, EventId,
    ExpectedVersion, GateId, PendingEvent, Receipt, Rejection, Store, StoreError, SyncPolicy,
    MAX_IDEMPOTENCY_KEY_LEN, MAX_STREAM_LEN,
};

/// When appends reach stable storage: one of the TRANSOM_SYNC_* values
/// (`transom_store_config.sync`).
pub type transom_sync_policy = u32;

/// Sync policy: an append returns only once it is fsynced (group commit shares fsyncs between
/// concurrent appenders). The default.
pub const TRANSOM_SYNC_ALWAYS: transom_sync_policy = 0;
/// Sync policy: fsync once every `sync_every_n` appended events.
pub const TRANSOM_SYNC_EVERY_N: transom_sync_policy = 1;
/// Sync policy: fsync only on transom_store_sync, at segment rollover and at close.
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

fn request(event: &transom_append, max_payload: usize) -> Result<AppendRequest, Failure> {
    let stream = stream_name(event.stream, event.stream_len)?;
    let payload = bytes!(event.payload, event.payload_len, max_payload, |len| {
        StoreError::TooLarge {
            len,
            max: max_payload,
        }
        .into()
    })?;
    let mut r = AppendRequest::new(stream, event.kind, payload);
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
        r.idempotency_key = Some(key.to_vec());
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
/// another store holds it) and runs recovery: a torn tail is cut off; any other damage gives
/// TRANSOM_ERR_CORRUPT with the file in transom_last_error() and the offset in
/// transom_last_error_value(). Release the handle with transom_store_free.
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
/// before reporting TRANSOM_ERR_CLOSED. Every later call on the handle returns
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
        let r = s.append(request(event, s.config().max_payload)?)?;
        if let Some(out) = out {
            out.write(receipt(r));
        }
        Ok(TRANSOM_OK)
    })
}

/// Appends the `count` events of the input array `events` all-or-nothing (every gate and
/// version check passes, or nothing is stored) and writes their `count` receipts, in order,
/// to the output array `out_receipts` (of `count` entries; may be NULL if not wanted). `count`
/// 0 is TRANSOM_ERR_INVALID_ARGUMENT.
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
        let receipts = s.append_batch(requests)?;
        if let Some(out) = receipts_out {
            for (slot, r) in out.iter_mut().zip(receipts) {
                slot.write(receipt(r));
            }
        }
        Ok(TRANSOM_OK)
    })
}

/// Copies the event with this id into `buffer` (TRANSOM_ERR_NOT_FOUND if none is visible).
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
/// `buffer`.
#[no_mangle]
pub unsafe extern "C" fn transom_store_ancestors(
    store: *const transom_store,
    id: transom_event_id,
    buffer: *mut transom_event_buffer,
) -> transom_status {
    by_id(store, id, buffer, |s, id| s.ancestors(id))
}

/// Copies every event of `id`'s correlation group (in sequence order, `id` included) into
/// `buffer`.
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
