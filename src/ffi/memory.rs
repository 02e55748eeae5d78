//! C ABI of the slot memory managers: one opaque `transom_manager` over the three kinds.
//!
//! Invariant: these functions only check and convert arguments; every behaviour is the Rust
//! API's (`crate::memory`), so C and Rust callers get the same results for the same calls. No
//! failure path here allocates (details are fixed texts or `MemoryError`s formatted into the
//! thread's fixed buffer), so a STATIC manager never allocates after creation, also when a
//! call fails (`tests/memory_alloc.rs` and `c-tests/memory_alloc.c` count).

use std::ffi::c_void;

use super::args;
use super::args::{array_out, bytes, handle, input, out, Handle};
use super::status::{
    guard, transom_status, Failure, TRANSOM_ERR_INVALID_ARGUMENT, TRANSOM_ERR_UNSUPPORTED,
    TRANSOM_OK, TRANSOM_TIMEOUT,
};
use crate::memory::{
    self, ConcurrentManager, HeaderFlags, HeapManager, MemoryClass, MemoryClassRaw, MemoryError,
    MemoryKind, Qos, SlotManager, StaticManager, Stats,
};
use crate::memory::{Header, Token};

/// A manager kind: one of the `TRANSOM_MANAGER_*` constants.
pub type transom_manager_kind = u32;

/// Manager kind: single-threaded, over caller-provided storage; never allocates after creation
/// (failing calls included).
pub const TRANSOM_MANAGER_STATIC: transom_manager_kind = 1;
/// Manager kind: single-threaded, storage allocated by the library at creation; never allocates
/// after creation.
pub const TRANSOM_MANAGER_HEAP: transom_manager_kind = 2;
/// Manager kind: every operation safe from any thread, lock-free, never blocking — except
/// transom_manager_store_wait and transom_manager_reserve_wait, which wait for a free slot.
pub const TRANSOM_MANAGER_CONCURRENT: transom_manager_kind = 3;

/// The largest capacity (number of slots) of a manager: 2^24 - 1 (a token's slot index has 24
/// bits).
pub const TRANSOM_MANAGER_MAX_CAPACITY: usize = 16_777_215;
/// The largest slot size (payload bytes per slot) of a manager: 2^32 - 65 (a header's
/// `payload_len` is 32 bits and a slot keeps 64 bytes of bookkeeping and header).
pub const TRANSOM_MANAGER_MAX_SLOT_SIZE: usize = 4_294_967_231;
const _: () = assert!(TRANSOM_MANAGER_MAX_CAPACITY == memory::MAX_CAPACITY);
const _: () = assert!(TRANSOM_MANAGER_MAX_SLOT_SIZE == memory::MAX_SLOT_SIZE);

/// Memory class kind: ordinary host memory.
pub const TRANSOM_MEMORY_HOST: MemoryKind = 0;
/// Memory class kind: page-locked host memory.
pub const TRANSOM_MEMORY_PINNED_HOST: MemoryKind = 1;
/// Memory class kind: device memory; `device` holds the device number (0..=255).
pub const TRANSOM_MEMORY_DEVICE: MemoryKind = 2;
/// Memory class kind: memory shared between devices or processes.
pub const TRANSOM_MEMORY_SHARED: MemoryKind = 3;

/// Header qos: background.
pub const TRANSOM_QOS_BACKGROUND: Qos = 1;
/// Header qos: best effort (the default; qos 0 is stored as this).
pub const TRANSOM_QOS_BEST_EFFORT: Qos = 2;
/// Header qos: latency-critical.
pub const TRANSOM_QOS_LATENCY_CRITICAL: Qos = 3;
/// Header flag: first message of a batch.
pub const TRANSOM_FLAG_FIRST_IN_BATCH: HeaderFlags = 1;
/// Header flag: last message of a batch.
pub const TRANSOM_FLAG_LAST_IN_BATCH: HeaderFlags = 2;
/// Header flag: the consumer may degrade this message under load.
pub const TRANSOM_FLAG_DEGRADE_ALLOWED: HeaderFlags = 4;
/// sizeof(transom_header), fixed by the ABI.
pub const TRANSOM_HEADER_SIZE: usize = 48;

