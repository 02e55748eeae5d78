//! Status codes, the thread-local last error, the panic boundary and the version query.
//!
//! Invariant: status numbers are stable forever. Never renumber a code; a retired code stays
//! reserved. Subsystem errors are mapped to codes here and nowhere else.

use std::cell::{Cell, RefCell};
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::actor::ActorError;
use crate::canal::CanalError;
use crate::conversation::ConversationError;
use crate::memory::MemoryError;
use crate::store::StoreError;

/// The result of every fallible transom function: `TRANSOM_OK` (0), a negative error code, or a
/// positive non-error outcome such as `TRANSOM_TIMEOUT`.
#[allow(non_camel_case_types)]
pub type transom_status = i32;

/// Success.
pub const TRANSOM_OK: transom_status = 0;
/// A blocking call reached its timeout before anything happened (not an error).
pub const TRANSOM_TIMEOUT: transom_status = 1;
/// A blocking pull was woken by transom_canal_interrupt before anything was ready (not an
/// error).
pub const TRANSOM_INTERRUPTED: transom_status = 2;

/// A required pointer argument was NULL.
pub const TRANSOM_ERR_NULL_ARGUMENT: transom_status = -1;
/// An argument is out of its documented range (see transom_last_error() for which one).
pub const TRANSOM_ERR_INVALID_ARGUMENT: transom_status = -2;
/// transom panicked internally; the call had no effect that can be relied on. Please report it.
pub const TRANSOM_ERR_PANIC: transom_status = -3;
/// A caller-provided output buffer is too small; the needed size was written to `*out_len`.
pub const TRANSOM_ERR_BUFFER_TOO_SMALL: transom_status = -4;
/// Memory could not be allocated.
pub const TRANSOM_ERR_OUT_OF_MEMORY: transom_status = -5;
/// The requested feature or mode is not supported (yet).
pub const TRANSOM_ERR_UNSUPPORTED: transom_status = -6;
/// The object was closed, or shut down while the call waited.
pub const TRANSOM_ERR_CLOSED: transom_status = -7;

/// The token is 0, out of the manager's range, or belongs to another manager.
pub const TRANSOM_ERR_BAD_TOKEN: transom_status = -10;
/// The token's slot was freed (and possibly reused) since the token was issued.
pub const TRANSOM_ERR_STALE_TOKEN: transom_status = -11;
/// The slot has an outstanding read or write view (or the whole manager has, for clear).
pub const TRANSOM_ERR_BORROWED: transom_status = -12;
/// Every slot is in use.
pub const TRANSOM_ERR_NO_FREE_SLOTS: transom_status = -13;
/// The payload is larger than the manager's slot size.
pub const TRANSOM_ERR_TOO_LARGE: transom_status = -14;
/// The token's slot is not in the state the operation needs: commit or abort of a slot that is
/// not reserved, a read/write/free of a reserved (uncommitted) slot, a release without a view.
pub const TRANSOM_ERR_WRONG_STATE: transom_status = -15;

/// The pid names no live process (it exited, or this runtime never spawned it).
pub const TRANSOM_ERR_NOPROC: transom_status = -20;
/// A participant crashed and the conversation's crash policy failed it.
pub const TRANSOM_ERR_PARTICIPANT_CRASHED: transom_status = -21;
/// The conversation's own configured timeout expired (phase TIMED_OUT).
pub const TRANSOM_ERR_DEADLINE_EXCEEDED: transom_status = -22;

/// An expected-version check failed, or an idempotency key was reused with a different request.
pub const TRANSOM_ERR_CONFLICT: transom_status = -30;
/// A gate refused the event; transom_last_error_value() gives the gate's code.
pub const TRANSOM_ERR_REJECTED: transom_status = -31;
/// The store directory is locked by another open store (in this or another process).
pub const TRANSOM_ERR_LOCKED: transom_status = -32;
/// Damaged data that must not be repaired silently; transom_last_error_value() gives the byte
/// offset and transom_last_error() the file.
pub const TRANSOM_ERR_CORRUPT: transom_status = -33;
/// An operating-system I/O call failed (see transom_last_error()). For an append the outcome is
/// unknown: retry with an idempotency key.
pub const TRANSOM_ERR_IO: transom_status = -34;
/// No such item (event id, gate).
pub const TRANSOM_ERR_NOT_FOUND: transom_status = -35;
/// The event was removed by retention or truncation (not the same as never having existed);
/// transom_last_error_value() gives the first retained sequence.
pub const TRANSOM_ERR_TRUNCATED: transom_status = -36;

