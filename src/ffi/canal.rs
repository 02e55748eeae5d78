//! C ABI of canals (cursors and subscriptions over a store) and their workers.
//!
//! Invariant: only conversion, checks and ownership here. Pulled items point into events the
//! canal keeps until its next pull, so nothing is copied on the hot path. A canal handle owns
//! its canal in an `Option` behind a lock: the pulling thread holds the lock, interrupt and
//! close reach the canal without it, and spawn_worker takes the canal out (the handle then has
//! none and answers TRANSOM_ERR_CLOSED until it is freed).

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::args::{self, array_out, closure, handle, input, out, slice, utf8, Handle, Out};
use super::status::{
    guard, transom_status, Failure, TRANSOM_ERR_CLOSED, TRANSOM_ERR_PANIC, TRANSOM_ERR_WRONG_STATE,
    TRANSOM_INTERRUPTED, TRANSOM_OK, TRANSOM_TIMEOUT,
};
use super::store::{borrowed_event_view, transom_event, transom_store};
use crate::canal::checkpoint::MAX_CHECKPOINT_NAME_LEN;
use crate::canal::{
    spawn_worker, Canal, CanalError, Closer, CursorOptions, Delivery, Filter, Interrupter, Item,
    JoinError, Overflow, Pulled, Start, SubscriptionOptions, Worker, WorkerAction, WorkerError,
    WorkerExit, WorkerOptions, WorkerResult, PREFIX_TOO_LONG,
};
use crate::store::{Store, MAX_STREAM_LEN};
use crate::sync::ready_fd::{self, ReadyFd};
use crate::sync::Mutex;

/// Where a cursor starts: one of the TRANSOM_START_* values (`transom_cursor_options.start`).
pub type transom_start_kind = u32;

/// Cursor start: at sequence 1 (every event).
pub const TRANSOM_START_BEGIN: transom_start_kind = 0;
/// Cursor start: after the head at open (only later events).
pub const TRANSOM_START_END: transom_start_kind = 1;
/// Cursor start: at `start_sequence` (inclusive, at least 1).
pub const TRANSOM_START_AT: transom_start_kind = 2;
/// Cursor start: after the named checkpoint `name` (at BEGIN if the name never checkpointed;
/// TRANSOM_ERR_CORRUPT if its checkpoint file was deleted, see transom_canal_checkpoint).
pub const TRANSOM_START_NAMED: transom_start_kind = 3;

/// What a full subscription does: one of the TRANSOM_OVERFLOW_* values
/// (`transom_subscription_options.overflow`).
pub type transom_overflow_policy = u32;

/// Subscription overflow: drop the oldest buffered event (reported as a gap).
pub const TRANSOM_OVERFLOW_DROP_OLDEST: transom_overflow_policy = 0;
/// Subscription overflow: drop the incoming event (reported as a gap).
pub const TRANSOM_OVERFLOW_DROP_NEWEST: transom_overflow_policy = 1;
/// Subscription overflow: close the subscription (after its buffered items) with
/// TRANSOM_ERR_DISCONNECTED.
pub const TRANSOM_OVERFLOW_DISCONNECT: transom_overflow_policy = 2;

/// What a pulled item is: one of the TRANSOM_ITEM_* values (`transom_item.kind`).
pub type transom_item_kind = i32;

/// Item kind: an event.
pub const TRANSOM_ITEM_EVENT: transom_item_kind = 0;
/// Item kind: events not delivered at this position: dropped by a subscription's overflow
/// policy, or removed by retention before a cursor read them.
pub const TRANSOM_ITEM_GAP: transom_item_kind = 1;

/// A batch callback's answer: one of the TRANSOM_WORKER_CONTINUE / _STOP /
/// _STOP_AND_ROLLBACK values (any other value means STOP_AND_ROLLBACK).
pub type transom_worker_verdict = i32;

/// Batch callback answer: the batch is handled; ack it (cursors) and continue.
pub const TRANSOM_WORKER_CONTINUE: transom_worker_verdict = 0;
/// Batch callback answer: the batch is handled; ack it (cursors) and stop.
pub const TRANSOM_WORKER_STOP: transom_worker_verdict = 1;
/// Batch callback answer: the batch is not handled; do not ack it, rewind and stop (any other
/// value means the same).
pub const TRANSOM_WORKER_STOP_AND_ROLLBACK: transom_worker_verdict = 2;

