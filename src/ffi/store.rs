//! C ABI of the event store: open/close, appends, reads into caller buffers, causal queries,
//! gates as `{ctx, call, drop}` closures.
//!
//! Invariant: only conversion and checks here; every behaviour is `crate::store`'s. Results are
//! copied into caller memory (an event array plus a byte arena for stream names and payloads),
//! so nothing the caller holds points into the store.

use std::ffi::{c_char, c_void};
use std::path::PathBuf;
use std::sync::Arc;

use super::closure::Closure;
use super::status::{guard, transom_status, Failure, TRANSOM_ERR_BUFFER_TOO_SMALL, TRANSOM_OK};
use crate::store::{
    validate_stream, AppendRequest, Config, Event, EventId, ExpectedVersion, GateId, PendingEvent,
    Receipt, Rejection, Store, SyncPolicy,
};

/// Sync policy: an append returns only once it is fsynced (group commit shares fsyncs between
/// concurrent appenders). The default.
pub const TRANSOM_SYNC_ALWAYS: u32 = 0;
/// Sync policy: fsync once every `sync_every_n` appended events.
pub const TRANSOM_SYNC_EVERY_N: u32 = 1;
/// Sync policy: fsync only on transom_store_sync, at segment rollover and at close.
pub const TRANSOM_SYNC_NEVER: u32 = 2;

/// Expected version: no check.
pub const TRANSOM_EXPECT_ANY: u32 = 0;
/// Expected version: the stream must not exist yet.
pub const TRANSOM_EXPECT_NO_STREAM: u32 = 1;
/// Expected version: the stream must be exactly at `expected_version`.
pub const TRANSOM_EXPECT_EXACT: u32 = 2;

/// An embedded, append-only event store.
///
/// Thread safety: every function taking a store may be called from any number of threads at
/// once, except transom_store_close, which must not race other calls on the same handle.
pub struct transom_store {
    pub(crate) store: Arc<Store>,
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
    /// The store directory (UTF-8, not NUL-terminated; created if missing), or NULL with
    /// `dir_len` 0 for an in-memory store.
    pub dir: *const c_char,
    /// Length of `dir` in bytes.
    pub dir_len: usize,
    /// TRANSOM_SYNC_ALWAYS (0, default), TRANSOM_SYNC_EVERY_N or TRANSOM_SYNC_NEVER.
    pub sync: u32,
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
    /// Payload length; at most the store's max_payload.
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
    pub expected: u32,
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
/// stream names and payloads. Set `events`/`capacity` and `arena`/`arena_capacity`; the
/// function sets the rest. When the answer does not fit, the function returns
/// TRANSOM_ERR_BUFFER_TOO_SMALL after writing the `count` events that fit, with `total` and
/// `arena_needed` saying what the whole answer needs. (transom_store_read is paged instead:
/// there `capacity` is the page size, see its documentation.)
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_event_buffer {
    /// Array of `capacity` events.
    pub events: *mut transom_event,
    /// Number of entries in `events`.
    pub capacity: usize,
    /// Bytes for stream names and payloads.
    pub arena: *mut u8,
    /// Size of `arena`.
    pub arena_capacity: usize,
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

pub(crate) fn store_ref_arc(s: *const transom_store) -> Result<Arc<Store>, Failure> {
    // SAFETY: as in store_ref.
    unsafe { s.as_ref() }
        .map(|s| Arc::clone(&s.store))
        .ok_or_else(|| Failure::null("store"))
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

fn store_ref<'a>(s: *const transom_store) -> Result<&'a Store, Failure> {
    // SAFETY: non-NULL handles come from transom_store_open and stay valid until
    // transom_store_close (the documented contract).
    unsafe { s.as_ref() }
        .map(|s| &*s.store)
        .ok_or_else(|| Failure::null("store"))
}

fn out<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller promises a non-NULL output pointer is writable.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::null(name))
}

/// `len` bytes at `p` (NULL allowed only when len is 0).
fn bytes<'a>(p: *const u8, len: usize, name: &'static str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: non-NULL and the caller promises len readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

fn stream_arg<'a>(p: *const c_char, len: usize) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::null("stream"));
    }
    Ok(validate_stream(bytes(p.cast(), len, "stream")?)?)
}

