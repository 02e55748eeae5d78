//! C ABI of canals (cursors and subscriptions over a store) and their workers.
//!
//! Invariant: only conversion, checks and ownership here. Pulled items point into events the
//! canal keeps until its next pull, so nothing is copied on the hot path.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::actor::timeout;
use super::closure::Closure;
use super::status::{
    free_handle, guard, transom_status, Failure, TRANSOM_ERR_PANIC, TRANSOM_ERR_WRONG_STATE,
    TRANSOM_INTERRUPTED, TRANSOM_OK, TRANSOM_TIMEOUT,
};
use super::store::{event_view, store_ref_arc, transom_event, transom_store};
use crate::canal::{
    spawn_worker, Canal, CursorOptions, Delivery, Filter, Interrupter, Item, JoinError, Overflow,
    Pulled, Start, SubscriptionOptions, Worker, WorkerAction, WorkerError, WorkerExit,
    WorkerOptions,
};
use crate::store::Store;

/// Cursor start: at sequence 1 (every event).
pub const TRANSOM_START_BEGIN: u32 = 0;
/// Cursor start: after the head at open (only later events).
pub const TRANSOM_START_END: u32 = 1;
/// Cursor start: at `start_sequence` (inclusive, at least 1).
pub const TRANSOM_START_AT: u32 = 2;
/// Cursor start: after the named checkpoint `name` (at BEGIN if it has none yet).
pub const TRANSOM_START_NAMED: u32 = 3;

/// Subscription overflow: drop the oldest buffered event (reported as a gap).
pub const TRANSOM_OVERFLOW_DROP_OLDEST: u32 = 0;
/// Subscription overflow: drop the incoming event (reported as a gap).
pub const TRANSOM_OVERFLOW_DROP_NEWEST: u32 = 1;
/// Subscription overflow: close the subscription (after its buffered items) with
/// TRANSOM_ERR_DISCONNECTED.
pub const TRANSOM_OVERFLOW_DISCONNECT: u32 = 2;

/// Item kind: an event.
pub const TRANSOM_ITEM_EVENT: i32 = 0;
/// Item kind: events dropped by a subscription's overflow policy at this position.
pub const TRANSOM_ITEM_GAP: i32 = 1;

/// Batch callback answer: the batch is handled; ack it (cursors) and continue.
pub const TRANSOM_WORKER_CONTINUE: i32 = 0;
/// Batch callback answer: the batch is handled; ack it (cursors) and stop.
pub const TRANSOM_WORKER_STOP: i32 = 1;
/// Batch callback answer: the batch is not handled; do not ack it, rewind and stop (any other
/// value means the same).
pub const TRANSOM_WORKER_STOP_AND_ROLLBACK: i32 = 2;

/// Worker exit: transom_worker_stop was called.
pub const TRANSOM_WORKER_EXIT_STOPPED: i32 = 0;
/// Worker exit: the callback returned STOP or STOP_AND_ROLLBACK.
pub const TRANSOM_WORKER_EXIT_CALLBACK_STOPPED: i32 = 1;
/// Worker exit: the canal closed (its store closed) after everything was delivered.
pub const TRANSOM_WORKER_EXIT_CLOSED: i32 = 2;

/// A consumer of a store's events: a cursor or a subscription.
///
/// Thread safety: one thread at a time (a pull's items belong to the handle until the next
/// pull); transom_canal_interrupt may be called from any thread at any time.
pub struct transom_canal {
    canal: Canal,
    interrupter: Interrupter,
    /// The canal reads its store through a weak reference; the handle keeps the store readable
    /// after transom_store_close so that pulls hand out every committed event before CLOSED.
    /// (A closed store holds no lock and no file open for writing: only memory.)
    store: Arc<Store>,
}

/// A thread pulling batches from a canal and handing them to a callback.
///
/// Thread safety: every function may be called from any thread, except transom_worker_free,
/// which must not race other calls on the same handle.
pub struct transom_worker {
    worker: Worker,
    /// See `transom_canal::store`: the worker drains a closed store before it ends.
    _store: Arc<Store>,
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
    pub start: u32,
    /// The first sequence with TRANSOM_START_AT.
    pub start_sequence: u64,
    /// The checkpoint name with TRANSOM_START_NAMED: 1..=240 bytes of [A-Za-z0-9._-] (so that its files fit the 255-byte file-name limit).
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
    pub overflow: u32,
}