/// How a worker ended normally: one of the TRANSOM_WORKER_EXIT_* values (transom_worker_join).
pub type transom_worker_exit = i32;

/// Worker exit: transom_worker_stop was called.
pub const TRANSOM_WORKER_EXIT_STOPPED: transom_worker_exit = 0;
/// Worker exit: the callback returned STOP or STOP_AND_ROLLBACK.
pub const TRANSOM_WORKER_EXIT_CALLBACK_STOPPED: transom_worker_exit = 1;
/// Worker exit: the canal closed (its store closed) after everything was delivered.
pub const TRANSOM_WORKER_EXIT_CLOSED: transom_worker_exit = 2;

/// A consumer of a store's events: a cursor or a subscription.
///
/// Thread safety: one thread at a time (a pull's items belong to the handle until the next
/// pull), except transom_canal_interrupt and transom_canal_close, which may be called from any
/// thread at any time (transom_canal_free excepted).
pub struct transom_canal {
    interrupter: Interrupter,
    closer: Closer,
    /// Set once transom_canal_spawn_worker moved the canal into a worker: interrupt and close
    /// must then leave the worker's canal alone.
    moved: AtomicBool,
    /// The canal, until a worker takes it. The lock is uncontended when the contract is kept
    /// (one thread at a time); interrupt and close never take it.
    state: Mutex<Option<Open>>,
    /// The canal's descriptor once a worker took the canal (raised: every call answers
    /// CLOSED at once); closed with the handle.
    moved_fd: Mutex<Option<ReadyFd>>,
}

/// A canal and the store it reads.
struct Open {
    canal: Canal,
    /// The canal reads its store through a weak reference; the handle keeps the store readable
    /// after transom_store_free so that pulls hand out every committed event before CLOSED.
    /// (A closed store holds no lock and no file open for writing: only memory.) None for a
    /// remote cursor, which reads no store.
    store: Option<Arc<Store>>,
}

impl Handle for transom_canal {}

/// What a canal handle whose canal went to a worker answers.
const MOVED: Failure = Failure::fixed(
    TRANSOM_ERR_CLOSED,
    "the canal was handed to a worker; free this handle",
);

impl transom_canal {
    pub(super) fn new(canal: Canal, store: Option<Arc<Store>>) -> Self {
        transom_canal {
            interrupter: canal.interrupter(),
            closer: canal.closer(),
            moved: AtomicBool::new(false),
            state: Mutex::new(Some(Open { canal, store })),
            moved_fd: Mutex::new(None),
        }
    }

    /// Runs `f` on the canal (CLOSED once a worker took it).
    fn with<R>(&self, f: impl FnOnce(&mut Canal) -> Result<R, Failure>) -> Result<R, Failure> {
        let mut state = self.state.lock();
        let open = state.as_mut().ok_or(MOVED)?;
        f(&mut open.canal)
    }
}

/// A thread pulling batches from a canal and handing them to a callback.
///
/// Thread safety: every function may be called from any thread, except transom_worker_free,
/// which must not race other calls on the same handle.
pub struct transom_worker {
    worker: Worker,
    /// See `Open::store`: the worker drains a closed store before it ends.
    _store: Option<Arc<Store>>,
}

impl Handle for transom_worker {}

impl Drop for transom_worker {
    /// Stops the worker and waits for its thread (not from inside its own callback: there
    /// `stop_and_join` refuses to wait, and the thread ends after the callback returns).
    fn drop(&mut self) {
        let _ = self.worker.stop_and_join(None);
    }
}

/// Which events a canal delivers: a stream-name prefix and a set of kinds (empty = all).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_filter {
    /// Byte prefix of the stream name (NULL with length 0: every stream).
    pub stream_prefix: *const c_char,
    /// Length of `stream_prefix` (at most 255).
    pub stream_prefix_len: usize,
    /// Kinds to deliver (NULL with count 0: every kind).
    pub kinds: *const u16,
    /// Number of entries in `kinds`.
    pub kind_count: usize,
}