/// A DISCONNECT subscription overflowed and was closed (after its buffered items).
pub const TRANSOM_ERR_DISCONNECTED: transom_status = -40;
/// Another open cursor of the store uses this checkpoint name.
pub const TRANSOM_ERR_NAME_IN_USE: transom_status = -41;
/// The named checkpoint is above the store's head (the store lost events it had made visible):
/// resuming would skip events silently, so the cursor is not opened.
pub const TRANSOM_ERR_CHECKPOINT_AHEAD: transom_status = -42;

/// No NATS server could be reached, the connection was lost, or it did not answer in time
/// (transom_last_error() says which server and what happened). Retrying later may succeed.
pub const TRANSOM_ERR_UNAVAILABLE: transom_status = -50;
/// A NATS JetStream stream and the store disagree: the stream holds events the store does not,
/// or different ones (transom_last_error() names the first differing sequence, also given by
/// transom_last_error_value()). Nothing more is written to the stream.
pub const TRANSOM_ERR_DIVERGED: transom_status = -51;

/// A static, NUL-terminated name and description of a status code ("unknown status" for codes
/// this version does not know). Never NULL; the string lives for the whole program.
#[no_mangle]
pub extern "C" fn transom_status_str(status: transom_status) -> *const c_char {
    let s: &'static [u8] = match status {
        TRANSOM_OK => b"TRANSOM_OK: success\0",
        TRANSOM_TIMEOUT => b"TRANSOM_TIMEOUT: the timeout expired\0",
        TRANSOM_INTERRUPTED => b"TRANSOM_INTERRUPTED: the wait was interrupted\0",
        TRANSOM_ERR_NULL_ARGUMENT => b"TRANSOM_ERR_NULL_ARGUMENT: a required pointer was NULL\0",
        TRANSOM_ERR_INVALID_ARGUMENT => {
            b"TRANSOM_ERR_INVALID_ARGUMENT: an argument is out of range\0"
        }
        TRANSOM_ERR_PANIC => b"TRANSOM_ERR_PANIC: transom panicked internally\0",
        TRANSOM_ERR_BUFFER_TOO_SMALL => {
            b"TRANSOM_ERR_BUFFER_TOO_SMALL: the output buffer is too small\0"
        }
        TRANSOM_ERR_OUT_OF_MEMORY => b"TRANSOM_ERR_OUT_OF_MEMORY: allocation failed\0",
        TRANSOM_ERR_UNSUPPORTED => b"TRANSOM_ERR_UNSUPPORTED: not supported\0",
        TRANSOM_ERR_CLOSED => b"TRANSOM_ERR_CLOSED: the object is closed\0",
        TRANSOM_ERR_BAD_TOKEN => {
            b"TRANSOM_ERR_BAD_TOKEN: the token is zero, out of range or from another manager\0"
        }
        TRANSOM_ERR_STALE_TOKEN => {
            b"TRANSOM_ERR_STALE_TOKEN: the token's slot was freed since it was issued\0"
        }
        TRANSOM_ERR_BORROWED => b"TRANSOM_ERR_BORROWED: a view of the slot is outstanding\0",
        TRANSOM_ERR_NO_FREE_SLOTS => b"TRANSOM_ERR_NO_FREE_SLOTS: every slot is in use\0",
        TRANSOM_ERR_TOO_LARGE => b"TRANSOM_ERR_TOO_LARGE: the payload exceeds the slot size\0",
        TRANSOM_ERR_WRONG_STATE => {
            b"TRANSOM_ERR_WRONG_STATE: the slot is not in the state this operation needs\0"
        }
        TRANSOM_ERR_NOPROC => b"TRANSOM_ERR_NOPROC: no such process\0",
        TRANSOM_ERR_DISCONNECTED => {
            b"TRANSOM_ERR_DISCONNECTED: the subscription overflowed and was disconnected\0"
        }
        TRANSOM_ERR_NAME_IN_USE => b"TRANSOM_ERR_NAME_IN_USE: the checkpoint name is in use\0",
        TRANSOM_ERR_CHECKPOINT_AHEAD => {
            b"TRANSOM_ERR_CHECKPOINT_AHEAD: the checkpoint is above the store's head\0"
        }
        TRANSOM_ERR_UNAVAILABLE => b"TRANSOM_ERR_UNAVAILABLE: the NATS server is unavailable\0",
        TRANSOM_ERR_DIVERGED => {
            b"TRANSOM_ERR_DIVERGED: the JetStream stream and the store disagree\0"
        }
        TRANSOM_ERR_PARTICIPANT_CRASHED => {
            b"TRANSOM_ERR_PARTICIPANT_CRASHED: a participant crashed\0"
        }
        TRANSOM_ERR_DEADLINE_EXCEEDED => {
            b"TRANSOM_ERR_DEADLINE_EXCEEDED: the conversation timed out\0"
        }
        TRANSOM_ERR_CONFLICT => b"TRANSOM_ERR_CONFLICT: version or idempotency conflict\0",
        TRANSOM_ERR_REJECTED => b"TRANSOM_ERR_REJECTED: a gate rejected the event\0",
        TRANSOM_ERR_LOCKED => b"TRANSOM_ERR_LOCKED: the store directory is locked\0",
        TRANSOM_ERR_CORRUPT => b"TRANSOM_ERR_CORRUPT: corrupt data\0",
        TRANSOM_ERR_IO => b"TRANSOM_ERR_IO: I/O error\0",
        TRANSOM_ERR_NOT_FOUND => b"TRANSOM_ERR_NOT_FOUND: not found\0",
        TRANSOM_ERR_TRUNCATED => b"TRANSOM_ERR_TRUNCATED: removed by retention\0",
        _ => b"unknown status\0",
    };
    s.as_ptr().cast()
}

