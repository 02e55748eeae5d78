//! The C API of the JetStream mirror (`nats::mirror`): start, status, wait, close, free.
//!
//! Invariant: without the `nats` feature every function here still exists (same header) and
//! returns `TRANSOM_ERR_UNSUPPORTED` ([`super::nats::unsupported`]); only conversion and checks
//! live here, the mirror itself is `crate::nats::Mirror`.

use std::ffi::c_char;

use super::args::{handle, input, out, Handle};
use super::nats::transom_nats_options;
#[cfg(feature = "nats")]
use super::status::TRANSOM_ERR_CLOSED;
use super::status::{guard, transom_status, TRANSOM_OK};
#[cfg(feature = "nats")]
use super::status::{Failure, TRANSOM_TIMEOUT};
use super::store::transom_store;

/// A running mirror of a store to a NATS JetStream stream (transom_store_mirror_start).
///
/// What it ships, when: every committed event, in sequence order, exactly once, as one
/// JetStream message whose stream sequence equals the event's transom sequence (the event's
/// fields travel in `Transom-*` headers, the payload unchanged; README "Beyond one machine").
/// Under TRANSOM_SYNC_ALWAYS only fsynced events are shipped (a store's readers see nothing
/// else), so a machine crash never makes the store reuse a sequence JetStream holds; under
/// EVERY_N and NEVER written events are shipped as they become visible. Appends never wait for
/// the mirror: it reads the store on its own thread. A server that is down, or that goes
/// away, is retried with backoff (state RETRYING, logged at TRANSOM_LOG_WARN through the log
/// hook). After a restart the mirror resumes after JetStream's last sequence; when the stream
/// holds events the store does not, or different ones (compared by event id), it stops with
/// TRANSOM_ERR_DIVERGED and writes nothing; an event whose message exceeds the server's
/// max_payload stops it with TRANSOM_ERR_TOO_LARGE naming the event's sequence (everything
/// before it is shipped). A stop is logged at TRANSOM_LOG_ERROR.
///
/// Thread safety: transom_mirror_status and transom_mirror_wait may be called from any
/// number of threads at once, and concurrently with transom_mirror_close; transom_mirror_free
/// must not race other calls on the same handle.
pub struct transom_mirror {
    #[cfg(feature = "nats")]
    mirror: crate::nats::Mirror,
}

impl Handle for transom_mirror {}

/// How to mirror a store. Zero-initialise, then set `nats.urls` / `nats.url_count` and
/// `stream`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_mirror_options {
    /// The servers and how to connect.
    pub nats: transom_nats_options,
    /// The JetStream stream: 1..=255 bytes of [A-Za-z0-9_-]. Created when missing (file
    /// storage, limits retention, 2-minute duplicate window); an existing one is used as it is.
    pub stream: *const c_char,
    /// Length of `stream`.
    pub stream_len: usize,
    /// Subject prefix P: events of transom stream S are published on subject P.S (S
    /// percent-encoded) and the JetStream stream listens on P.> (every subject under P);
    /// dot-separated tokens of [A-Za-z0-9_-].
    /// NULL with length 0: "transom".
    pub subject_prefix: *const c_char,
    /// Length of `subject_prefix`.
    pub subject_prefix_len: usize,
    /// Replicas when the mirror creates the stream (1..=5); 0 = 1.
    pub replicas: u32,
    /// Publishes awaiting their acknowledgement at most (1..=65536); 0 = 1024.
    pub max_in_flight: u32,
}

/// A mirror's state: one of the TRANSOM_MIRROR_* values (`transom_mirror_report.state`).
pub type transom_mirror_state = u32;
/// Mirror state: connecting for the first time.
pub const TRANSOM_MIRROR_CONNECTING: transom_mirror_state = 0;
/// Mirror state: connected, shipping events as they commit (or level with the store).
pub const TRANSOM_MIRROR_RUNNING: transom_mirror_state = 1;
/// Mirror state: a connection or publish failed; retrying with backoff (`error` says why).
pub const TRANSOM_MIRROR_RETRYING: transom_mirror_state = 2;
/// Mirror state: stopped for good: closed (`error` 0 or the last retried failure), or
/// stopped by TRANSOM_ERR_DIVERGED, TRANSOM_ERR_TOO_LARGE (`error_value` = the event's
/// sequence), TRANSOM_ERR_TRUNCATED (events removed by retention before they were shipped).
pub const TRANSOM_MIRROR_STOPPED: transom_mirror_state = 3;

/// Length of `transom_mirror_report.error_message`, NUL included (a literal in the struct, so
/// that the header spells the array size the way the bindings parse it).
#[cfg(feature = "nats")]
const ERROR_CAP: usize = 256;