/// How to open a cursor. Zero-initialise for "every event from the beginning".
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_cursor_options {
    /// Which events.
    pub filter: transom_filter,
    /// TRANSOM_START_BEGIN, _END, _AT or _NAMED.
    pub start: transom_start_kind,
    /// The first sequence with TRANSOM_START_AT.
    pub start_sequence: u64,
    /// The checkpoint name with TRANSOM_START_NAMED: 1..=240 bytes of [A-Za-z0-9._-] (so that
    /// its files fit the 255-byte file-name limit).
    pub name: *const c_char,
    /// Length of `name`.
    pub name_len: usize,
}

/// How to open a subscription (live events from the moment it opens).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_subscription_options {
    /// Which events.
    pub filter: transom_filter,
    /// Events buffered at most (at least 1); gaps take no room.
    pub capacity: usize,
    /// TRANSOM_OVERFLOW_DROP_OLDEST, _DROP_NEWEST or _DISCONNECT.
    pub overflow: transom_overflow_policy,
}

/// One pulled item. For TRANSOM_ITEM_EVENT, `event` describes it (its pointers stay valid until
/// the next pull on the canal or its free; for an on-disk store they point straight into the
/// memory-mapped segment, which the canal keeps mapped until then, even across retention). For
/// TRANSOM_ITEM_GAP, `gap_count` events with sequences in `gap_from..=gap_to` were not
/// delivered: a subscription's overflow policy dropped them, or — cursors — retention removed
/// them before the cursor read them (`gap_count` = `gap_to - gap_from + 1`, filter or not). A
/// cursor's gap counts as delivered: transom_canal_ack(gap_to) is allowed, and a checkpoint
/// there resumes at the first retained event.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_item {
    /// TRANSOM_ITEM_EVENT or TRANSOM_ITEM_GAP.
    pub kind: transom_item_kind,
    /// The event (zeroed for a gap).
    pub event: transom_event,
    /// First sequence not delivered (gaps).
    pub gap_from: u64,
    /// Last sequence not delivered (gaps).
    pub gap_to: u64,
    /// Number of sequences not delivered (gaps): `gap_to - gap_from + 1`.
    pub gap_count: u64,
}

/// A worker's batch callback: gets each batch (valid during the call) on the worker thread and
/// returns TRANSOM_WORKER_CONTINUE, _STOP or _STOP_AND_ROLLBACK. `drop` (may be NULL) runs
/// exactly once after the last call, when the worker thread ends.
#[repr(C)]
pub struct transom_batch_callback {
    /// Passed to `call` and `drop`.
    pub ctx: *mut c_void,
    /// Handles one batch.
    pub call: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            items: *const transom_item,
            count: usize,
        ) -> transom_worker_verdict,
    >,
    /// Releases `ctx`; may be NULL.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// How to run a worker. Zero-initialise for the defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_worker_options {
    /// Largest batch (0: the default, 256).
    pub max_batch: usize,
    /// Named cursors: checkpoint after every n-th acknowledged batch (0: not during the run).
    pub checkpoint_every: u32,
    /// true: do not checkpoint when the worker ends (by default a named cursor checkpoints what
    /// it acknowledged since the last checkpoint).
    pub no_checkpoint_on_exit: bool,
}

/// The worker's reusable item array: the pointers in it are only meaningful during one
/// callback and are rewritten before the next.
struct Scratch(Vec<transom_item>);
// SAFETY: the vector moves to the worker thread with the closure and is only used there; the
// raw pointers it holds are never dereferenced by Rust.
unsafe impl Send for Scratch {}

impl Scratch {
    fn fill(&mut self, batch: &[Item]) -> &[transom_item] {
        self.0.clear();
        self.0.extend(batch.iter().map(item));
        &self.0
    }
}