/// Longest detail `transom_last_error` keeps, in bytes; longer details are cut at a character
/// boundary. A fixed buffer, so that recording a failure never allocates.
pub(crate) const DETAIL_CAP: usize = 512;

/// This thread's last error detail: a fixed buffer (no allocation, no destructor to register).
struct DetailBuf {
    bytes: [u8; DETAIL_CAP],
    len: usize,
}

impl DetailBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for DetailBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = DETAIL_CAP - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<DetailBuf> = const {
        RefCell::new(DetailBuf { bytes: [0; DETAIL_CAP], len: 0 })
    };
    static LAST_VALUE: Cell<i64> = const { Cell::new(0) };
}

/// The text of a failure, kept in a form that needs no allocation for the common cases: it is
/// formatted straight into the thread's fixed detail buffer when the failure is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detail {
    /// A fixed text.
    Static(&'static str),
    /// "argument `NAME` is NULL".
    Null(&'static str),
    /// A memory-manager error (its Display formats without allocating).
    Memory(MemoryError),
    /// Any other text.
    Text(String),
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detail::Static(s) => f.write_str(s),
            Detail::Null(name) => write!(f, "argument `{name}` is NULL"),
            Detail::Memory(e) => write!(f, "{e}"),
            Detail::Text(s) => f.write_str(s),
        }
    }
}

/// A failure on its way to C: the status code and the detail for `transom_last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: transom_status,
    pub(crate) detail: Detail,
    /// The number transom_last_error_value() reports (a gate's code, a corrupt offset).
    pub(crate) value: i64,
}

impl Failure {
    /// A failure with a formatted (allocated) detail.
    pub(crate) fn new(code: transom_status, message: impl Into<String>) -> Self {
        Failure {
            code,
            detail: Detail::Text(message.into()),
            value: 0,
        }
    }

    /// A failure with a fixed detail (no allocation).
    pub(crate) const fn fixed(code: transom_status, message: &'static str) -> Self {
        Failure {
            code,
            detail: Detail::Static(message),
            value: 0,
        }
    }

    /// `TRANSOM_ERR_NULL_ARGUMENT` naming the argument (no allocation).
    pub(crate) const fn null(argument: &'static str) -> Self {
        Failure {
            code: TRANSOM_ERR_NULL_ARGUMENT,
            detail: Detail::Null(argument),
            value: 0,
        }
    }