/// A slot memory manager: a fixed number of slots, each holding one message (a
/// `transom_header` + up to `slot_size` payload bytes), addressed by `transom_token`s.
///
/// Tokens: a `transom_token` is `{key, slot}`: `key` is this manager's key (from a process-wide
/// counter starting at 1: no two managers of a process, alive or freed, share one, and `{0, 0}`
/// is never live), `slot` the slot index (upper 24 bits) and the slot's generation (lower 40
/// bits). A token is refused with TRANSOM_ERR_BAD_TOKEN when it is another manager's, forged
/// or out of range, and with TRANSOM_ERR_STALE_TOKEN once its message was freed; no token is
/// ever issued twice. Every free bumps the slot's generation; a slot that has held 2^40
/// (about 1.1e12) messages is retired when the last one is freed: it still counts in the
/// capacity but is never available again (transom_memory_stats.retired counts them). Free slots
/// are reused last-in first-out, so a loop that stores and frees one message at a time reuses
/// one slot: at 10^8 store+free pairs per second it retires that slot after about 3 hours and
/// goes on with the next one (a manager of N slots lasts N times as long); at 10^6 per second
/// a slot lasts 12 days.
///
/// Limits: capacity up to TRANSOM_MANAGER_MAX_CAPACITY slots, slot size up to
/// TRANSOM_MANAGER_MAX_SLOT_SIZE bytes, up to 2^21 - 1 read views of one slot at once.
///
/// Every function but transom_manager_free takes a `const transom_manager *`: calls never change
/// the handle's ownership or lifetime, but they do change its slots, so `const` here does not
/// mean "safe to share": a STATIC or HEAP manager must not be used by two threads at once.
///
/// Thread safety: a CONCURRENT manager may be used from any number of threads at once; a STATIC
/// or HEAP manager by one thread at a time (it may move between threads, and views and tokens
/// with it).
pub struct transom_manager {
    kind: Kind,
}

impl Handle for transom_manager {}

enum Kind {
    Static(StaticManager<'static>),
    Heap(HeapManager),
    Concurrent(ConcurrentManager),
}

/// How to create a manager (`transom_manager_new`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_manager_config {
    /// `TRANSOM_MANAGER_STATIC`, `_HEAP` or `_CONCURRENT`.
    pub kind: transom_manager_kind,
    /// Number of slots, 0..=TRANSOM_MANAGER_MAX_CAPACITY. 0 is legal: every store fails with
    /// NO_FREE_SLOTS.
    pub capacity: usize,
    /// Largest payload in bytes, 0..=TRANSOM_MANAGER_MAX_SLOT_SIZE.
    pub slot_size: usize,
    /// Stamped into every stored header.
    pub memory_class: MemoryClassRaw,
    /// STATIC only: caller storage of at least `transom_manager_required_bytes(capacity,
    /// slot_size)` bytes, any alignment, kept alive and untouched until transom_manager_free.
    /// May be NULL only when capacity is 0 (else TRANSOM_ERR_INVALID_ARGUMENT). Must be NULL for
    /// the other kinds.
    pub storage: *mut c_void,
    /// STATIC only: the size of `storage` in bytes; 0 for the other kinds.
    pub storage_len: usize,
}

/// A read view (`transom_manager_read`): valid until `transom_manager_release` with its token.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_read_view {
    /// The stored header.
    pub header: *const Header,
    /// The payload bytes.
    pub payload: *const u8,
    /// The payload length.
    pub len: usize,
}

/// The write view (`transom_manager_write`): valid until `transom_manager_release` with its
/// token. The header's caller fields and `qos`/`flags` may be edited; to change the payload
/// length write `header->payload_len` (at most `capacity`). The release checks the header.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_write_view {
    /// The stored header.
    pub header: *mut Header,
    /// The payload buffer, `capacity` bytes.
    pub payload: *mut u8,
    /// The payload length when the view was taken.
    pub len: usize,
    /// The slot size.
    pub capacity: usize,
}