fn item(d: &Item) -> transom_item {
    match d {
        Delivery::Event { value, .. } => transom_item {
            kind: TRANSOM_ITEM_EVENT,
            event: borrowed_event_view(value),
            gap_from: 0,
            gap_to: 0,
            gap_count: 0,
        },
        Delivery::Gap {
            from_seq,
            to_seq,
            count,
        } => transom_item {
            kind: TRANSOM_ITEM_GAP,
            event: no_event(),
            gap_from: *from_seq,
            gap_to: *to_seq,
            gap_count: *count,
        },
    }
}

/// The `event` of a gap item: zeroed, NULL pointers.
fn no_event() -> transom_event {
    transom_event {
        id: Default::default(),
        sequence: 0,
        stream_version: 0,
        timestamp_ns: 0,
        correlation_id: Default::default(),
        causation_id: Default::default(),
        kind: 0,
        stream: std::ptr::null(),
        stream_len: 0,
        payload: std::ptr::null(),
        payload_len: 0,
    }
}

pub(super) fn filter_arg(filter: &transom_filter) -> Result<Filter, Failure> {
    let prefix = args::check_bytes(
        filter.stream_prefix.cast(),
        filter.stream_prefix_len,
        MAX_STREAM_LEN,
        "filter.stream_prefix",
        |_| PREFIX_TOO_LONG.into(),
    )?;
    let kinds = slice!(filter.kinds, filter.kind_count)?;
    Ok(Filter::all()
        .with_stream_prefix(prefix)?
        .with_kinds(kinds.iter().copied()))
}

/// The store of a canal to open, with the reference the canal handle keeps.
fn store_arg(store: *const transom_store) -> Result<Arc<Store>, Failure> {
    Ok(Arc::clone(handle!(store)?.open()?))
}

/// Opens a cursor on `store`: ordered, at-least-once delivery of the events that match the
/// filter, from the chosen start; `transom_canal_ack` moves its acknowledged position and
/// `transom_canal_checkpoint` persists it for a named cursor. A damaged checkpoint file, or a
/// deleted one of a name that checkpointed before, gives TRANSOM_ERR_CORRUPT naming the file
/// (never a silent restart). A cursor whose start (BEGIN, AT or its checkpoint) is below the
/// store's first retained sequence first receives one TRANSOM_ITEM_GAP item for the removed
/// range. Release the handle with transom_canal_free.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_open_cursor(
    store: *const transom_store,
    options: *const transom_cursor_options,
    out_canal: *mut *mut transom_canal,
) -> transom_status {
    guard(|| {
        let s = store_arg(store)?;
        let options = input!(options)?;
        let out = out!(out_canal)?;
        let start = match options.start {
            TRANSOM_START_BEGIN => Start::Begin,
            TRANSOM_START_END => Start::End,
            TRANSOM_START_AT => Start::At(options.start_sequence),
            TRANSOM_START_NAMED => Start::Named(
                utf8!(options.name, options.name_len, MAX_CHECKPOINT_NAME_LEN)?.to_owned(),
            ),
            _ => {
                return Err(Failure::invalid(
                    "options->start is not a TRANSOM_START_* value",
                ))
            }
        };
        let filter = filter_arg(&options.filter)?;
        let canal = Canal::cursor(&s, CursorOptions::new(start).with_filter(filter))?;
        transom_canal::new(canal, Some(s)).publish(out);
        Ok(TRANSOM_OK)
    })
}

/// Opens a subscription on `store`: events committed from now on that match the filter, pushed
/// into a bounded buffer; drops under the overflow policy are reported in-band as
/// TRANSOM_ITEM_GAP items. Release the handle with transom_canal_free.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_open_subscription(
    store: *const transom_store,
    options: *const transom_subscription_options,
    out_canal: *mut *mut transom_canal,
) -> transom_status {
    guard(|| {
        let s = store_arg(store)?;
        let options = input!(options)?;
        let out = out!(out_canal)?;
        let overflow = match options.overflow {
            TRANSOM_OVERFLOW_DROP_OLDEST => Overflow::DropOldest,
            TRANSOM_OVERFLOW_DROP_NEWEST => Overflow::DropNewest,
            TRANSOM_OVERFLOW_DISCONNECT => Overflow::Disconnect,
            _ => {
                return Err(Failure::invalid(
                    "options->overflow is not a TRANSOM_OVERFLOW_* value",
                ))
            }
        };
        let filter = filter_arg(&options.filter)?;
        let opts = SubscriptionOptions::new(options.capacity, overflow).with_filter(filter);
        let canal = Canal::subscription(&s, opts)?;
        transom_canal::new(canal, Some(s)).publish(out);
        Ok(TRANSOM_OK)
    })
}