/// One pulled item. For TRANSOM_ITEM_EVENT, `event` describes it (its pointers stay valid until
/// the next pull on the canal or its free). For TRANSOM_ITEM_GAP, `gap_count` events with
/// sequences in `gap_from..=gap_to` were dropped here by the overflow policy.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_item {
    /// TRANSOM_ITEM_EVENT or TRANSOM_ITEM_GAP.
    pub kind: i32,
    /// The event (zeroed for a gap).
    pub event: transom_event,
    /// First dropped sequence (gaps).
    pub gap_from: u64,
    /// Last dropped sequence (gaps).
    pub gap_to: u64,
    /// Number of dropped events (gaps).
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
        unsafe extern "C" fn(ctx: *mut c_void, items: *const transom_item, count: usize) -> i32,
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
    /// Non-zero: do not checkpoint when the worker ends (by default a named cursor
    /// checkpoints what it acknowledged since the last checkpoint).
    pub no_checkpoint_on_exit: u32,
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

type BatchFn = unsafe extern "C" fn(*mut c_void, *const transom_item, usize) -> i32;

fn item(d: &Item) -> transom_item {
    match d {
        Delivery::Event { value, .. } => transom_item {
            kind: TRANSOM_ITEM_EVENT,
            event: event_view(value),
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

fn filter_arg(f: &transom_filter) -> Result<Filter, Failure> {
    let mut filter = Filter::all();
    if f.stream_prefix_len > 0 || !f.stream_prefix.is_null() {
        let prefix = super::actor::bytes(
            f.stream_prefix.cast(),
            f.stream_prefix_len,
            "filter.stream_prefix",
        )?;
        filter = filter.with_stream_prefix(prefix)?;
    }
    if f.kind_count > 0 {
        if f.kinds.is_null() {
            return Err(Failure::null("filter.kinds"));
        }
        // SAFETY: non-NULL and the caller promises kind_count readable entries.
        let kinds = unsafe { std::slice::from_raw_parts(f.kinds, f.kind_count) };
        filter = filter.with_kinds(kinds.iter().copied());
    }
    Ok(filter)
}

fn out<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller promises a non-NULL output pointer is writable.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::null(name))
}

fn canal_mut<'a>(c: *mut transom_canal) -> Result<&'a mut transom_canal, Failure> {
    // SAFETY: non-NULL handles come from transom_canal_open_*, used by one thread at a time.
    unsafe { c.as_mut() }.ok_or_else(|| Failure::null("canal"))
}

fn worker_ref<'a>(w: *const transom_worker) -> Result<&'a Worker, Failure> {
    // SAFETY: non-NULL handles come from transom_canal_spawn_worker, valid until freed.
    unsafe { w.as_ref() }
        .map(|w| &w.worker)
        .ok_or_else(|| Failure::null("worker"))
}

fn new_canal(canal: Canal, store: Arc<Store>, o: &mut *mut transom_canal) {
    let interrupter = canal.interrupter();
    *o = Box::into_raw(Box::new(transom_canal {
        canal,
        interrupter,
        store,
    }));
}

/// Opens a cursor on `store`: ordered, at-least-once delivery of the events that match the
/// filter, from the chosen start; `transom_canal_ack` moves its acknowledged position and
/// `transom_canal_checkpoint` persists it for a named cursor. A damaged checkpoint file gives
/// TRANSOM_ERR_CORRUPT (never a silent restart). `*out_canal` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_open_cursor(
    store: *const transom_store,
    options: *const transom_cursor_options,
    out_canal: *mut *mut transom_canal,
) -> transom_status {
    guard(|| {
        let s = store_ref_arc(store)?;
        // SAFETY: the caller promises a non-NULL options pointer is readable.
        let o = *unsafe { options.as_ref() }.ok_or_else(|| Failure::null("options"))?;
        let out_c = out(out_canal, "out_canal")?;
        let start = match o.start {
            TRANSOM_START_BEGIN => Start::Begin,
            TRANSOM_START_END => Start::End,
            TRANSOM_START_AT => Start::At(o.start_sequence),
            TRANSOM_START_NAMED => {
                if o.name.is_null() {
                    return Err(Failure::null("options->name"));
                }
                let name = super::actor::bytes(o.name.cast(), o.name_len, "options->name")?;
                let name = std::str::from_utf8(name)
                    .map_err(|_| Failure::invalid("options->name is not valid UTF-8"))?;
                Start::Named(name.to_owned())
            }
            _ => {
                return Err(Failure::invalid(
                    "options->start is not a TRANSOM_START_* value",
                ))
            }
        };
        let canal = Canal::cursor(
            &s,
            CursorOptions::new(start).with_filter(filter_arg(&o.filter)?),
        )?;
        new_canal(canal, s, out_c);
        Ok(TRANSOM_OK)
    })
}