impl transom_manager {
    /// Runs `f` on the kind's slot manager.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(Slots<'_>) -> R) -> R {
        match &self.kind {
            Kind::Static(m) => f(Slots::Single(m)),
            Kind::Heap(m) => f(Slots::Single(m)),
            Kind::Concurrent(m) => f(Slots::Shared(m)),
        }
    }
}

enum Slots<'a> {
    Single(&'a SlotManager<memory::SingleThreaded>),
    Shared(&'a SlotManager<memory::Concurrent>),
}

/// Dispatches one expression over both flavors of slot manager.
macro_rules! on {
    ($m:expr, |$s:ident| $body:expr) => {
        $m.with(|slots| match slots {
            Slots::Single($s) => $body,
            Slots::Shared($s) => $body,
        })
    };
}

/// Fills `*out_header` with the default header: every field zero, qos best-effort.
#[no_mangle]
pub unsafe extern "C" fn transom_header_init(out_header: *mut Header) -> transom_status {
    guard(|| {
        out!(out_header)?.write(Header::new());
        Ok(TRANSOM_OK)
    })
}

/// Writes to `*out_bytes` how many bytes of storage a STATIC manager of `capacity` slots of
/// `slot_size` bytes needs (0 for capacity 0). TRANSOM_ERR_INVALID_ARGUMENT when capacity or
/// slot_size exceeds its maximum or `capacity * slot_size` overflows.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_required_bytes(
    capacity: usize,
    slot_size: usize,
    out_bytes: *mut usize,
) -> transom_status {
    guard(|| {
        let o = out!(out_bytes)?;
        o.write(memory::required_bytes(capacity, slot_size)?);
        Ok(TRANSOM_OK)
    })
}

/// Creates a manager; free it with transom_manager_free. TRANSOM_ERR_INVALID_ARGUMENT for an
/// unknown kind or memory class, a capacity or slot size out of range, STATIC storage that is
/// NULL (with capacity > 0) or too small, or storage given to another kind;
/// TRANSOM_ERR_OUT_OF_MEMORY when HEAP or CONCURRENT storage cannot be allocated.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_new(
    config: *const transom_manager_config,
    out_manager: *mut *mut transom_manager,
) -> transom_status {
    guard(|| {
        let c = *input!(config)?;
        let o = out!(out_manager)?;
        let class = MemoryClass::from_raw(c.memory_class)?;
        let kind = match c.kind {
            // SAFETY: the caller promises storage_len writable bytes at storage that outlive
            // the manager and are used by nothing else (documented on the config); NULL is
            // refused by from_raw.
            TRANSOM_MANAGER_STATIC => Kind::Static(unsafe {
                StaticManager::from_raw(
                    c.storage.cast(),
                    c.storage_len,
                    c.capacity,
                    c.slot_size,
                    class,
                )?
            }),
            TRANSOM_MANAGER_HEAP | TRANSOM_MANAGER_CONCURRENT => {
                if !c.storage.is_null() || c.storage_len != 0 {
                    return Err(Failure::fixed(
                        TRANSOM_ERR_INVALID_ARGUMENT,
                        "config->storage must be NULL and storage_len 0 unless kind is STATIC",
                    ));
                }
                if c.kind == TRANSOM_MANAGER_HEAP {
                    Kind::Heap(HeapManager::new(c.capacity, c.slot_size, class)?)
                } else {
                    Kind::Concurrent(ConcurrentManager::new(c.capacity, c.slot_size, class)?)
                }
            }
            _ => {
                return Err(Failure::fixed(
                    TRANSOM_ERR_INVALID_ARGUMENT,
                    "config->kind is not a TRANSOM_MANAGER_* kind",
                ))
            }
        };
        transom_manager { kind }.publish(o);
        Ok(TRANSOM_OK)
    })
}

/// Destroys a manager (NULL is ignored). Every token and view of it becomes invalid; STATIC
/// storage may be reused once this returns. No other call on the manager may run meanwhile.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_free(manager: *mut transom_manager) {
    // SAFETY: a non-NULL manager comes from transom_manager_new and is freed once (the C contract).
    unsafe { transom_manager::free(manager) }
}