/// Pulls up to `cap` items into the caller array `items` (`cap` entries, at least 1) and
/// writes how many to `*out_count`. Returns TRANSOM_OK as soon as at least one item is ready;
/// TRANSOM_TIMEOUT after `timeout_ns` (0: do not wait; UINT64_MAX: no limit) with none;
/// TRANSOM_INTERRUPTED when transom_canal_interrupt woke it with none; TRANSOM_ERR_CLOSED (or
/// TRANSOM_ERR_DISCONNECTED) only after every buffered item was handed out. `items` and
/// `*out_count` are written on TRANSOM_OK only. Waiting parks the thread: an idle pull uses no
/// CPU. The items' pointers stay valid until the next pull on this canal or its free.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_pull_batch(
    canal: *mut transom_canal,
    timeout_ns: u64,
    items: *mut transom_item,
    cap: usize,
    out_count: *mut usize,
) -> transom_status {
    guard(|| {
        let c = handle!(canal)?;
        let items = array_out!(items, cap)?;
        let count = out!(out_count)?;
        c.with(
            |canal| match canal.pull_batch(items.len(), args::timeout(timeout_ns))? {
                Pulled::Items(batch) => {
                    for (slot, d) in items.iter_mut().zip(batch) {
                        slot.write(item(d));
                    }
                    count.write(batch.len());
                    Ok(TRANSOM_OK)
                }
                Pulled::TimedOut => Ok(TRANSOM_TIMEOUT),
                Pulled::Interrupted => Ok(TRANSOM_INTERRUPTED),
            },
        )
    })
}

/// Writes the canal's pollable descriptor to `*out_fd`: readable while a
/// transom_canal_pull_batch would not wait — items are ready, the canal or its store is closed,
/// or an interrupt is pending — and unreadable again once a pull has taken every ready item.
/// For a cursor with a filter, "items are ready" means committed events it has not examined
/// yet: when the filter skips all of them, a pull with timeout 0 returns TRANSOM_TIMEOUT and
/// the descriptor becomes unreadable. After transom_canal_spawn_worker the handle keeps the
/// descriptor, readable (every call on the handle returns TRANSOM_ERR_CLOSED); watch the
/// worker with transom_worker_fd. Call it from the thread that pulls (it waits for a pull in
/// progress on the handle).
///
/// Level-triggered: the descriptor (a Linux eventfd, non-blocking and close-on-exec) is
/// readable exactly while the blocking call named above would return at once, and stops being
/// readable as soon as a call has taken what made it readable: there is no spurious readiness
/// after a draining call, so an event loop can wait on it with poll, select or epoll, call
/// the non-blocking form (timeout 0) when it is readable, and go back to waiting (with
/// EPOLLET, call until it returns TRANSOM_TIMEOUT before waiting again). Only wait on it: never read, write or close it yourself. It is created
/// on the first call (a handle that never asks has none; later calls return the same number),
/// belongs to the handle and is closed by its _free: remove it from an epoll set before the
/// _free, or hold a dup() of it, which then reports readable for good. No thread, no polling:
/// a loop waiting on idle descriptors uses no CPU. `*out_fd` is written on TRANSOM_OK only;
/// TRANSOM_ERR_IO (or TRANSOM_ERR_UNSUPPORTED off Linux) when the OS refused a descriptor.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_fd(
    canal: *const transom_canal,
    out_fd: *mut c_int,
) -> transom_status {
    guard(|| {
        let c = handle!(canal)?;
        let out = out!(out_fd)?;
        let state = c.state.lock();
        let fd = match state.as_ref() {
            Some(open) => open.canal.fd()?,
            None => ready_fd::ensure(&mut c.moved_fd.lock(), true)
                .map_err(super::status::descriptor_failure)?,
        };
        out.write(fd);
        Ok(TRANSOM_OK)
    })
}

