//! Exit reasons as data: a kind, an integer code and a short message, delivered unchanged to
//! every observer (linked processes, `EXIT` messages, monitors, mailbox owners).
//!
//! Invariant: a reason is never rewritten on its way to an observer. The only transformations
//! are the documented ones made when the reason is *created* (the message is cut to
//! [`ExitReason::MAX_MESSAGE_LEN`] bytes on a character boundary).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// What kind of exit this was. [`ExitKind::Normal`] (the work is done) and
/// [`ExitKind::Shutdown`] (an orderly stop, whoever asked for it) are not abnormal: they kill no
/// linked process. Every other kind is abnormal and cascades over links
/// ([`ExitKind::is_abnormal`]).
///
/// (Deliberately not `#[repr(i32)]`: the C API gets its own `transom_exit_kind` constants; the
/// numbers here are stable and given by [`ExitKind::as_raw`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitKind {
    /// The process finished its work.
    Normal = 0,
    /// An orderly stop: the runtime shut down, or someone (a supervisor, a conversation) sent
    /// this reason with `exit`. Not a crash: linked processes are not killed by it.
    Shutdown = 1,
    /// The behaviour reported a failure (a non-zero status from C, an `Err` from Rust).
    Error = 2,
    /// The behaviour panicked.
    Panic = 3,
    /// Killed. As the reason given to `exit` it is untrappable; as the reason a killed process
    /// propagates over its links it is an ordinary (trappable) abnormal reason, as in Erlang.
    Killed = 4,
    /// A mailbox handle was dropped without a prior normal exit.
    Dropped = 5,
    /// The process did not exist (linking to or monitoring a dead pid).
    NoProc = 6,
    /// A configured deadline passed.
    DeadlineExceeded = 7,
}

impl ExitKind {
    /// Every kind, in numeric order.
    pub const ALL: [ExitKind; 8] = [
        ExitKind::Normal,
        ExitKind::Shutdown,
        ExitKind::Error,
        ExitKind::Panic,
        ExitKind::Killed,
        ExitKind::Dropped,
        ExitKind::NoProc,
        ExitKind::DeadlineExceeded,
    ];

    /// The stable number the C API uses.
    pub const fn as_raw(self) -> i32 {
        self as i32
    }

    /// The kind with number `raw`, `None` for unknown numbers.
    pub fn from_raw(raw: i32) -> Option<ExitKind> {
        ExitKind::ALL.into_iter().find(|k| k.as_raw() == raw)
    }

    /// The upper-case name (`"NORMAL"`, `"NOPROC"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ExitKind::Normal => "NORMAL",
            ExitKind::Shutdown => "SHUTDOWN",
            ExitKind::Error => "ERROR",
            ExitKind::Panic => "PANIC",
            ExitKind::Killed => "KILLED",
            ExitKind::Dropped => "DROPPED",
            ExitKind::NoProc => "NOPROC",
            ExitKind::DeadlineExceeded => "DEADLINE_EXCEEDED",
        }
    }

    /// True for the kinds that kill linked processes which do not trap exits: every kind but
    /// `Normal` and `Shutdown`. The one rule the exit cascade applies.
    pub const fn is_abnormal(self) -> bool {
        !matches!(self, ExitKind::Normal | ExitKind::Shutdown)
    }
}

/// Why a process exited: `{kind, code, message}`.
///
/// Cheap to clone (the message is shared): an exit reaches every link, monitor and crash
/// record unchanged, often on the path a woken thread waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExitReason {
    kind: ExitKind,
    code: i32,
    message: Arc<str>,
}

impl ExitReason {
    /// The longest exit message, in bytes. Longer messages are cut on a UTF-8 character
    /// boundary.
    pub const MAX_MESSAGE_LEN: usize = 255;

    /// The message of [`ExitReason::dropped`]: what happened, for whoever sees the crash.
    pub const DROPPED_MESSAGE: &'static str = "mailbox freed without exit";

