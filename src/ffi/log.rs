//! The process-wide log hook: where the library's messages go (panics, mailboxes freed without
//! an exit, behaviours that ended their process, and what the bindings report through
//! `transom_log_write`, e.g. exceptions thrown by C++ and Python callbacks).
//!
//! Invariant: the hook is called with no lock of the library held (the sink is cloned out of
//! its lock first), so a callback may call any transom function, `transom_set_log_callback`
//! included; a message logged from inside the callback on the same thread goes to stderr
//! instead (no recursion).

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::sync::{Once, OnceLock};

use super::args::bytes;
use super::closure::Closure;
use super::status::{guard, transom_status, Failure, TRANSOM_ERR_INVALID_ARGUMENT, TRANSOM_OK};
use crate::sync::{Mutex, Registration};

/// A log level: one of the TRANSOM_LOG_* values (spaced like Python's `logging` levels, so a
/// binding can pass them on unchanged). A sink receives the messages whose level is at least
/// its `min_level`.
pub type transom_log_level = i32;
/// Log level: detail for debugging transom itself.
pub const TRANSOM_LOG_DEBUG: transom_log_level = 10;
/// Log level: an event worth knowing that is not a problem (a mailbox freed without an exit, a
/// behaviour that ended its process with a non-zero status).
pub const TRANSOM_LOG_INFO: transom_log_level = 20;
/// Log level: something went wrong and was contained (an exception thrown by a callback).
pub const TRANSOM_LOG_WARN: transom_log_level = 30;
/// Log level: a failure inside transom (a panic caught at the C boundary).
pub const TRANSOM_LOG_ERROR: transom_log_level = 40;

/// A log sink: `call(ctx, level, message, len)` receives one message (UTF-8, `len` bytes, also
/// NUL-terminated; valid during the call only), on the thread that logged it, possibly on
/// several threads at once, with no transom lock held. `drop` (may be NULL) runs exactly once,
/// after the last call.
#[repr(C)]
pub struct transom_log_callback {
    /// Passed to `call` and `drop`.
    pub ctx: *mut c_void,
    /// Receives one message; NULL selects the default sink (stderr).
    pub call: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            level: transom_log_level,
            message: *const c_char,
            len: usize,
        ),
    >,
    /// Releases `ctx`; may be NULL.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

type LogFn = unsafe extern "C" fn(*mut c_void, transom_log_level, *const c_char, usize);
type Sink = Registration<Closure<LogFn>>;

/// Messages below this level are dropped before anything else is done.
static MIN_LEVEL: AtomicI32 = AtomicI32::new(TRANSOM_LOG_WARN);

/// The installed callback; `None` is the default sink (stderr).
fn sink() -> &'static Mutex<Option<Sink>> {
    static SINK: OnceLock<Mutex<Option<Sink>>> = OnceLock::new();
    SINK.get_or_init(|| Mutex::new(None))
}

thread_local! {
    /// Set while this thread runs the log callback: its own messages go to stderr.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Whether a message of `level` would be delivered (one relaxed load).
#[inline]
pub(crate) fn enabled(level: transom_log_level) -> bool {
    level >= MIN_LEVEL.load(Relaxed)
}

fn level_name(level: transom_log_level) -> &'static str {
    match level {
        l if l >= TRANSOM_LOG_ERROR => "ERROR",
        l if l >= TRANSOM_LOG_WARN => "WARN",
        l if l >= TRANSOM_LOG_INFO => "INFO",
        _ => "DEBUG",
    }
}

fn to_stderr(level: transom_log_level, message: &str) {
    let line = format!("transom: {}: {message}\n", level_name(level));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Logs `args` at `level` to the installed sink (formatted only when the level is enabled).
pub(crate) fn log(level: transom_log_level, args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut text = String::new();
    let _ = text.write_fmt(args);
    deliver(level, text);
}

/// Hands `text` to the sink: the callback (with a NUL appended) or stderr.
fn deliver(level: transom_log_level, mut text: String) {
    if IN_CALLBACK.with(Cell::get) {
        to_stderr(level, &text);
        return;
    }
    let len = text.len();
    text.push('\0');
    loop {
        // Cloned out of the lock: the callback runs with no lock held.
        let current = sink().lock().clone();
        let Some(current) = current else {
            to_stderr(level, &text[..len]);
            return;
        };
        let called = current.invoke(|c| {
            IN_CALLBACK.with(|f| f.set(true));
            struct Reset;
            impl Drop for Reset {
                fn drop(&mut self) {
                    IN_CALLBACK.with(|f| f.set(false));
                }
            }
            let _reset = Reset;
            // SAFETY: the C sink promised to accept (ctx, level, message, len); the message is
            // NUL-terminated and lives across the call.
            unsafe { (c.call())(c.ctx(), level, text.as_ptr().cast(), len) };
        });
        if called.is_some() {
            return;
        }
        // Replaced between the clone and the call: deliver to the new sink.
    }
}

/// Routes panics to the sink once a callback is installed (std's own hook, which prints to
/// stderr, stays in charge while the default sink is).
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let custom = !IN_CALLBACK.with(Cell::get) && sink().lock().is_some();
            if !custom {
                if enabled(TRANSOM_LOG_ERROR) {
                    previous(info);
                }
                return;
            }
            let message = crate::sync::panic_message(info.payload());
            match info.location() {
                Some(at) => log(
                    TRANSOM_LOG_ERROR,
                    format_args!("panic at {}:{}: {message}", at.file(), at.line()),
                ),
                None => log(TRANSOM_LOG_ERROR, format_args!("panic: {message}")),
            }
        }));
    });
}