/// Wakes a pull blocked on this canal (or the next one, if none is blocked) with
/// TRANSOM_INTERRUPTED. Safe from any thread at any time. TRANSOM_ERR_CLOSED after
/// transom_canal_close, and once the canal was handed to a worker (stop the worker with
/// transom_worker_stop).
#[no_mangle]
pub unsafe extern "C" fn transom_canal_interrupt(canal: *const transom_canal) -> transom_status {
    guard(|| {
        let c = handle!(canal)?;
        if c.moved.load(Ordering::SeqCst) {
            return Err(MOVED);
        }
        if c.closer.is_closed() {
            return Err(CanalError::Closed.into());
        }
        c.interrupter.interrupt();
        Ok(TRANSOM_OK)
    })
}

/// Closes the canal; the handle stays valid until transom_canal_free. Safe from any thread at
/// any time: a pull blocked on another thread wakes. A subscription stops receiving events and
/// hands out what it buffered, then every pull returns TRANSOM_ERR_CLOSED; a cursor (it buffers
/// nothing) returns TRANSOM_ERR_CLOSED at its next pull (a pending interrupt is reported
/// first). transom_canal_ack, _checkpoint and _rewind return TRANSOM_ERR_CLOSED from then on:
/// checkpoint before closing. A named cursor keeps its name until freed. Closing a closed
/// canal (or one handed to a worker) returns TRANSOM_OK.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_close(canal: *const transom_canal) -> transom_status {
    guard(|| {
        let c = handle!(canal)?;
        if !c.moved.load(Ordering::SeqCst) {
            c.closer.close();
        }
        Ok(TRANSOM_OK)
    })
}

/// Cursors: acknowledges every delivered event up to `sequence` (at least the current
/// acknowledged position, at most the last delivered sequence). TRANSOM_ERR_INVALID_ARGUMENT
/// otherwise, and for subscriptions; TRANSOM_ERR_CLOSED after the canal or its store closed.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_ack(
    canal: *mut transom_canal,
    sequence: u64,
) -> transom_status {
    guard(|| {
        handle!(canal)?.with(|c| Ok(c.ack(sequence)?))?;
        Ok(TRANSOM_OK)
    })
}

/// Named cursors: persists the acknowledged position atomically and durably (written, fsynced,
/// renamed into place, directory fsynced); reopening with the name resumes after it.
///
/// The first checkpoint of a name also creates `checkpoints/<name>.known` beside
/// `<name>.ckpt`. A `.ckpt` deleted while its `.known` is there is TRANSOM_ERR_CORRUPT at the
/// next open of the name (naming the file), not a new cursor: a lost checkpoint never restarts
/// a consumer from its start position silently. Delete both files to reset the cursor on
/// purpose.
///
/// After the canal's store was closed (or freed), checkpoints — like acks — return
/// TRANSOM_ERR_CLOSED: an old handle never writes to the directory again, so it can never
/// overwrite the checkpoint of a store opened on it since. Stop workers (which checkpoint at
/// exit) before closing their store.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_checkpoint(canal: *mut transom_canal) -> transom_status {
    guard(|| {
        handle!(canal)?.with(|c| Ok(c.checkpoint()?))?;
        Ok(TRANSOM_OK)
    })
}

/// Cursors: moves the read position back to the first unacknowledged event, so the next pull
/// delivers it again.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_rewind(canal: *mut transom_canal) -> transom_status {
    guard(|| {
        handle!(canal)?.with(|c| Ok(c.rewind()?))?;
        Ok(TRANSOM_OK)
    })
}

/// Releases the canal handle (NULL is accepted), closing the canal if it is open. A named
/// cursor's unsaved acknowledgements are not checkpointed: call transom_canal_checkpoint
/// first. A canal keeps its closed store's events readable (in memory) until it is freed.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_free(canal: *mut transom_canal) {
    // SAFETY: a non-NULL canal comes from transom_canal_open_* and is freed once (the C contract).
    unsafe { transom_canal::free(canal) }
}