/// Copies `len` payload bytes (NULL allowed when len is 0) into a free slot under `*header`
/// (checked and stamped like the header's documentation says) and writes the token to
/// `*out_token`. TRANSOM_ERR_TOO_LARGE when len exceeds the slot size (checked before any
/// payload byte is read), TRANSOM_ERR_INVALID_ARGUMENT for a qos above 3 or unknown flag bits,
/// TRANSOM_ERR_NO_FREE_SLOTS when no slot is free.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_store(
    manager: *const transom_manager,
    header: *const Header,
    payload: *const u8,
    len: usize,
    out_token: *mut Token,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let h = input!(header)?;
        let o = out!(out_token)?;
        let slot_size = on!(m, |s| s.slot_size());
        let data = bytes!(payload, len, slot_size, |len| {
            Failure::from(MemoryError::TooLarge { len, slot_size })
        })?;
        o.write(on!(m, |s| s.store(h, data))?);
        Ok(TRANSOM_OK)
    })
}

/// Reserves a slot for a `len`-byte payload written in place: `*out_payload` points to `len`
/// writable bytes until transom_manager_commit or transom_manager_abort. The slot is invisible
/// to readers until committed. TRANSOM_ERR_TOO_LARGE when len exceeds the slot size,
/// TRANSOM_ERR_NO_FREE_SLOTS when no slot is free.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_reserve(
    manager: *const transom_manager,
    len: usize,
    out_token: *mut Token,
    out_payload: *mut *mut u8,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let ot = out!(out_token)?;
        let op = out!(out_payload)?;
        let (t, p) = on!(m, |s| s.reserve_raw(len))?;
        ot.write(t);
        op.write(p);
        Ok(TRANSOM_OK)
    })
}

/// The CONCURRENT manager behind `m`, or TRANSOM_ERR_UNSUPPORTED naming `what`: a STATIC or HEAP
/// manager is used by one thread at a time, so no other thread could free the slot a blocking
/// call would wait for.
fn concurrent<'a>(
    m: &'a transom_manager,
    what: &'static str,
) -> Result<&'a ConcurrentManager, Failure> {
    match &m.kind {
        Kind::Concurrent(c) => Ok(c),
        _ => Err(Failure::fixed(TRANSOM_ERR_UNSUPPORTED, what)),
    }
}

/// transom_manager_store that waits up to `timeout_ns` nanoseconds (UINT64_MAX: no limit; 0:
/// do not block) for a free slot instead of returning TRANSOM_ERR_NO_FREE_SLOTS: the thread
/// parks (no CPU) until another thread frees a slot (transom_manager_remove, _take, _abort,
/// _clear), which wakes one waiter. TRANSOM_TIMEOUT when none was freed in time (nothing
/// stored, `*out_token` untouched; counted in transom_memory_stats.failed_allocs). The length
/// and the header are checked before waiting (TRANSOM_ERR_TOO_LARGE,
/// TRANSOM_ERR_INVALID_ARGUMENT). CONCURRENT managers only: a STATIC or HEAP manager gives
/// TRANSOM_ERR_UNSUPPORTED (one thread at a time: nobody could free a slot while it waits).
/// Waiting costs the free path nothing while nobody waits (one load).
#[no_mangle]
pub unsafe extern "C" fn transom_manager_store_wait(
    manager: *const transom_manager,
    header: *const Header,
    payload: *const u8,
    len: usize,
    timeout_ns: u64,
    out_token: *mut Token,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let h = input!(header)?;
        let o = out!(out_token)?;
        let c = concurrent(
            m,
            "transom_manager_store_wait needs a CONCURRENT manager (STATIC and HEAP are for one thread)",
        )?;
        let slot_size = c.slot_size();
        let data = bytes!(payload, len, slot_size, |len| {
            Failure::from(MemoryError::TooLarge { len, slot_size })
        })?;
        match c.store_wait(h, data, args::timeout(timeout_ns))? {
            Some(t) => {
                o.write(t);
                Ok(TRANSOM_OK)
            }
            None => Ok(TRANSOM_TIMEOUT),
        }
    })
}