/// A snapshot of a mirror (transom_mirror_status).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct transom_mirror_report {
    /// TRANSOM_MIRROR_CONNECTING, _RUNNING, _RETRYING or _STOPPED.
    pub state: transom_mirror_state,
    /// The highest sequence JetStream acknowledged: every event up to it is in the stream at
    /// its own sequence (0 before the first).
    pub shipped: u64,
    /// The store's head when the snapshot was taken.
    pub store_head: u64,
    /// `store_head - shipped`.
    pub lag: u64,
    /// Failed attempts (connections, publishes) since the mirror started.
    pub retries: u64,
    /// The last failure's status (kept after recovery until the next one), 0 if none.
    pub error: transom_status,
    /// The number attached to it (TRANSOM_ERR_TOO_LARGE, _DIVERGED: the event's sequence).
    pub error_value: i64,
    /// The last failure's detail, NUL-terminated (cut to fit 256 bytes); empty if none.
    pub error_message: [c_char; 256],
}

#[cfg(feature = "nats")]
fn mirror_options(o: &transom_mirror_options) -> Result<crate::nats::MirrorOptions, Failure> {
    use super::args::utf8;
    use super::log::{log, TRANSOM_LOG_ERROR, TRANSOM_LOG_INFO, TRANSOM_LOG_WARN};
    use crate::nats::mirror::LogLevel;

    let nats = super::nats::nats_options(&o.nats)?;
    let stream = utf8!(o.stream, o.stream_len, 255)?;
    let mut m = crate::nats::MirrorOptions::new(nats, stream);
    if o.subject_prefix_len != 0 {
        m.subject_prefix = utf8!(o.subject_prefix, o.subject_prefix_len, 128)?.to_owned();
    }
    if o.replicas != 0 {
        m.replicas = o.replicas as usize;
    }
    if o.max_in_flight != 0 {
        m.max_in_flight = o.max_in_flight as usize;
    }
    m.log = Some(std::sync::Arc::new(|level: LogLevel, message: &str| {
        let level = match level {
            LogLevel::Info => TRANSOM_LOG_INFO,
            LogLevel::Warn => TRANSOM_LOG_WARN,
            LogLevel::Error => TRANSOM_LOG_ERROR,
        };
        log(level, format_args!("{message}"));
    }));
    m.validate()?;
    Ok(m)
}

/// Starts mirroring `store` to the JetStream stream `options->stream` and writes the new
/// mirror to `*out_mirror`. Returns at once: connecting, creating the stream and catching up
/// happen on the mirror's own thread (transom_mirror_status, transom_mirror_wait); a server
/// that is down is retried. TRANSOM_ERR_INVALID_ARGUMENT for unusable options (no URL, a URL
/// that does not parse, a bad stream name or prefix, replicas above 5),
/// TRANSOM_ERR_CLOSED for a closed store, TRANSOM_ERR_UNSUPPORTED when transom was built
/// without the `nats` feature. Free the mirror with transom_mirror_free (before or after the
/// store's).
#[no_mangle]
pub unsafe extern "C" fn transom_store_mirror_start(
    store: *const transom_store,
    options: *const transom_mirror_options,
    out_mirror: *mut *mut transom_mirror,
) -> transom_status {
    guard(|| {
        let s = handle!(store)?;
        let options = input!(options)?;
        let out = out!(out_mirror)?;
        #[cfg(feature = "nats")]
        {
            let options = mirror_options(options)?;
            let store = s.open()?;
            let mirror = crate::nats::Mirror::start(store, options)?;
            transom_mirror { mirror }.publish(out);
            Ok(TRANSOM_OK)
        }
        #[cfg(not(feature = "nats"))]
        {
            let _ = (s, options, out);
            Err(super::nats::unsupported())
        }
    })
}

/// Writes a snapshot of the mirror to `*out`: state, last shipped sequence, the store's
/// head, lag, retries and the last failure. Works on a closed mirror too (state STOPPED).
#[no_mangle]
pub unsafe extern "C" fn transom_mirror_status(
    mirror: *const transom_mirror,
    out: *mut transom_mirror_report,
) -> transom_status {
    guard(|| {
        let m = handle!(mirror)?;
        let out = out!(out)?;
        #[cfg(feature = "nats")]
        {
            use crate::nats::MirrorState;
            let s = m.mirror.status();
            let mut report = transom_mirror_report {
                state: match s.state {
                    MirrorState::Connecting => TRANSOM_MIRROR_CONNECTING,
                    MirrorState::Running => TRANSOM_MIRROR_RUNNING,
                    MirrorState::Retrying => TRANSOM_MIRROR_RETRYING,
                    MirrorState::Stopped => TRANSOM_MIRROR_STOPPED,
                },
                shipped: s.shipped,
                store_head: s.store_head,
                lag: s.lag,
                retries: s.retries,
                error: 0,
                error_value: 0,
                error_message: [0; ERROR_CAP],
            };
            if let Some(e) = &s.last_error {
                let (code, value) = super::status::nats_code(e);
                report.error = code;
                report.error_value = value;
                super::args::copy_c_str(&mut report.error_message, &e.to_string());
            }
            out.write(report);
            Ok(TRANSOM_OK)
        }
        #[cfg(not(feature = "nats"))]
        {
            let _ = (m, out);
            Err(super::nats::unsupported())
        }
    })
}

