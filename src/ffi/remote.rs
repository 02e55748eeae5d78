//! C ABI of remote cursors: a `transom_canal` fed by a durable JetStream pull consumer.
//!
//! Invariant: only conversion and checks here; the returned handle is an ordinary
//! `transom_canal` (without a store), so every canal call and the worker work on it unchanged.

use std::ffi::c_char;

use super::canal::{transom_canal, transom_filter, transom_start_kind};
use super::nats::transom_nats_options;
use super::status::{guard, transom_status, Failure};

/// How to open a remote cursor (transom_canal_open_remote_cursor). Zero-initialise, then set
/// `nats`, `stream` and `name`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_remote_cursor_options {
    /// Servers, credentials, connect and request timeouts.
    pub nats: transom_nats_options,
    /// The JetStream stream the mirror writes (UTF-8, required).
    pub stream: *const c_char,
    /// Length of `stream`.
    pub stream_len: usize,
    /// The mirror's subject prefix (NULL with length 0: "transom").
    pub subject_prefix: *const c_char,
    /// Length of `subject_prefix`.
    pub subject_prefix_len: usize,
    /// The durable consumer's name, 1..=64 bytes of [A-Za-z0-9_-] (required). Reopening with
    /// the name resumes after the last acknowledgement the server confirmed. One open cursor
    /// per name at a time.
    pub name: *const c_char,
    /// Length of `name`.
    pub name_len: usize,
    /// Which events (as for a local cursor).
    pub filter: transom_filter,
    /// Where a consumer that does not exist yet starts: TRANSOM_START_BEGIN, _END or _AT (an
    /// existing one resumes after its acknowledged position; _NAMED is refused: the name is
    /// `name`).
    pub start: transom_start_kind,
    /// The first sequence with TRANSOM_START_AT.
    pub start_sequence: u64,
    /// How long the server waits for an acknowledgement before delivering a message again,
    /// so also how long a new session may wait for what its predecessor had received and not
    /// acknowledged (0: 30 s).
    pub ack_wait_ns: u64,
    /// Messages buffered ahead of the pulls (0: 1024).
    pub prefetch: usize,
}

/// Opens a remote cursor: a durable JetStream pull consumer (`name`) of the stream a mirror
/// fills (transom_store_mirror_start), behind the canal API. Its items look exactly like a
/// local cursor's (same struct and fields; pointers valid until the next pull or the free).
/// Every canal call works on it: transom_canal_pull_batch waits up to its timeout for
/// messages; _ack acknowledges to the server (everything up to the sequence, also events the
/// filter skipped); _checkpoint returns once the server confirmed the acknowledgements (a
/// restarted consumer resumes after them); _rewind hands the unacknowledged items out again
/// (from the canal's memory); _fd, _interrupt, _close, _free and transom_canal_spawn_worker as
/// for a local cursor. A stream prefix ending in '.' of plain tokens is filtered by the
/// server, anything else in the canal.
///
/// A new session of a name whose previous session left messages unacknowledged (a crash, or
/// messages prefetched before a close) starts delivering once the server delivers those again,
/// up to `ack_wait_ns` after the previous session received them; delivery stays in order.
///
/// Errors: TRANSOM_ERR_NULL_ARGUMENT; TRANSOM_ERR_INVALID_ARGUMENT (a bad name, start, stream,
/// URL or option, or a consumer of that name exists with another subject filter or ack
/// policy); TRANSOM_ERR_UNAVAILABLE when no server answered within
/// `nats.connect_timeout_ns` or the stream does not exist (transom_last_error() says which).
/// A malformed message on the stream makes this and every later pull return
/// TRANSOM_ERR_CORRUPT with transom_last_error_value() = its JetStream sequence; a checkpoint
/// the server did not confirm within `nats.request_timeout_ns` is TRANSOM_ERR_UNAVAILABLE.
/// TRANSOM_ERR_UNSUPPORTED when transom was built without the nats feature.
#[no_mangle]
pub unsafe extern "C" fn transom_canal_open_remote_cursor(
    options: *const transom_remote_cursor_options,
    out_canal: *mut *mut transom_canal,
) -> transom_status {
    guard(|| open(options, out_canal))
}