/// Sets where transom's log messages go, for the whole process: `callback` receives every
/// message whose level is at least `min_level` (a TRANSOM_LOG_* value; e.g. TRANSOM_LOG_ERROR
/// for errors only, INT32_MAX for nothing). A callback with a NULL `call` selects the default
/// sink: one line per message on stderr (its `drop`, if any, runs now). Before the first call
/// the default sink is in place with `min_level` TRANSOM_LOG_WARN.
///
/// What is logged: panics inside transom (caught at the C boundary and reported as
/// TRANSOM_ERR_PANIC; ERROR), exceptions thrown by C++ and Python callbacks (WARN, through
/// transom_log_write by the bindings), a mailbox freed while its process was alive and a
/// callback process ended by its behaviour (INFO).
///
/// The previous callback is replaced at once: this waits for its calls in flight on other
/// threads, then runs its `drop`, before returning (called from inside that callback it
/// returns at once, and the drop runs when the callback returns). A message logged while the
/// replacement happens goes to the old or the new sink, never to none. transom owns `callback`
/// from this call on. Messages a callback logs itself (through a transom call it makes) go to
/// stderr. Always TRANSOM_OK.
#[no_mangle]
pub unsafe extern "C" fn transom_set_log_callback(
    callback: transom_log_callback,
    min_level: transom_log_level,
) -> transom_status {
    let new = Closure::new(callback.ctx, callback.call, callback.drop).try_map(|f| f);
    guard(move || {
        let custom = new.is_some();
        let old = {
            let mut s = sink().lock();
            MIN_LEVEL.store(min_level, Relaxed);
            std::mem::replace(&mut *s, new.map(Registration::new))
        };
        if custom {
            install_panic_hook();
        }
        if let Some(old) = old {
            old.close();
        }
        Ok(TRANSOM_OK)
    })
}

/// Logs `len` bytes of UTF-8 `message` (NULL allowed when len is 0) at `level` through the
/// current sink, like transom's own messages (the bindings use it for their callbacks'
/// exceptions). Does nothing when `level` is below the sink's `min_level`.
/// TRANSOM_ERR_INVALID_ARGUMENT when the message is not valid UTF-8.
#[no_mangle]
pub unsafe extern "C" fn transom_log_write(
    level: transom_log_level,
    message: *const c_char,
    len: usize,
) -> transom_status {
    guard(|| {
        let data = bytes!(message.cast::<u8>(), len)?;
        if !enabled(level) {
            return Ok(TRANSOM_OK);
        }
        let text = std::str::from_utf8(data).map_err(|_| {
            Failure::fixed(TRANSOM_ERR_INVALID_ARGUMENT, "message is not valid UTF-8")
        })?;
        deliver(level, text.to_owned());
        Ok(TRANSOM_OK)
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Mutex as StdMutex;

    static SEEN: StdMutex<Vec<(i32, String)>> = StdMutex::new(Vec::new());
    static DROPS: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn record(_: *mut c_void, level: i32, msg: *const c_char, len: usize) {
        // SAFETY: the sink passes len valid bytes, NUL-terminated.
        let s = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
        assert_eq!(unsafe { *msg.add(len) }, 0);
        SEEN.lock()
            .unwrap()
            .push((level, String::from_utf8_lossy(s).into_owned()));
    }
    unsafe extern "C" fn count_drop(_: *mut c_void) {
        DROPS.fetch_add(1, SeqCst);
    }

    /// One test for the process-wide sink (tests run in parallel threads of one process).
    #[test]
    fn the_sink_receives_filtered_messages_and_panics_and_is_replaced_cleanly() {
        let cb = transom_log_callback {
            ctx: std::ptr::null_mut(),
            call: Some(record),
            drop: Some(count_drop),
        };
        // SAFETY: a valid callback triple.
        assert_eq!(
            unsafe { transom_set_log_callback(cb, TRANSOM_LOG_INFO) },
            TRANSOM_OK
        );
        log(TRANSOM_LOG_DEBUG, format_args!("filtered out"));
        log(TRANSOM_LOG_INFO, format_args!("kept {}", 1));
        let st = guard(|| -> Result<transom_status, Failure> { panic!("boom at the boundary") });
        assert_eq!(st, super::super::status::TRANSOM_ERR_PANIC);
        {
            let seen = SEEN.lock().unwrap();
            assert!(seen.iter().all(|(_, m)| m != "filtered out"));
            assert!(seen.contains(&(TRANSOM_LOG_INFO, "kept 1".to_owned())));
            assert!(seen.iter().any(|(l, m)| *l == TRANSOM_LOG_ERROR
                && m.contains("boom at the boundary")
                && m.contains("log.rs")));
        }
        let default = transom_log_callback {
            ctx: std::ptr::null_mut(),
            call: None,
            drop: None,
        };
        // SAFETY: NULL call: the default sink.
        assert_eq!(
            unsafe { transom_set_log_callback(default, TRANSOM_LOG_WARN) },
            TRANSOM_OK
        );
        assert_eq!(DROPS.load(SeqCst), 1);
    }
}