/// transom_manager_reserve that waits like transom_manager_store_wait (TRANSOM_TIMEOUT when no
/// slot was freed in time: no output written; TRANSOM_ERR_UNSUPPORTED for STATIC and HEAP).
#[no_mangle]
pub unsafe extern "C" fn transom_manager_reserve_wait(
    manager: *const transom_manager,
    len: usize,
    timeout_ns: u64,
    out_token: *mut Token,
    out_payload: *mut *mut u8,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let ot = out!(out_token)?;
        let op = out!(out_payload)?;
        let c = concurrent(
            m,
            "transom_manager_reserve_wait needs a CONCURRENT manager (STATIC and HEAP are for one thread)",
        )?;
        match c.reserve_raw_wait(len, args::timeout(timeout_ns))? {
            Some((t, p)) => {
                ot.write(t);
                op.write(p);
                Ok(TRANSOM_OK)
            }
            None => Ok(TRANSOM_TIMEOUT),
        }
    })
}

/// Publishes a reserved slot under `*header`. TRANSOM_ERR_WRONG_STATE when the token's slot is
/// not reserved (e.g. already committed); on TRANSOM_ERR_INVALID_ARGUMENT (bad header) the slot
/// stays reserved.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_commit(
    manager: *const transom_manager,
    token: Token,
    header: *const Header,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let h = input!(header)?;
        on!(m, |s| s.commit(token, h))?;
        Ok(TRANSOM_OK)
    })
}

/// Gives a reserved slot back unpublished. TRANSOM_ERR_WRONG_STATE when the slot is not
/// reserved.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_abort(
    manager: *const transom_manager,
    token: Token,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        on!(m, |s| s.abort(token))?;
        Ok(TRANSOM_OK)
    })
}

/// Starts a shared read view, valid until transom_manager_release(token). Many may be
/// outstanding (up to 2^21 - 1 per slot); TRANSOM_ERR_BORROWED while a write view exists or
/// when that many are out (never blocks); TRANSOM_ERR_WRONG_STATE for a reserved slot.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_read(
    manager: *const transom_manager,
    token: Token,
    out_view: *mut transom_read_view,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let o = out!(out_view)?;
        let r = on!(m, |s| s.acquire_read(token))?;
        o.write(transom_read_view {
            header: r.header,
            payload: r.payload,
            len: r.len,
        });
        Ok(TRANSOM_OK)
    })
}

/// Starts the exclusive write view, valid until transom_manager_release(token).
/// TRANSOM_ERR_BORROWED while any view exists (never blocks); TRANSOM_ERR_WRONG_STATE for a
/// reserved slot.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_write(
    manager: *const transom_manager,
    token: Token,
    out_view: *mut transom_write_view,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let o = out!(out_view)?;
        let w = on!(m, |s| s.acquire_write(token))?;
        o.write(transom_write_view {
            header: w.header,
            payload: w.payload,
            len: w.len,
            capacity: w.capacity,
        });
        Ok(TRANSOM_OK)
    })
}

/// Ends one view of the token's slot (call once per successful read or write).
/// TRANSOM_ERR_WRONG_STATE when no view exists.
///
/// Ending a write view checks the header like a store does, so an invalid header is never
/// visible: `payload_len` over the slot size gives TRANSOM_ERR_TOO_LARGE, a qos above 3 or
/// unknown flag bits TRANSOM_ERR_INVALID_ARGUMENT; then payload_len, qos and flags revert to
/// their values when the view was taken, and the view still ends (payload bytes and the other
/// caller fields keep their edits). In every case memory_class is re-stamped, the reserved
/// bytes are zeroed and qos 0 is stored as best-effort.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_release(
    manager: *const transom_manager,
    token: Token,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        on!(m, |s| s.release(token))?;
        Ok(TRANSOM_OK)
    })
}

/// Copies the stored header to `*out_header` without touching the payload.
/// TRANSOM_ERR_BAD_TOKEN or TRANSOM_ERR_STALE_TOKEN for a token that names no stored message,
/// TRANSOM_ERR_WRONG_STATE for a reserved (uncommitted) slot, TRANSOM_ERR_BORROWED while a
/// write view of the slot is out (the copy is taken under a read view).
#[no_mangle]
pub unsafe extern "C" fn transom_manager_peek_header(
    manager: *const transom_manager,
    token: Token,
    out_header: *mut Header,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let o = out!(out_header)?;
        o.write(on!(m, |s| s.peek_header(token))?);
        Ok(TRANSOM_OK)
    })
}

