//! C ABI of the slot memory managers: one opaque `transom_manager` over the three kinds.
//!
//! Invariant: these functions only check and convert arguments; every behaviour is the Rust
//! API's (`crate::memory`), so C and Rust callers get the same results for the same calls.

use std::ffi::c_void;

use super::status::{free_handle, guard, transom_status, Failure, TRANSOM_OK};
use crate::memory::{
    self, ConcurrentManager, HeapManager, MemoryClass, MemoryClassRaw, SlotManager, StaticManager,
    Stats,
};
use crate::memory::{Header, Token};

/// Manager kind: single-threaded, over caller-provided storage; never allocates after creation.
pub const TRANSOM_MANAGER_STATIC: u32 = 1;
/// Manager kind: single-threaded, storage allocated by the library at creation.
pub const TRANSOM_MANAGER_HEAP: u32 = 2;
/// Manager kind: every operation safe from any thread, lock-free, never blocking.
pub const TRANSOM_MANAGER_CONCURRENT: u32 = 3;

/// Memory class kind: ordinary host memory.
pub const TRANSOM_MEMORY_HOST: u8 = 0;
/// Memory class kind: page-locked host memory.
pub const TRANSOM_MEMORY_PINNED_HOST: u8 = 1;
/// Memory class kind: device memory; `device` holds the device number (0..=255).
pub const TRANSOM_MEMORY_DEVICE: u8 = 2;
/// Memory class kind: memory shared between devices or processes.
pub const TRANSOM_MEMORY_SHARED: u8 = 3;

/// Header qos: background.
pub const TRANSOM_QOS_BACKGROUND: u8 = 1;
/// Header qos: best effort (the default; qos 0 is stored as this).
pub const TRANSOM_QOS_BEST_EFFORT: u8 = 2;
/// Header qos: latency-critical.
pub const TRANSOM_QOS_LATENCY_CRITICAL: u8 = 3;
/// Header flag: first message of a batch.
pub const TRANSOM_FLAG_FIRST_IN_BATCH: u32 = 1;
/// Header flag: last message of a batch.
pub const TRANSOM_FLAG_LAST_IN_BATCH: u32 = 2;
/// Header flag: the consumer may degrade this message under load.
pub const TRANSOM_FLAG_DEGRADE_ALLOWED: u32 = 4;
/// sizeof(transom_header), fixed by the ABI.
pub const TRANSOM_HEADER_SIZE: usize = 48;

/// A slot memory manager: a fixed number of slots, each holding one message (a
/// `transom_header` + up to `slot_size` payload bytes), addressed by `transom_token`s.
///
/// Thread safety: a CONCURRENT manager may be used from any number of threads at once; a STATIC
/// or HEAP manager must be used by one thread at a time (it may move between threads).
pub struct transom_manager {
    kind: Kind,
}

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
    pub kind: u32,
    /// Number of slots, 0..=16777215. 0 is legal: every store fails with NO_FREE_SLOTS.
    pub capacity: usize,
    /// Largest payload in bytes.
    pub slot_size: usize,
    /// Stamped into every stored header.
    pub memory_class: MemoryClassRaw,
    /// STATIC only: caller storage of at least `transom_manager_required_bytes(capacity,
    /// slot_size)` bytes, any alignment, kept alive and untouched until transom_manager_free.
    /// May be NULL when capacity is 0. Must be NULL for the other kinds.
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
/// token. To change the payload length, write `header->payload_len` (at most `capacity`); the
/// release validates it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_write_view {
    /// The stored header; its caller fields may be edited.
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

fn deref_manager<'a>(m: *const transom_manager) -> Result<&'a transom_manager, Failure> {
    // SAFETY: non-NULL pointers come from transom_manager_new and stay valid until
    // transom_manager_free (the documented contract of every transom_manager_* function).
    unsafe { m.as_ref() }.ok_or_else(|| Failure::null("manager"))
}

fn out<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller promises a non-NULL output pointer is valid for writes of T.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::null(name))
}

fn input<'a, T>(p: *const T, name: &'static str) -> Result<&'a T, Failure> {
    // SAFETY: the caller promises a non-NULL input pointer is valid for reads of T.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::null(name))
}

/// `len` bytes at `p`; NULL is accepted only when `len` is 0.
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