    /// A reason; `message` is cut to [`ExitReason::MAX_MESSAGE_LEN`] bytes on a character boundary.
    pub fn new(kind: ExitKind, code: i32, message: impl Into<String>) -> ExitReason {
        let mut message = message.into();
        if message.len() > Self::MAX_MESSAGE_LEN {
            let mut end = Self::MAX_MESSAGE_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        ExitReason {
            kind,
            code,
            message: Arc::from(message),
        }
    }

    /// `NORMAL`, code 0, no message.
    pub fn normal() -> ExitReason {
        ExitReason::new(ExitKind::Normal, 0, String::new())
    }

    /// `SHUTDOWN`, code 0, no message.
    pub fn shutdown() -> ExitReason {
        ExitReason::new(ExitKind::Shutdown, 0, String::new())
    }

    /// `KILLED`, code 0, no message (the untrappable kill when given to `exit`).
    pub fn kill() -> ExitReason {
        ExitReason::new(ExitKind::Killed, 0, String::new())
    }

    /// `ERROR` with a code and a message.
    pub fn error(code: i32, message: impl Into<String>) -> ExitReason {
        ExitReason::new(ExitKind::Error, code, message)
    }

    /// `DROPPED`, code 0, message [`ExitReason::DROPPED_MESSAGE`].
    pub fn dropped() -> ExitReason {
        ExitReason::new(ExitKind::Dropped, 0, Self::DROPPED_MESSAGE)
    }

    /// `NOPROC`, code 0, no message.
    pub fn noproc() -> ExitReason {
        ExitReason::new(ExitKind::NoProc, 0, String::new())
    }

    /// `DEADLINE_EXCEEDED`, code 0, no message.
    pub fn deadline_exceeded() -> ExitReason {
        ExitReason::new(ExitKind::DeadlineExceeded, 0, String::new())
    }

    /// `PANIC` whose message is the panic payload's text (when it is a string).
    pub fn from_panic(payload: &(dyn Any + Send)) -> ExitReason {
        let text = crate::sync::panic_message(payload).to_owned();
        ExitReason::new(ExitKind::Panic, 0, text)
    }

    /// The kind.
    pub fn kind(&self) -> ExitKind {
        self.kind
    }

    /// The code (0 unless the creator chose one).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The message, at most [`ExitReason::MAX_MESSAGE_LEN`] bytes.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True only for [`ExitKind::Normal`]. Note that `SHUTDOWN` is neither normal nor
    /// abnormal: ask [`ExitReason::is_abnormal`] whether an exit is a crash.
    pub fn is_normal(&self) -> bool {
        self.kind == ExitKind::Normal
    }

    /// True when this exit is a crash that kills linked processes which do not trap exits
    /// (every kind but `NORMAL` and `SHUTDOWN`, see [`ExitKind::is_abnormal`]).
    pub fn is_abnormal(&self) -> bool {
        self.kind.is_abnormal()
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.kind.name(), self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(200); // 400 bytes, 2 bytes per char
        let r = ExitReason::error(3, long);
        assert!(r.message().len() <= ExitReason::MAX_MESSAGE_LEN);
        assert_eq!(r.message().len(), 254);
        assert!(r.message().chars().all(|c| c == 'é'));
        let exact = "a".repeat(ExitReason::MAX_MESSAGE_LEN);
        assert_eq!(ExitReason::error(0, exact.clone()).message(), exact);
    }

    #[test]
    fn kinds_round_trip_through_their_numbers() {
        for k in ExitKind::ALL {
            assert_eq!(ExitKind::from_raw(k.as_raw()), Some(k));
        }
        assert_eq!(ExitKind::from_raw(8), None);
        assert_eq!(ExitKind::from_raw(-1), None);
    }

    #[test]
    fn only_normal_is_normal() {
        for k in ExitKind::ALL {
            assert_eq!(ExitReason::new(k, 0, "").is_normal(), k == ExitKind::Normal);
        }
    }

    #[test]
    fn shutdown_is_an_orderly_stop_not_a_crash() {
        for k in ExitKind::ALL {
            let orderly = matches!(k, ExitKind::Normal | ExitKind::Shutdown);
            assert_eq!(ExitReason::new(k, 0, "").is_abnormal(), !orderly, "{k:?}");
        }
        assert!(!ExitReason::shutdown().is_abnormal());
        assert!(ExitReason::kill().is_abnormal());
    }

    #[test]
    fn panic_payload_text_becomes_the_message() {
        let p: Box<dyn Any + Send> = Box::new("boom");
        assert_eq!(ExitReason::from_panic(&*p).message(), "boom");
        let p: Box<dyn Any + Send> = Box::new(String::from("bang"));
        let r = ExitReason::from_panic(&*p);
        assert_eq!((r.kind(), r.message()), (ExitKind::Panic, "bang"));
        assert_eq!(r.to_string(), "PANIC(0): bang");
    }
}