fn request(a: &transom_append) -> Result<AppendRequest, Failure> {
    let stream = stream_arg(a.stream, a.stream_len)?;
    let payload = bytes(a.payload, a.payload_len, "payload")?;
    let mut r = AppendRequest::new(stream, a.kind, payload);
    r.correlation_id = a.correlation_id.get();
    r.causation_id = a.causation_id.get();
    if a.idempotency_key_len > 0 || !a.idempotency_key.is_null() {
        if a.idempotency_key_len == 0 {
            return Err(Failure::invalid(
                "idempotency_key_len is 0 but the key is not NULL",
            ));
        }
        r.idempotency_key =
            Some(bytes(a.idempotency_key, a.idempotency_key_len, "idempotency_key")?.to_vec());
    }
    r.expected = match a.expected {
        TRANSOM_EXPECT_ANY => ExpectedVersion::Any,
        TRANSOM_EXPECT_NO_STREAM => ExpectedVersion::NoStream,
        TRANSOM_EXPECT_EXACT => ExpectedVersion::Exact(a.expected_version),
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

/// Copies `events` into the caller's buffer; BUFFER_TOO_SMALL when not all of them fit.
fn fill(buf: &mut transom_event_buffer, events: &[Arc<Event>]) -> Result<transom_status, Failure> {
    if buf.capacity > 0 && buf.events.is_null() {
        return Err(Failure::null("buffer->events"));
    }
    if buf.arena_capacity > 0 && buf.arena.is_null() {
        return Err(Failure::null("buffer->arena"));
    }
    let needed: usize = events
        .iter()
        .map(|e| e.stream.len() + e.payload.len())
        .sum();
    buf.total = events.len();
    buf.arena_needed = needed;
    buf.count = 0;
    let mut used = 0usize;
    for e in events {
        let size = e.stream.len() + e.payload.len();
        if buf.count == buf.capacity || buf.arena_capacity - used < size {
            break;
        }
        // SAFETY: arena has arena_capacity bytes and used + size <= arena_capacity; events has
        // capacity entries and count < capacity (the caller's promise about the buffer).
        unsafe {
            let base = buf.arena.add(used);
            std::ptr::copy_nonoverlapping(e.stream.as_ptr(), base, e.stream.len());
            let payload = base.add(e.stream.len());
            std::ptr::copy_nonoverlapping(e.payload.as_ptr(), payload, e.payload.len());
            buf.events.add(buf.count).write(transom_event {
                id: transom_event_id::of(Some(e.id)),
                sequence: e.sequence,
                stream_version: e.stream_version,
                timestamp_ns: e.timestamp_ns,
                correlation_id: transom_event_id::of(e.correlation_id),
                causation_id: transom_event_id::of(e.causation_id),
                kind: e.kind,
                stream: base.cast(),
                stream_len: e.stream.len(),
                payload,
                payload_len: e.payload.len(),
            });
        }
        used += size;
        buf.count += 1;
    }
    if buf.count == events.len() {
        Ok(TRANSOM_OK)
    } else {
        Err(Failure::new(
            TRANSOM_ERR_BUFFER_TOO_SMALL,
            format!(
                "the answer has {} events needing {} arena bytes; {} fit",
                events.len(),
                needed,
                buf.count
            ),
        ))
    }
}

/// The body of the queries by event id: checks the arguments, runs `query`, copies its answer.
fn by_id(
    store: *const transom_store,
    id: transom_event_id,
    buffer: *mut transom_event_buffer,
    query: impl FnOnce(&Store, EventId) -> Result<Vec<Arc<Event>>, crate::store::StoreError>,
) -> transom_status {
    guard(|| {
        let s = store_ref(store)?;
        let b = out(buffer, "buffer")?;
        let id = id
            .get()
            .ok_or_else(|| Failure::invalid("id {0, 0} names no event"))?;
        fill(b, &query(s, id)?)
    })
}

/// Opens (or creates) a store. On disk this takes the directory's lock (TRANSOM_ERR_LOCKED if
/// another store holds it) and runs recovery: a torn tail is cut off; any other damage gives
/// TRANSOM_ERR_CORRUPT with the file in transom_last_error() and the offset in
/// transom_last_error_value(). `*out_store` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn transom_store_open(
    config: *const transom_store_config,
    out_store: *mut *mut transom_store,
) -> transom_status {
    guard(|| {
        // SAFETY: the caller promises a non-NULL config is readable.
        let c = *unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        let o = out(out_store, "out_store")?;
        let mut cfg = Config::default();
        if c.dir_len > 0 || !c.dir.is_null() {
            let dir = std::str::from_utf8(bytes(c.dir.cast(), c.dir_len, "config->dir")?)
                .map_err(|_| Failure::invalid("config->dir is not valid UTF-8"))?;
            if dir.is_empty() {
                return Err(Failure::invalid(
                    "config->dir is empty; use NULL for in-memory",
                ));
            }
            cfg.dir = Some(PathBuf::from(dir));
        }
        cfg.sync = match c.sync {
            TRANSOM_SYNC_ALWAYS => SyncPolicy::Always,
            TRANSOM_SYNC_EVERY_N => SyncPolicy::EveryN(c.sync_every_n),
            TRANSOM_SYNC_NEVER => SyncPolicy::Never,
            _ => {
                return Err(Failure::invalid(
                    "config->sync is not a TRANSOM_SYNC_* value",
                ))
            }
        };
        if c.max_payload != 0 {
            cfg.max_payload = c.max_payload;
        }
        if c.segment_size != 0 {
            cfg.segment_size = c.segment_size;
        }
        let store = Store::open(cfg)?;
        *o = Box::into_raw(Box::new(transom_store {
            store: Arc::new(store),
        }));
        Ok(TRANSOM_OK)
    })
}

/// Closes the store and frees the handle (NULL is accepted): waits for the append in progress,
/// fsyncs everything, releases the directory lock and wakes every waiter. Open canals and
/// workers of the store keep its events readable until they are freed, so they hand out every
/// committed event before reporting TRANSOM_ERR_CLOSED. Gates' `drop` functions run once the
/// last user of the store is gone: here, unless a canal of the store is still open (then when
/// the last such canal is freed). The handle is freed even when the final fsync fails
/// (TRANSOM_ERR_IO).
#[no_mangle]
pub unsafe extern "C" fn transom_store_close(store: *mut transom_store) -> transom_status {
    if store.is_null() {
        return TRANSOM_OK;
    }
    guard(|| {
        // SAFETY: a non-NULL store comes from transom_store_open and is closed once.
        let handle = unsafe { Box::from_raw(store) };
        let result = handle.store.close();
        drop(handle);
        result?;
        Ok(TRANSOM_OK)
    })
}

/// Appends one event and writes its receipt to `*out_receipt` (may be NULL if not wanted).
#[no_mangle]
pub unsafe extern "C" fn transom_store_append(
    store: *const transom_store,
    event: *const transom_append,
    out_receipt: *mut transom_receipt,
) -> transom_status {
    guard(|| {
        let s = store_ref(store)?;
        // SAFETY: the caller promises a non-NULL event is readable.
        let a = unsafe { event.as_ref() }.ok_or_else(|| Failure::null("event"))?;
        let r = s.append(request(a)?)?;
        // SAFETY: the caller promises a non-NULL receipt pointer is writable.
        if let Some(o) = unsafe { out_receipt.as_mut() } {
            *o = receipt(r);
        }
        Ok(TRANSOM_OK)
    })
}

/// Appends `count` events all-or-nothing (every gate and version check passes, or nothing is
/// stored) and writes `count` receipts to `out_receipts` (may be NULL if not wanted).
#[no_mangle]
pub unsafe extern "C" fn transom_store_append_batch(
    store: *const transom_store,
    events: *const transom_append,
    count: usize,
    out_receipts: *mut transom_receipt,
) -> transom_status {
    guard(|| {
        let s = store_ref(store)?;
        if count == 0 {
            return Err(Failure::invalid("count must be at least 1"));
        }
        if events.is_null() {
            return Err(Failure::null("events"));
        }
        // SAFETY: non-NULL and the caller promises `count` readable entries.
        let list = unsafe { std::slice::from_raw_parts(events, count) };
        let requests = list.iter().map(request).collect::<Result<Vec<_>, _>>()?;
        let receipts = s.append_batch(requests)?;
        if !out_receipts.is_null() {
            for (i, r) in receipts.into_iter().enumerate() {
                // SAFETY: the caller promises `count` writable receipts; i < count.
                unsafe { out_receipts.add(i).write(receipt(r)) };
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

/// Copies up to `buffer->capacity` events of a stream, from stream version `from_version`
/// (1-based, inclusive; 0 = from the start), into `buffer`. An unknown stream reads as empty.
/// Here the capacity is the page size: the answer is at most `capacity` events (`total` never
/// exceeds it), and fewer than `capacity` means the end of the stream; read the next page from
/// the last `stream_version + 1`. TRANSOM_ERR_BUFFER_TOO_SMALL only when the arena cannot hold
/// the page.
#[no_mangle]
pub unsafe extern "C" fn transom_store_read(
    store: *const transom_store,
    stream: *const c_char,
    stream_len: usize,
    from_version: u64,
    buffer: *mut transom_event_buffer,
) -> transom_status {
    guard(|| {
        let s = store_ref(store)?;
        let name = stream_arg(stream, stream_len)?;
        let b = out(buffer, "buffer")?;
        let events = s.read(name, from_version, b.capacity)?;
        fill(b, &events)
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
        store_ref(store)?.sync()?;
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
        let s = store_ref(store)?;
        *out(out_sequence, "out_sequence")? = s.head();
        Ok(TRANSOM_OK)
    })
}

/// Registers a gate, run on every event of every later append before it commits. The store
/// owns the closure from now on, also when this fails (then `drop` has run). `*out_gate_id`
/// names it for transom_store_remove_gate.
#[no_mangle]
pub unsafe extern "C" fn transom_store_add_gate(
    store: *const transom_store,
    gate: transom_gate_callback,
    out_gate_id: *mut u64,
) -> transom_status {
    // Own the context first, so that every early return below runs its drop exactly once.
    let call = gate.call;
    let closure = Closure::new(gate.ctx, call, gate.drop);
    guard(move || {
        let s = store_ref(store)?;
        let o = out(out_gate_id, "out_gate_id")?;
        if call.is_none() {
            return Err(Failure::null("gate.call"));
        }
        let id = s.register_gate(move |e: &PendingEvent<'_>| run_gate(&closure, e));
        *o = id.as_u64();
        Ok(TRANSOM_OK)
    })
}

fn run_gate(closure: &Closure<Option<GateCall>>, e: &PendingEvent<'_>) -> Result<(), Rejection> {
    let Some(call) = closure.call() else {
        return Ok(());
    };
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
        call(
            closure.ctx(),
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

/// Removes a gate: it is not called again once this returns, and this waits for its calls in
/// flight on other threads (from inside the gate itself it returns at once). Its `drop` runs
/// after its last call. TRANSOM_ERR_NOT_FOUND for an unknown id.
#[no_mangle]
pub unsafe extern "C" fn transom_store_remove_gate(
    store: *const transom_store,
    gate_id: u64,
) -> transom_status {
    guard(|| {
        store_ref(store)?.unregister_gate(GateId::from_u64(gate_id))?;
        Ok(TRANSOM_OK)
    })
}