/// Fills `*out` with the default header: every field zero, qos best-effort.
#[no_mangle]
pub unsafe extern "C" fn transom_header_init(out_header: *mut Header) -> transom_status {
    guard(|| {
        *out(out_header, "out_header")? = Header::new();
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
        let o = out(out_bytes, "out_bytes")?;
        *o = memory::required_bytes(capacity, slot_size)?;
        Ok(TRANSOM_OK)
    })
}

/// Creates a manager. `*out_manager` is written only on success; free it with
/// transom_manager_free. TRANSOM_ERR_INVALID_ARGUMENT for an unknown kind or memory class, a
/// capacity or slot size out of range, or STATIC storage that is NULL or too small.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_new(
    config: *const transom_manager_config,
    out_manager: *mut *mut transom_manager,
) -> transom_status {
    guard(|| {
        let c = *input(config, "config")?;
        let o = out(out_manager, "out_manager")?;
        let class = MemoryClass::from_raw(c.memory_class)?;
        let kind = match c.kind {
            TRANSOM_MANAGER_STATIC => {
                if c.storage.is_null() && c.capacity > 0 {
                    return Err(Failure::null("config->storage"));
                }
                // SAFETY: the caller promises storage_len writable bytes at storage that outlive
                // the manager and are used by nothing else (documented on the config).
                Kind::Static(unsafe {
                    StaticManager::from_raw(
                        c.storage.cast(),
                        c.storage_len,
                        c.capacity,
                        c.slot_size,
                        class,
                    )?
                })
            }
            TRANSOM_MANAGER_HEAP | TRANSOM_MANAGER_CONCURRENT => {
                if !c.storage.is_null() || c.storage_len != 0 {
                    return Err(Failure::invalid(
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
                return Err(Failure::invalid(
                    "config->kind is not a TRANSOM_MANAGER_* kind",
                ))
            }
        };
        *o = Box::into_raw(Box::new(transom_manager { kind }));
        Ok(TRANSOM_OK)
    })
}

/// Destroys a manager (NULL is ignored). Every token and view of it becomes invalid; STATIC
/// storage may be reused once this returns.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_free(manager: *mut transom_manager) {
    // SAFETY: a non-NULL manager comes from transom_manager_new and is freed once (the C contract).
    unsafe { free_handle(manager) }
}

/// Copies `len` payload bytes (NULL allowed when len is 0) into a free slot under `*header`
/// (whose payload_len and memory_class are stamped by the manager) and writes the token to
/// `*out_token`. TRANSOM_ERR_NO_FREE_SLOTS when full, TRANSOM_ERR_TOO_LARGE when len exceeds the
/// slot size, TRANSOM_ERR_INVALID_ARGUMENT for a qos above 3 or unknown flag bits.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_store(
    manager: *const transom_manager,
    header: *const Header,
    payload: *const u8,
    len: usize,
    out_token: *mut Token,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        let h = input(header, "header")?;
        let data = bytes(payload, len, "payload")?;
        let o = out(out_token, "out_token")?;
        *o = on!(m, |s| s.store(h, data))?;
        Ok(TRANSOM_OK)
    })
}

/// Reserves a slot for a `len`-byte payload written in place: `*out_payload` points to `len`
/// writable bytes until transom_manager_commit or transom_manager_abort. The slot is invisible
/// to readers until committed.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_reserve(
    manager: *const transom_manager,
    len: usize,
    out_token: *mut Token,
    out_payload: *mut *mut u8,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        let ot = out(out_token, "out_token")?;
        let op = out(out_payload, "out_payload")?;
        let (t, p) = on!(m, |s| s.reserve_raw(len))?;
        *ot = t;
        *op = p;
        Ok(TRANSOM_OK)
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
        let m = deref_manager(manager)?;
        let h = input(header, "header")?;
        on!(m, |s| s.commit(token, h))?;
        Ok(TRANSOM_OK)
    })
}

/// Gives a reserved slot back unpublished.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_abort(
    manager: *const transom_manager,
    token: Token,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        on!(m, |s| s.abort(token))?;
        Ok(TRANSOM_OK)
    })
}