fn worker_options(options: *const transom_worker_options) -> Result<WorkerOptions, Failure> {
    let mut opts = WorkerOptions::default();
    if let Some(options) = args::optional(options) {
        if options.max_batch != 0 {
            opts.max_batch = options.max_batch;
        }
        opts.checkpoint_every = options.checkpoint_every;
        opts.checkpoint_on_exit = !options.no_checkpoint_on_exit;
    }
    Ok(opts)
}

/// Starts a worker thread that pulls batches from `canal` and calls `callback` with each
/// (`options` may be NULL for the defaults). The callback may run before this function
/// returns. On success the worker owns the canal: the canal handle stays valid but has no canal
/// any more (its calls return TRANSOM_ERR_CLOSED; transom_canal_close does nothing) and must
/// still be released with transom_canal_free. On failure the canal stays in the handle, and the
/// callback's drop has run. The worker ends when stopped, when the callback says so, or when
/// the canal closes (its store closed). TRANSOM_ERR_CLOSED for a canal closed with
/// transom_canal_close. This call must not race other calls on the canal.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_spawn_worker(
    canal: *mut transom_canal,
    callback: transom_batch_callback,
    options: *const transom_worker_options,
    out_worker: *mut *mut transom_worker,
) -> transom_status {
    guard(move || {
        // Taken first, so that every refusal below runs its drop exactly once.
        let cb = closure!(callback)?;
        let c = handle!(canal)?;
        let out = out!(out_worker)?;
        let opts = worker_options(options)?;
        let mut state = c.state.lock();
        if state.as_ref().is_some_and(|o| o.canal.is_closed()) {
            return Err(CanalError::Closed.into());
        }
        let Open { canal, store } = state.take().ok_or(MOVED)?;
        // The descriptor stays with the handle (which answers CLOSED from now on).
        let fd = canal.take_fd();
        let mut scratch = Scratch(Vec::new());
        let call = move |batch: &[Item]| {
            let views = scratch.fill(batch);
            // SAFETY: the C callback promised to accept (ctx, items, count); the views and the
            // events they point to (held by the worker's canal) live across the call.
            let answer = unsafe { (cb.call())(cb.ctx(), views.as_ptr(), views.len()) };
            verdict(answer)
        };
        match spawn_worker(canal, opts, call) {
            Ok(worker) => {
                c.moved.store(true, Ordering::SeqCst);
                if let Some(mut fd) = fd {
                    fd.set(true);
                    *c.moved_fd.lock() = Some(fd);
                }
                spawned(worker, store, out);
                Ok(TRANSOM_OK)
            }
            Err(e) => {
                if let Some(fd) = fd {
                    e.canal.restore_fd(fd);
                }
                *state = Some(Open {
                    canal: *e.canal,
                    store,
                });
                Err(e.error.into())
            }
        }
    })
}

fn verdict(answer: transom_worker_verdict) -> WorkerAction {
    match answer {
        TRANSOM_WORKER_CONTINUE => WorkerAction::Continue,
        TRANSOM_WORKER_STOP => WorkerAction::Stop,
        _ => WorkerAction::StopAndRollback,
    }
}

fn spawned(worker: Worker, store: Option<Arc<Store>>, out: Out<'_, *mut transom_worker>) {
    transom_worker {
        worker,
        _store: store,
    }
    .publish(out);
}

fn exit_code(e: WorkerExit) -> transom_worker_exit {
    match e {
        WorkerExit::Stopped => TRANSOM_WORKER_EXIT_STOPPED,
        WorkerExit::CallbackStopped => TRANSOM_WORKER_EXIT_CALLBACK_STOPPED,
        WorkerExit::Closed => TRANSOM_WORKER_EXIT_CLOSED,
    }
}