/// Opens a subscription on `store`: events committed from now on that match the filter, pushed
/// into a bounded buffer; drops under the overflow policy are reported in-band as
/// TRANSOM_ITEM_GAP items. `*out_canal` is written only on success.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_open_subscription(
    store: *const transom_store,
    options: *const transom_subscription_options,
    out_canal: *mut *mut transom_canal,
) -> transom_status {
    guard(|| {
        let s = store_ref_arc(store)?;
        // SAFETY: the caller promises a non-NULL options pointer is readable.
        let o = *unsafe { options.as_ref() }.ok_or_else(|| Failure::null("options"))?;
        let out_c = out(out_canal, "out_canal")?;
        let overflow = match o.overflow {
            TRANSOM_OVERFLOW_DROP_OLDEST => Overflow::DropOldest,
            TRANSOM_OVERFLOW_DROP_NEWEST => Overflow::DropNewest,
            TRANSOM_OVERFLOW_DISCONNECT => Overflow::Disconnect,
            _ => {
                return Err(Failure::invalid(
                    "options->overflow is not a TRANSOM_OVERFLOW_* value",
                ))
            }
        };
        let opts =
            SubscriptionOptions::new(o.capacity, overflow).with_filter(filter_arg(&o.filter)?);
        let canal = Canal::subscription(&s, opts)?;
        new_canal(canal, s, out_c);
        Ok(TRANSOM_OK)
    })
}

/// Pulls up to `max` items into `items` (an array of at least `max` entries; `*out_count` gets
/// how many). Returns as soon as at least one item is ready; TRANSOM_TIMEOUT after `timeout_ns`
/// (UINT64_MAX: no limit) with none; TRANSOM_INTERRUPTED when transom_canal_interrupt woke it
/// with none; TRANSOM_ERR_CLOSED (or TRANSOM_ERR_DISCONNECTED) only after every buffered item
/// was handed out. Waiting parks the thread: an idle pull uses no CPU. The items' pointers stay
/// valid until the next pull on this canal or its free. `max` 0 is TRANSOM_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_pull_batch(
    canal: *mut transom_canal,
    max: usize,
    timeout_ns: u64,
    items: *mut transom_item,
    out_count: *mut usize,
) -> transom_status {
    guard(|| {
        let c = canal_mut(canal)?;
        let n = out(out_count, "out_count")?;
        if items.is_null() {
            return Err(Failure::null("items"));
        }
        *n = 0;
        let wait = if timeout_ns == u64::MAX {
            None
        } else {
            Some(timeout(timeout_ns))
        };
        match c.canal.pull_batch(max, wait)? {
            Pulled::Items(batch) => {
                for (i, d) in batch.iter().enumerate() {
                    // SAFETY: the caller promises `max` writable entries; batch.len() <= max.
                    unsafe { items.add(i).write(item(d)) };
                }
                *n = batch.len();
                Ok(TRANSOM_OK)
            }
            Pulled::TimedOut => Ok(TRANSOM_TIMEOUT),
            Pulled::Interrupted => Ok(TRANSOM_INTERRUPTED),
        }
    })
}

/// Wakes a pull blocked on this canal (or the next one, if none is blocked) with
/// TRANSOM_INTERRUPTED. Safe from any thread at any time.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_interrupt(canal: *const transom_canal) -> transom_status {
    guard(|| {
        // SAFETY: non-NULL handles come from transom_canal_open_*; interrupting only reads.
        let c = unsafe { canal.as_ref() }.ok_or_else(|| Failure::null("canal"))?;
        c.interrupter.interrupt();
        Ok(TRANSOM_OK)
    })
}