/// Starts a shared read view, valid until transom_manager_release(token). Many may be
/// outstanding; TRANSOM_ERR_BORROWED while a write view exists (never blocks).
#[no_mangle]
pub unsafe extern "C" fn transom_manager_read(
    manager: *const transom_manager,
    token: Token,
    out_view: *mut transom_read_view,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        let o = out(out_view, "out_view")?;
        let r = on!(m, |s| s.acquire_read(token))?;
        *o = transom_read_view {
            header: r.header,
            payload: r.payload,
            len: r.len,
        };
        Ok(TRANSOM_OK)
    })
}

/// Starts the exclusive write view, valid until transom_manager_release(token).
/// TRANSOM_ERR_BORROWED while any view exists (never blocks).
#[no_mangle]
pub unsafe extern "C" fn transom_manager_write(
    manager: *const transom_manager,
    token: Token,
    out_view: *mut transom_write_view,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        let o = out(out_view, "out_view")?;
        let w = on!(m, |s| s.acquire_write(token))?;
        *o = transom_write_view {
            header: w.header,
            payload: w.payload,
            len: w.len,
            capacity: w.capacity,
        };
        Ok(TRANSOM_OK)
    })
}

/// Ends one view of the token's slot (call once per successful read or write). Ending a write
/// view validates header->payload_len: over the slot size gives TRANSOM_ERR_TOO_LARGE, restores
/// the previous length, and still ends the view. TRANSOM_ERR_WRONG_STATE when no view exists.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_release(
    manager: *const transom_manager,
    token: Token,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        on!(m, |s| s.release(token))?;
        Ok(TRANSOM_OK)
    })
}

/// Copies the stored header to `*out_header` without touching the payload.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_peek_header(
    manager: *const transom_manager,
    token: Token,
    out_header: *mut Header,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        let o = out(out_header, "out_header")?;
        *o = on!(m, |s| s.peek_header(token))?;
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
        let m = deref_manager(manager)?;
        on!(m, |s| s.free(token))?;
        Ok(TRANSOM_OK)
    })
}

/// Copies the payload into `buf` (`cap` bytes; NULL allowed when cap is 0) and frees the slot,
/// in one step; `*out_len` receives the payload length. When cap is too small nothing is freed,
/// `*out_len` receives the needed length and TRANSOM_ERR_BUFFER_TOO_SMALL is returned.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_take(
    manager: *const transom_manager,
    token: Token,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        let o = out(out_len, "out_len")?;
        let dst: &mut [u8] = if cap == 0 {
            &mut []
        } else if buf.is_null() {
            return Err(Failure::null("buf"));
        } else {
            // SAFETY: non-NULL and the caller promises cap writable bytes.
            unsafe { std::slice::from_raw_parts_mut(buf, cap) }
        };
        match on!(m, |s| s.take(token, dst)) {
            Ok(n) => {
                *o = n;
                Ok(TRANSOM_OK)
            }
            Err(e) => {
                if let memory::MemoryError::BufferTooSmall { needed, .. } = e {
                    *o = needed;
                }
                Err(e.into())
            }
        }
    })
}

/// Frees every committed message; TRANSOM_ERR_BORROWED (freeing nothing) while any view is
/// outstanding. Reserved slots keep their reservation.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_clear(manager: *const transom_manager) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        on!(m, |s| s.clear())?;
        Ok(TRANSOM_OK)
    })
}

/// Writes the number of free slots (always within 0..=capacity) to `*out_count`.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_available(
    manager: *const transom_manager,
    out_count: *mut usize,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        *out(out_count, "out_count")? = on!(m, |s| s.available());
        Ok(TRANSOM_OK)
    })
}

/// Writes the number of slots to `*out_count`.
#[no_mangle]
pub unsafe extern "C" fn transom_manager_capacity(
    manager: *const transom_manager,
    out_count: *mut usize,
) -> transom_status {
    guard(|| {
        let m = deref_manager(manager)?;
        *out(out_count, "out_count")? = on!(m, |s| s.capacity());
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
        let m = deref_manager(manager)?;
        *out(out_bytes, "out_bytes")? = on!(m, |s| s.slot_size());
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
        let m = deref_manager(manager)?;
        *out(out_class, "out_class")? = on!(m, |s| s.memory_class()).to_raw();
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
        let m = deref_manager(manager)?;
        *out(out_stats, "out_stats")? = on!(m, |s| s.stats());
        Ok(TRANSOM_OK)
    })
}