/// The body of transom_worker_join and _stop_and_join.
fn join(
    worker: *const transom_worker,
    timeout_ns: u64,
    out_exit: *mut transom_worker_exit,
    join: impl FnOnce(&Worker, Option<std::time::Duration>) -> Result<Option<WorkerResult>, JoinError>,
) -> transom_status {
    guard(|| {
        let w = handle!(worker)?;
        let out = Out::optional(out_exit);
        match join(&w.worker, args::timeout(timeout_ns)) {
            Ok(Some(Ok(exit))) => {
                if let Some(out) = out {
                    out.write(exit_code(exit));
                }
                Ok(TRANSOM_OK)
            }
            Ok(Some(Err(WorkerError::Panic { message }))) => Err(Failure::new(
                TRANSOM_ERR_PANIC,
                format!("the batch callback panicked: {message}"),
            )),
            Ok(Some(Err(WorkerError::Checkpoint(e) | WorkerError::Canal(e)))) => Err(e.into()),
            Ok(None) => Ok(TRANSOM_TIMEOUT),
            Err(JoinError::FromWorkerThread) => Err(Failure::fixed(
                TRANSOM_ERR_WRONG_STATE,
                "join called from the worker's own callback: call transom_worker_stop there",
            )),
        }
    })
}

/// Writes the worker's pollable descriptor to `*out_fd`: readable once the worker has ended
/// (transom_worker_join would not wait), and from then on.
///
/// Level-triggered: the descriptor (a Linux eventfd, non-blocking and close-on-exec) is
/// readable exactly while the blocking call named above would return at once, and stops being
/// readable as soon as a call has taken what made it readable: there is no spurious readiness
/// after a draining call, so an event loop can wait on it with poll, select or epoll, call
/// the non-blocking form (timeout 0) when it is readable, and go back to waiting (with
/// EPOLLET, call until it returns TRANSOM_TIMEOUT before waiting again). Only wait on it: never read, write or close it yourself. It is created
/// on the first call (a handle that never asks has none; later calls return the same number),
/// belongs to the handle and is closed by its _free: remove it from an epoll set before the
/// _free, or hold a dup() of it, which then reports readable for good. No thread, no polling:
/// a loop waiting on idle descriptors uses no CPU. `*out_fd` is written on TRANSOM_OK only;
/// TRANSOM_ERR_IO (or TRANSOM_ERR_UNSUPPORTED off Linux) when the OS refused a descriptor.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_fd(
    worker: *const transom_worker,
    out_fd: *mut c_int,
) -> transom_status {
    guard(|| {
        let w = handle!(worker)?;
        let out = out!(out_fd)?;
        out.write(w.worker.fd().map_err(super::status::descriptor_failure)?);
        Ok(TRANSOM_OK)
    })
}

/// Asks the worker to stop, without waiting: a blocked pull wakes; a batch already pulled is
/// still handed to the callback. Safe from any thread, the callback included.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_stop(worker: *const transom_worker) -> transom_status {
    guard(|| {
        handle!(worker)?.worker.stop();
        Ok(TRANSOM_OK)
    })
}

/// Waits up to `timeout_ns` (0: do not wait; UINT64_MAX: no limit) for the worker to end.
/// TRANSOM_OK when it ended normally, with `*out_exit` (may be NULL) = TRANSOM_WORKER_EXIT_*;
/// its terminal error otherwise (e.g. TRANSOM_ERR_IO for a failed checkpoint,
/// TRANSOM_ERR_DISCONNECTED); TRANSOM_TIMEOUT while it runs; TRANSOM_ERR_WRONG_STATE from
/// inside its own callback. Repeated joins return the same result. `*out_exit` is written on
/// TRANSOM_OK only.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_join(
    worker: *const transom_worker,
    timeout_ns: u64,
    out_exit: *mut transom_worker_exit,
) -> transom_status {
    join(worker, timeout_ns, out_exit, Worker::join)
}

/// transom_worker_stop then transom_worker_join.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_stop_and_join(
    worker: *const transom_worker,
    timeout_ns: u64,
    out_exit: *mut transom_worker_exit,
) -> transom_status {
    join(worker, timeout_ns, out_exit, Worker::stop_and_join)
}

/// Stops the worker, waits for its thread to end (its callback's drop has then run), and frees
/// it with its canal (NULL is accepted). From inside the worker's own callback it stops it and
/// returns at once; the thread then ends after the callback returns.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_free(worker: *mut transom_worker) {
    // SAFETY: a non-NULL worker comes from transom_canal_spawn_worker and is freed once.
    unsafe { transom_worker::free(worker) }
}