/// Cursors: acknowledges every delivered event up to `sequence` (at least the current
/// acknowledged position, at most the last delivered sequence). TRANSOM_ERR_INVALID_ARGUMENT
/// otherwise, and for subscriptions.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_ack(
    canal: *mut transom_canal,
    sequence: u64,
) -> transom_status {
    guard(|| {
        canal_mut(canal)?.canal.ack(sequence)?;
        Ok(TRANSOM_OK)
    })
}

/// Named cursors: persists the acknowledged position atomically and durably (written, fsynced,
/// renamed into place, directory fsynced); reopening with the name resumes after it.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_checkpoint(canal: *mut transom_canal) -> transom_status {
    guard(|| {
        canal_mut(canal)?.canal.checkpoint()?;
        Ok(TRANSOM_OK)
    })
}

/// Cursors: moves the read position back to the first unacknowledged event, so the next pull
/// delivers it again.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_rewind(canal: *mut transom_canal) -> transom_status {
    guard(|| {
        canal_mut(canal)?.canal.rewind()?;
        Ok(TRANSOM_OK)
    })
}

/// Frees the canal (NULL is accepted). A named cursor's unsaved acknowledgements are not
/// checkpointed: call transom_canal_checkpoint first. A canal keeps its closed store's events
/// readable (in memory) until it is freed.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_free(canal: *mut transom_canal) {
    // SAFETY: a non-NULL canal comes from transom_canal_open_* and is freed once (the C contract).
    unsafe { free_handle(canal) }
}

/// Starts a worker thread that pulls batches from `canal` and calls `callback` with each. On
/// success the worker owns the canal and the canal handle is freed: do not use it again. On
/// failure the canal handle stays yours and the callback's drop has run. The worker ends when
/// stopped, when the callback says so, or when the canal closes (its store closed).
#[no_mangle]
pub unsafe extern "C" fn transom_canal_spawn_worker(
    canal: *mut transom_canal,
    callback: transom_batch_callback,
    options: *const transom_worker_options,
    out_worker: *mut *mut transom_worker,
) -> transom_status {
    let cb = Closure::new(callback.ctx, callback.call, callback.drop).try_map(|f| f);
    guard(move || {
        let cb: Closure<BatchFn> = cb.ok_or_else(|| Failure::null("callback.call"))?;
        if canal.is_null() {
            return Err(Failure::null("canal"));
        }
        let o = out(out_worker, "out_worker")?;
        let mut opts = WorkerOptions::default();
        // SAFETY: the caller promises a non-NULL options pointer is readable.
        if let Some(wo) = unsafe { options.as_ref() } {
            if wo.max_batch != 0 {
                opts.max_batch = wo.max_batch;
            }
            opts.checkpoint_every = wo.checkpoint_every;
            opts.checkpoint_on_exit = wo.no_checkpoint_on_exit == 0;
        }
        // SAFETY: a non-NULL canal comes from transom_canal_open_* and is not used by anyone
        // else during this call. Its value is moved out bitwise; the allocation stays, and is
        // either freed without dropping (success) or refilled with the canal (failure).
        let transom_canal {
            canal: inner,
            interrupter,
            store,
        } = unsafe { std::ptr::read(canal) };
        let mut scratch = Scratch(Vec::new());
        let call = move |batch: &[Item]| {
            let views = scratch.fill(batch);
            // SAFETY: the C callback promised to accept (ctx, items, count); the views and the
            // events they point to (held by the worker's canal) live across the call.
            let answer = unsafe { (cb.call())(cb.ctx(), views.as_ptr(), views.len()) };
            match answer {
                TRANSOM_WORKER_CONTINUE => WorkerAction::Continue,
                TRANSOM_WORKER_STOP => WorkerAction::Stop,
                _ => WorkerAction::StopAndRollback,
            }
        };
        match spawn_worker(inner, opts, call) {
            Ok(worker) => {
                // SAFETY: the allocation came from Box<transom_canal>; ManuallyDrop has the
                // same layout and frees it without dropping the moved-out value.
                drop(unsafe {
                    Box::from_raw(canal.cast::<std::mem::ManuallyDrop<transom_canal>>())
                });
                *o = Box::into_raw(Box::new(transom_worker {
                    worker,
                    _store: store,
                }));
                Ok(TRANSOM_OK)
            }
            Err(e) => {
                // SAFETY: the allocation is still the caller's handle; its old value was moved
                // out above, so writing (without dropping) restores it.
                unsafe {
                    std::ptr::write(
                        canal,
                        transom_canal {
                            canal: *e.canal,
                            interrupter,
                            store,
                        },
                    )
                };
                Err(e.error.into())
            }
        }
    })
}