    /// `TRANSOM_ERR_INVALID_ARGUMENT` with a detail.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(TRANSOM_ERR_INVALID_ARGUMENT, message)
    }

    /// Attaches the number `transom_last_error_value` reports.
    pub(crate) fn with_value(mut self, value: i64) -> Self {
        self.value = value;
        self
    }
}

impl From<ActorError> for Failure {
    fn from(e: ActorError) -> Self {
        let code = match e {
            ActorError::NoProc => TRANSOM_ERR_NOPROC,
            ActorError::Closed => TRANSOM_ERR_CLOSED,
            ActorError::InvalidArgument(_) => TRANSOM_ERR_INVALID_ARGUMENT,
            ActorError::OutOfResources(_) => TRANSOM_ERR_OUT_OF_MEMORY,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<ConversationError> for Failure {
    fn from(e: ConversationError) -> Self {
        let (code, value) = match e {
            ConversationError::Closed => (TRANSOM_ERR_CLOSED, 0),
            ConversationError::NoProc | ConversationError::NoConversation(_) => {
                (TRANSOM_ERR_NOPROC, 0)
            }
            ConversationError::ParticipantCrashed => (TRANSOM_ERR_PARTICIPANT_CRASHED, 0),
            ConversationError::DeadlineExceeded => (TRANSOM_ERR_DEADLINE_EXCEEDED, 0),
            ConversationError::WrongPhase(_) => (TRANSOM_ERR_WRONG_STATE, 0),
            ConversationError::BufferTooSmall { needed } => {
                (TRANSOM_ERR_BUFFER_TOO_SMALL, needed as i64)
            }
            ConversationError::CrashCallbackNotFound(_)
            | ConversationError::RequestNotFound { .. } => (TRANSOM_ERR_NOT_FOUND, 0),
            ConversationError::Unsupported(_) => (TRANSOM_ERR_UNSUPPORTED, 0),
            ConversationError::InvalidArgument(_) => (TRANSOM_ERR_INVALID_ARGUMENT, 0),
        };
        Failure::new(code, e.to_string()).with_value(value)
    }
}

impl From<CanalError> for Failure {
    fn from(e: CanalError) -> Self {
        let code = match e {
            CanalError::Closed => TRANSOM_ERR_CLOSED,
            CanalError::Disconnected => TRANSOM_ERR_DISCONNECTED,
            CanalError::InvalidArgument(_) => TRANSOM_ERR_INVALID_ARGUMENT,
            CanalError::Corrupt { .. } => TRANSOM_ERR_CORRUPT,
            CanalError::Io { .. } => TRANSOM_ERR_IO,
            CanalError::NameInUse(_) => TRANSOM_ERR_NAME_IN_USE,
            CanalError::CheckpointAhead { .. } => TRANSOM_ERR_CHECKPOINT_AHEAD,
            CanalError::Unavailable(_) => TRANSOM_ERR_UNAVAILABLE,
            CanalError::RemoteInvalid(_) => TRANSOM_ERR_INVALID_ARGUMENT,
            CanalError::RemoteCorrupt { sequence, .. } => {
                return Failure::new(TRANSOM_ERR_CORRUPT, e.to_string()).with_value(sequence as i64)
            }
        };
        Failure::new(code, e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let (code, value) = store_code(&e);
        Failure::new(code, e.to_string()).with_value(value)
    }
}

/// The status and value of a store error (shared by the errors that wrap one).
fn store_code(e: &StoreError) -> (transom_status, i64) {
    match e {
        StoreError::Conflict(_) => (TRANSOM_ERR_CONFLICT, 0),
        StoreError::Rejected { code, .. } => (TRANSOM_ERR_REJECTED, i64::from(*code)),
        StoreError::GatePanicked(_) => (TRANSOM_ERR_PANIC, 0),
        StoreError::Locked(_) => (TRANSOM_ERR_LOCKED, 0),
        StoreError::Corrupt { offset, .. } => (TRANSOM_ERR_CORRUPT, *offset as i64),
        StoreError::Io { .. } => (TRANSOM_ERR_IO, 0),
        StoreError::NotFound | StoreError::GateNotFound(_) => (TRANSOM_ERR_NOT_FOUND, 0),
        StoreError::InvalidArgument(_) => (TRANSOM_ERR_INVALID_ARGUMENT, 0),
        StoreError::TooLarge { .. } => (TRANSOM_ERR_TOO_LARGE, 0),
        StoreError::Closed => (TRANSOM_ERR_CLOSED, 0),
        StoreError::Unsupported(_) => (TRANSOM_ERR_UNSUPPORTED, 0),
        StoreError::Truncated { first_retained } => (TRANSOM_ERR_TRUNCATED, *first_retained as i64),
    }
}

#[cfg(feature = "nats")]
impl From<crate::nats::NatsError> for Failure {
    fn from(e: crate::nats::NatsError) -> Self {
        let (code, value) = nats_code(&e);
        Failure::new(code, e.to_string()).with_value(value)
    }
}

/// The status and value (a sequence, where the error names one) of a NATS error.
#[cfg(feature = "nats")]
pub(crate) fn nats_code(e: &crate::nats::NatsError) -> (transom_status, i64) {
    use crate::nats::NatsError as N;
    match e {
        N::InvalidOptions(_) | N::Credentials { .. } => (TRANSOM_ERR_INVALID_ARGUMENT, 0),
        N::Unavailable(_) | N::Timeout(_) | N::Refused(_) => (TRANSOM_ERR_UNAVAILABLE, 0),
        N::Diverged { sequence, .. } => (TRANSOM_ERR_DIVERGED, *sequence as i64),
        N::TooLarge { sequence, .. } => (TRANSOM_ERR_TOO_LARGE, *sequence as i64),
        N::Corrupt { sequence, .. } => (TRANSOM_ERR_CORRUPT, *sequence as i64),
        N::Closed => (TRANSOM_ERR_CLOSED, 0),
        N::Runtime(_) => (TRANSOM_ERR_IO, 0),
        N::Store(s) => store_code(s),
    }
}

impl From<MemoryError> for Failure {
    fn from(e: MemoryError) -> Self {
        let code = match e {
            MemoryError::BadToken => TRANSOM_ERR_BAD_TOKEN,
            MemoryError::StaleToken => TRANSOM_ERR_STALE_TOKEN,
            MemoryError::Borrowed => TRANSOM_ERR_BORROWED,
            MemoryError::NoFreeSlots => TRANSOM_ERR_NO_FREE_SLOTS,
            MemoryError::TooLarge { .. } => TRANSOM_ERR_TOO_LARGE,
            MemoryError::WrongState(_) => TRANSOM_ERR_WRONG_STATE,
            MemoryError::InvalidArgument(_) => TRANSOM_ERR_INVALID_ARGUMENT,
            MemoryError::BufferTooSmall { .. } => TRANSOM_ERR_BUFFER_TOO_SMALL,
            MemoryError::OutOfMemory => TRANSOM_ERR_OUT_OF_MEMORY,
        };
        // No allocation on the managers' error paths: the error is formatted into the
        // thread's fixed detail buffer only when recorded.
        Failure {
            code,
            detail: Detail::Memory(e),
            value: 0,
        }
    }
}

/// The failure of creating a handle's pollable descriptor: `TRANSOM_ERR_UNSUPPORTED` where the
/// platform has none, `TRANSOM_ERR_IO` when the OS refused one.
pub(crate) fn descriptor_failure(e: std::io::Error) -> Failure {
    let code = if e.kind() == std::io::ErrorKind::Unsupported {
        TRANSOM_ERR_UNSUPPORTED
    } else {
        TRANSOM_ERR_IO
    };
    Failure::new(code, format!("creating a pollable descriptor: {e}"))
}

/// Records `failure` as this thread's last error and returns its code.
#[cold]
#[inline(never)]
pub(crate) fn fail(failure: Failure) -> transom_status {
    debug_assert!(
        failure.code < 0,
        "a failure carries an error code, not an outcome"
    );
    LAST_VALUE.with(|v| v.set(failure.value));
    record(failure.code, &failure.detail)
}

/// Formats `detail` into this thread's fixed detail buffer; returns `code`. Never allocates
/// (beyond what `detail`'s own Display does: none for the fixed kinds).
fn record(code: transom_status, detail: &dyn std::fmt::Display) -> transom_status {
    use std::fmt::Write;
    LAST_ERROR.with(|slot| {
        let mut s = slot.borrow_mut();
        s.len = 0;
        let _ = write!(s, "{detail}");
    });
    code
}

/// The panic boundary: runs `body`, maps `Err` to its status (recording the detail) and a panic
/// to `TRANSOM_ERR_PANIC`. Every exported function that can fail runs its body through this.
#[inline(always)]
pub(crate) fn guard<F>(body: F) -> transom_status
where
    F: FnOnce() -> Result<transom_status, Failure>,
{
    // The closure hands catch_unwind a bare status (failures are recorded inside it): moving a
    // Result<i32, Failure> through catch_unwind's result slot stores 4 bytes and reloads 8, a
    // store-forwarding stall that cost ~5 ns on every call.
    let run = AssertUnwindSafe(|| match body() {
        Ok(status) => status,
        // Every subsystem reports an expired wait as an Ok outcome, so a failure is an error.
        Err(failure) => fail(failure),
    });
    match catch_unwind(run) {
        Ok(status) => status,
        Err(payload) => panicked(payload),
    }
}

#[cold]
#[inline(never)]
fn panicked(payload: Box<dyn std::any::Any + Send>) -> transom_status {
    LAST_VALUE.with(|v| v.set(0));
    let detail = crate::sync::panic_message(&*payload);
    record(TRANSOM_ERR_PANIC, &format_args!("internal panic: {detail}"))
}

/// Copies this thread's last error detail into `buf` as a NUL-terminated string.
///
/// `*out_len` receives the detail's length in bytes, without the NUL. The detail is truncated
/// (still NUL-terminated) when `cap` is too small, and `TRANSOM_ERR_BUFFER_TOO_SMALL` is
/// returned; `buf` may be NULL only when `cap` is 0, to ask for the length. The detail is that of
/// the last failed transom call on this thread (empty if none); successful calls leave it as is.
#[no_mangle]
pub unsafe extern "C" fn transom_last_error(
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> transom_status {
    let r = catch_unwind(|| {
        if out_len.is_null() || (buf.is_null() && cap != 0) {
            return TRANSOM_ERR_NULL_ARGUMENT;
        }
        LAST_ERROR.with(|slot| {
            let s = slot.borrow();
            let bytes = s.as_bytes();
            // SAFETY: out_len was checked non-NULL; the caller promises it is writable.
            unsafe { *out_len = bytes.len() };
            if cap == 0 {
                return if bytes.is_empty() {
                    TRANSOM_OK
                } else {
                    TRANSOM_ERR_BUFFER_TOO_SMALL
                };
            }
            let n = bytes.len().min(cap - 1);
            // SAFETY: buf is non-NULL (cap != 0) and the caller promises `cap` writable bytes;
            // n + 1 <= cap.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
            if n < bytes.len() {
                TRANSOM_ERR_BUFFER_TOO_SMALL
            } else {
                TRANSOM_OK
            }
        })
    });
    r.unwrap_or(TRANSOM_ERR_PANIC)
}

/// Writes the number attached to this thread's last failure to `*out_value`: the gate's code for
/// TRANSOM_ERR_REJECTED, the byte offset for TRANSOM_ERR_CORRUPT (the JetStream sequence for a
/// remote cursor's corrupt message), 0 for every other failure.
#[no_mangle]
pub unsafe extern "C" fn transom_last_error_value(out_value: *mut i64) -> transom_status {
    if out_value.is_null() {
        return TRANSOM_ERR_NULL_ARGUMENT;
    }
    // SAFETY: non-NULL, and the caller promises it is writable.
    unsafe { *out_value = LAST_VALUE.with(Cell::get) };
    TRANSOM_OK
}

/// The library's version at run time, encoded like `TRANSOM_VERSION`:
/// MAJOR * 10000 + MINOR * 100 + PATCH. Compare it with the header's `TRANSOM_VERSION`.
#[no_mangle]
pub extern "C" fn transom_version() -> u32 {
    version_number()
}

pub(crate) fn version_number() -> u32 {
    const fn parse(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut i = 0;
        let mut v = 0u32;
        while i < b.len() {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        v
    }
    const V: u32 = parse(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
        + parse(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + parse(env!("CARGO_PKG_VERSION_PATCH"));
    V
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_error() -> String {
        let mut buf = [0 as c_char; 256];
        let mut len = 0usize;
        // SAFETY: buf has 256 writable bytes; len is a valid usize.
        let st = unsafe { transom_last_error(buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(st, TRANSOM_OK);
        // SAFETY: transom_last_error NUL-terminates within cap.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn guard_maps_panic_to_panic_status_with_detail() {
        let st = guard(|| -> Result<transom_status, Failure> { panic!("boom at the boundary") });
        assert_eq!(st, TRANSOM_ERR_PANIC);
        assert!(last_error().contains("boom at the boundary"));
    }

    #[test]
    fn guard_maps_failure_to_code_and_records_detail() {
        let st = guard(|| Err(Failure::invalid("capacity is too large")));
        assert_eq!(st, TRANSOM_ERR_INVALID_ARGUMENT);
        assert_eq!(last_error(), "capacity is too large");
        // A later success leaves the detail in place (errno-like).
        assert_eq!(guard(|| Ok(TRANSOM_OK)), TRANSOM_OK);
        assert_eq!(last_error(), "capacity is too large");
    }

    #[test]
    fn last_error_truncates_and_reports_needed_length() {
        fail(Failure::invalid("0123456789"));
        let mut buf = [0x7f as c_char; 4];
        let mut len = 0usize;
        // SAFETY: buf has 4 writable bytes.
        let st = unsafe { transom_last_error(buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(st, TRANSOM_ERR_BUFFER_TOO_SMALL);
        assert_eq!(len, 10);
        assert_eq!(buf[3], 0);
        // SAFETY: NULL buffer with cap 0 is the documented size query.
        let st = unsafe { transom_last_error(std::ptr::null_mut(), 0, &mut len) };
        assert_eq!(st, TRANSOM_ERR_BUFFER_TOO_SMALL);
        assert_eq!(len, 10);
        // SAFETY: NULL out_len is refused before any write.
        let st = unsafe { transom_last_error(buf.as_mut_ptr(), 4, std::ptr::null_mut()) };
        assert_eq!(st, TRANSOM_ERR_NULL_ARGUMENT);
    }

    #[test]
    fn every_code_has_a_name() {
        for code in [
            TRANSOM_OK,
            TRANSOM_TIMEOUT,
            TRANSOM_INTERRUPTED,
            TRANSOM_ERR_NULL_ARGUMENT,
            TRANSOM_ERR_INVALID_ARGUMENT,
            TRANSOM_ERR_PANIC,
            TRANSOM_ERR_BUFFER_TOO_SMALL,
            TRANSOM_ERR_OUT_OF_MEMORY,
            TRANSOM_ERR_UNSUPPORTED,
            TRANSOM_ERR_CLOSED,
            TRANSOM_ERR_BAD_TOKEN,
            TRANSOM_ERR_STALE_TOKEN,
            TRANSOM_ERR_BORROWED,
            TRANSOM_ERR_NO_FREE_SLOTS,
            TRANSOM_ERR_TOO_LARGE,
            TRANSOM_ERR_WRONG_STATE,
            TRANSOM_ERR_NOPROC,
            TRANSOM_ERR_PARTICIPANT_CRASHED,
            TRANSOM_ERR_DEADLINE_EXCEEDED,
            TRANSOM_ERR_CONFLICT,
            TRANSOM_ERR_REJECTED,
            TRANSOM_ERR_LOCKED,
            TRANSOM_ERR_CORRUPT,
            TRANSOM_ERR_IO,
            TRANSOM_ERR_NOT_FOUND,
            TRANSOM_ERR_TRUNCATED,
            TRANSOM_ERR_DISCONNECTED,
            TRANSOM_ERR_NAME_IN_USE,
            TRANSOM_ERR_CHECKPOINT_AHEAD,
        ] {
            // SAFETY: transom_status_str always returns a static NUL-terminated string.
            let s = unsafe { CStr::from_ptr(transom_status_str(code)) };
            assert!(s.to_str().unwrap().starts_with("TRANSOM_"), "{code}");
        }
        // SAFETY: as above.
        let s = unsafe { CStr::from_ptr(transom_status_str(-9999)) };
        assert_eq!(s.to_str().unwrap(), "unknown status");
    }

    #[test]
    fn version_matches_cargo_metadata() {
        let expected: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(
            transom_version(),
            expected[0] * 10000 + expected[1] * 100 + expected[2]
        );
    }
}