/// Blocks until JetStream holds every event up to `sequence` (TRANSOM_OK), or `timeout_ns`
/// passes (TRANSOM_TIMEOUT; UINT64_MAX = no limit, 0 = just check). When the mirror stopped
/// first: the status that stopped it (TRANSOM_ERR_DIVERGED, TRANSOM_ERR_TOO_LARGE with
/// transom_last_error_value() = the event's sequence, ...), or TRANSOM_ERR_CLOSED after
/// transom_mirror_close.
#[no_mangle]
pub unsafe extern "C" fn transom_mirror_wait(
    mirror: *const transom_mirror,
    sequence: u64,
    timeout_ns: u64,
) -> transom_status {
    guard(|| {
        let m = handle!(mirror)?;
        #[cfg(feature = "nats")]
        {
            use crate::nats::MirrorWait;
            match m
                .mirror
                .wait_shipped(sequence, super::args::timeout(timeout_ns))
            {
                MirrorWait::Shipped => Ok(TRANSOM_OK),
                MirrorWait::Timeout => Ok(TRANSOM_TIMEOUT),
                MirrorWait::Stopped(Some(e)) => {
                    let (code, value) = super::status::nats_code(&e);
                    Err(Failure::new(code, e.to_string()).with_value(value))
                }
                MirrorWait::Stopped(None) => {
                    Err(Failure::fixed(TRANSOM_ERR_CLOSED, "the mirror is closed"))
                }
            }
        }
        #[cfg(not(feature = "nats"))]
        {
            let _ = (m, sequence, timeout_ns);
            Err(super::nats::unsupported())
        }
    })
}

/// Stops the mirror: no new publish starts, the acknowledgements of those in flight are
/// awaited (each at most the request timeout) so `shipped` is exact, and its thread ends.
/// Idempotent (TRANSOM_OK again); the handle stays valid: status reports STOPPED, wait
/// returns TRANSOM_ERR_CLOSED (or the error that had stopped it).
#[no_mangle]
pub unsafe extern "C" fn transom_mirror_close(mirror: *const transom_mirror) -> transom_status {
    guard(|| {
        let m = handle!(mirror)?;
        #[cfg(feature = "nats")]
        m.mirror.close()?;
        #[cfg(not(feature = "nats"))]
        let _ = m;
        Ok(TRANSOM_OK)
    })
}

/// Releases the mirror (NULL is accepted), closing it first if needed.
#[no_mangle]
pub unsafe extern "C" fn transom_mirror_free(mirror: *mut transom_mirror) {
    // SAFETY: a non-NULL mirror comes from transom_store_mirror_start and is freed once (the C
    // contract).
    unsafe { transom_mirror::free(mirror) }
}

#[cfg(all(test, not(feature = "nats")))]
mod unsupported_tests {
    use super::*;
    use crate::ffi::status::{TRANSOM_ERR_UNSUPPORTED, TRANSOM_OK};
    use crate::ffi::store::{
        transom_store_config, transom_store_free, transom_store_open, TRANSOM_SYNC_NEVER,
    };

    /// Without the `nats` feature a valid store and options still get UNSUPPORTED, and no
    /// mirror handle is written.
    #[test]
    fn without_the_nats_feature_the_mirror_is_unsupported() {
        // SAFETY: every field is a pointer, integer or a struct of those: all-zero is valid.
        let mut config: transom_store_config = unsafe { std::mem::zeroed() };
        config.sync = TRANSOM_SYNC_NEVER;
        config.max_payload = 1024;
        let mut store = std::ptr::null_mut();
        // SAFETY: valid pointers; an in-memory store (dir NULL, dir_len 0).
        assert_eq!(
            unsafe { transom_store_open(&config, &mut store) },
            TRANSOM_OK
        );
        // SAFETY: as above.
        let options: transom_mirror_options = unsafe { std::mem::zeroed() };
        let mut out: *mut transom_mirror = std::ptr::null_mut();
        // SAFETY: valid pointers; the options are not read in this build.
        let st = unsafe { transom_store_mirror_start(store, &options, &mut out) };
        assert_eq!(st, TRANSOM_ERR_UNSUPPORTED);
        assert!(out.is_null());
        // SAFETY: opened above, freed once.
        unsafe { transom_store_free(store) };
    }
}