#[cfg(not(feature = "nats"))]
fn open(
    _: *const transom_remote_cursor_options,
    _: *mut *mut transom_canal,
) -> Result<transom_status, Failure> {
    Err(super::nats::unsupported())
}

#[cfg(feature = "nats")]
fn open(
    options: *const transom_remote_cursor_options,
    out_canal: *mut *mut transom_canal,
) -> Result<transom_status, Failure> {
    use super::args::{input, out, utf8, Handle};
    use super::canal::{filter_arg, TRANSOM_START_AT, TRANSOM_START_BEGIN, TRANSOM_START_END};
    use super::status::TRANSOM_OK;
    use crate::canal::{Canal, Start};
    use crate::nats::remote::{RemoteCursorOptions, MAX_REMOTE_NAME_LEN};
    use std::time::Duration;

    let options = input!(options)?;
    let out = out!(out_canal)?;
    let nats = super::nats::nats_options(&options.nats)?;
    let stream = utf8!(options.stream, options.stream_len, 255)?;
    let name = utf8!(options.name, options.name_len, MAX_REMOTE_NAME_LEN)?;
    let start = match options.start {
        TRANSOM_START_BEGIN => Start::Begin,
        TRANSOM_START_END => Start::End,
        TRANSOM_START_AT => Start::At(options.start_sequence),
        _ => {
            return Err(Failure::invalid(
                "options->start is not TRANSOM_START_BEGIN, _END or _AT",
            ))
        }
    };
    let mut opts = RemoteCursorOptions::new(nats, stream, name)
        .with_filter(filter_arg(&options.filter)?)
        .with_start(start);
    if options.subject_prefix_len > 0 {
        opts.subject_prefix =
            utf8!(options.subject_prefix, options.subject_prefix_len, 255)?.to_owned();
    }
    if options.ack_wait_ns > 0 {
        opts.ack_wait = Duration::from_nanos(options.ack_wait_ns);
    }
    if options.prefetch > 0 {
        opts.prefetch = options.prefetch;
    }
    let canal = Canal::remote_cursor(opts)?;
    transom_canal::new(canal, None).publish(out);
    Ok(TRANSOM_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed() -> transom_remote_cursor_options {
        // SAFETY: every field is a pointer, integer or a struct of those: all-zero is valid.
        unsafe { std::mem::zeroed() }
    }

    #[cfg(not(feature = "nats"))]
    #[test]
    fn without_the_nats_feature_it_is_unsupported() {
        use crate::ffi::status::TRANSOM_ERR_UNSUPPORTED;
        let o = zeroed();
        let mut out: *mut transom_canal = std::ptr::null_mut();
        // SAFETY: valid pointers (the options are not read).
        let st = unsafe { transom_canal_open_remote_cursor(&o, &mut out) };
        assert_eq!(st, TRANSOM_ERR_UNSUPPORTED);
        assert!(out.is_null());
    }

    #[cfg(feature = "nats")]
    #[test]
    fn null_pointers_and_zeroed_options_are_refused() {
        use crate::ffi::status::TRANSOM_ERR_NULL_ARGUMENT;
        let o = zeroed();
        let mut out: *mut transom_canal = std::ptr::null_mut();
        // SAFETY: NULL is what is being tested; the other pointer is valid.
        unsafe {
            assert_eq!(
                transom_canal_open_remote_cursor(std::ptr::null(), &mut out),
                TRANSOM_ERR_NULL_ARGUMENT
            );
            assert_eq!(
                transom_canal_open_remote_cursor(&o, std::ptr::null_mut()),
                TRANSOM_ERR_NULL_ARGUMENT
            );
            // Zeroed options: no server URL.
            assert_eq!(
                transom_canal_open_remote_cursor(&o, &mut out),
                crate::ffi::status::TRANSOM_ERR_INVALID_ARGUMENT
            );
        }
        assert!(out.is_null());
    }
}