fn exit_code(e: WorkerExit) -> i32 {
    match e {
        WorkerExit::Stopped => TRANSOM_WORKER_EXIT_STOPPED,
        WorkerExit::CallbackStopped => TRANSOM_WORKER_EXIT_CALLBACK_STOPPED,
        WorkerExit::Closed => TRANSOM_WORKER_EXIT_CLOSED,
    }
}

fn join_result(
    r: Result<crate::canal::WorkerResult, JoinError>,
    out_exit: *mut i32,
) -> Result<transom_status, Failure> {
    match r {
        Ok(Ok(exit)) => {
            // SAFETY: the caller promises a non-NULL out_exit is writable.
            if let Some(o) = unsafe { out_exit.as_mut() } {
                *o = exit_code(exit);
            }
            Ok(TRANSOM_OK)
        }
        Ok(Err(WorkerError::Panic { message })) => Err(Failure::new(
            TRANSOM_ERR_PANIC,
            format!("the batch callback panicked: {message}"),
        )),
        Ok(Err(WorkerError::Checkpoint(e))) | Ok(Err(WorkerError::Canal(e))) => Err(e.into()),
        Err(JoinError::Timeout) => Ok(TRANSOM_TIMEOUT),
        Err(JoinError::FromWorkerThread) => Err(Failure::new(
            TRANSOM_ERR_WRONG_STATE,
            "join called from the worker's own callback: call transom_worker_stop there",
        )),
    }
}

/// Asks the worker to stop, without waiting: a blocked pull wakes; a batch already pulled is
/// still handed to the callback. Safe from any thread, the callback included.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_stop(worker: *const transom_worker) -> transom_status {
    guard(|| {
        worker_ref(worker)?.stop();
        Ok(TRANSOM_OK)
    })
}

/// Waits up to `timeout_ns` (UINT64_MAX: no limit) for the worker to end. TRANSOM_OK when it
/// ended normally, with `*out_exit` (may be NULL) = TRANSOM_WORKER_EXIT_*; its terminal error
/// otherwise (e.g. TRANSOM_ERR_IO for a failed checkpoint, TRANSOM_ERR_DISCONNECTED);
/// TRANSOM_TIMEOUT while it runs; TRANSOM_ERR_WRONG_STATE from inside its own callback.
/// Repeated joins return the same result.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_join(
    worker: *const transom_worker,
    timeout_ns: u64,
    out_exit: *mut i32,
) -> transom_status {
    guard(|| {
        let w = worker_ref(worker)?;
        let wait = if timeout_ns == u64::MAX {
            None
        } else {
            Some(timeout(timeout_ns))
        };
        join_result(w.join(wait), out_exit)
    })
}

/// transom_worker_stop then transom_worker_join.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_stop_and_join(
    worker: *const transom_worker,
    timeout_ns: u64,
    out_exit: *mut i32,
) -> transom_status {
    guard(|| {
        let w = worker_ref(worker)?;
        let wait = if timeout_ns == u64::MAX {
            None
        } else {
            Some(timeout(timeout_ns))
        };
        join_result(w.stop_and_join(wait), out_exit)
    })
}

/// Stops the worker, waits for its thread to end (its callback's drop has then run), and frees
/// it with its canal (NULL is accepted). From inside the worker's own callback it stops it and
/// returns at once; the thread then ends after the callback returns.
#[no_mangle]
pub unsafe extern "C" fn transom_worker_free(worker: *mut transom_worker) {
    if worker.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: a non-NULL worker comes from transom_canal_spawn_worker, freed once.
        let w = unsafe { Box::from_raw(worker) };
        let _ = w.worker.stop_and_join(None);
        drop(w);
        Ok(TRANSOM_OK)
    });
}