/// Frees the token's message (the token and every copy of it become stale).
/// TRANSOM_ERR_BORROWED while a view is outstanding (never blocks); a second free of the same
/// token gives TRANSOM_ERR_STALE_TOKEN.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_remove(
    manager: *const transom_manager,
    token: Token,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        on!(m, |s| s.free(token))?;
        Ok(TRANSOM_OK)
    })
}

/// Copies the payload into `buf` (`cap` bytes; NULL allowed when cap is 0) and frees the slot,
/// in one step; `*out_len` receives the payload length. When cap is too small nothing is freed,
/// TRANSOM_ERR_BUFFER_TOO_SMALL is returned and `*out_len` receives the needed length (the one
/// output written on a failure).
#[no_mangle]
pub unsafe extern "C" fn transom_manager_take(
    manager: *const transom_manager,
    token: Token,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        let o = out!(out_len)?;
        // No payload is longer than the slot size: only that much of `buf` is ever touched.
        let usable = cap.min(on!(m, |s| s.slot_size()));
        let dst = if cap == 0 {
            &mut []
        } else {
            &mut array_out!(buf, usable.max(1))?[..usable]
        };
        match on!(m, |s| s.take_uninit(token, dst)) {
            Ok(n) => {
                o.write(n);
                Ok(TRANSOM_OK)
            }
            Err(MemoryError::BufferTooSmall { needed, .. }) => {
                o.write(needed);
                Err(MemoryError::BufferTooSmall { needed, cap }.into())
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// Frees every committed message; TRANSOM_ERR_BORROWED (freeing nothing) while any view is
/// outstanding. Reserved slots keep their reservation.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_clear(manager: *const transom_manager) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        on!(m, |s| s.clear())?;
        Ok(TRANSOM_OK)
    })
}

/// Writes the number of free slots to `*out_count`: always within 0..=capacity, and never
/// counting retired slots.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_available(
    manager: *const transom_manager,
    out_count: *mut usize,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        out!(out_count)?.write(on!(m, |s| s.available()));
        Ok(TRANSOM_OK)
    })
}

/// Writes to `*out_count` how many read views, write views and reservations of this manager are
/// outstanding (each counts one). It looks at every slot: O(capacity), meant for teardown
/// checks (e.g. refusing to free a manager that views still point into, as the C++ wrapper
/// does), not for hot paths; while other threads work on a CONCURRENT manager it is a snapshot.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_outstanding(
    manager: *const transom_manager,
    out_count: *mut usize,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        out!(out_count)?.write(on!(m, |s| s.outstanding()));
        Ok(TRANSOM_OK)
    })
}

/// Writes the number of slots (retired ones included) to `*out_count`.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_capacity(
    manager: *const transom_manager,
    out_count: *mut usize,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        out!(out_count)?.write(on!(m, |s| s.capacity()));
        Ok(TRANSOM_OK)
    })
}

/// Writes the slot size (largest payload, bytes) to `*out_bytes`.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_slot_size(
    manager: *const transom_manager,
    out_bytes: *mut usize,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        out!(out_bytes)?.write(on!(m, |s| s.slot_size()));
        Ok(TRANSOM_OK)
    })
}

/// Writes the manager's memory class to `*out_class`.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_memory_class(
    manager: *const transom_manager,
    out_class: *mut MemoryClassRaw,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        out!(out_class)?.write(on!(m, |s| s.memory_class()).to_raw());
        Ok(TRANSOM_OK)
    })
}

/// Writes the usage counters to `*out_stats`.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_stats(
    manager: *const transom_manager,
    out_stats: *mut Stats,
) -> transom_status {
    guard(|| {
        let m = handle!(manager)?;
        out!(out_stats)?.write(on!(m, |s| s.stats()));
        Ok(TRANSOM_OK)
    })
}
