//! The canal subsystem's errors. Each variant maps to one C status code (the mapping lives in
//! `ffi/status.rs`); `Clone + Eq` because a closed buffer keeps its close reason and hands it to
//! every later pull, and a finished worker hands its terminal error to every `join`.

use std::path::PathBuf;

use thiserror::Error;

/// Why a canal operation did not deliver.
///
/// Proposed C status codes (the lead owns the final mapping in `ffi/status.rs`):
///
/// | variant | C status |
/// |---|---|
/// | `Closed` | `TRANSOM_ERR_CLOSED` (-7) |
/// | `Disconnected` | new, e.g. `TRANSOM_ERR_DISCONNECTED` (-40) |
/// | `InvalidArgument` | `TRANSOM_ERR_INVALID_ARGUMENT` (-2) |
/// | `Corrupt` | `TRANSOM_ERR_CORRUPT` (-33, shared with the store) |
/// | `Io` | `TRANSOM_ERR_IO` (-34, shared with the store) |
/// | `NameInUse` | new, e.g. `TRANSOM_ERR_NAME_IN_USE` (-41) |
/// | `CheckpointAhead` | new, e.g. `TRANSOM_ERR_CHECKPOINT_AHEAD` (-42) |
///
/// Non-error pull outcomes: `Pulled::TimedOut` → `TRANSOM_TIMEOUT` (1), `Pulled::Interrupted`
/// → a new positive code, e.g. `TRANSOM_INTERRUPTED` (2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CanalError {
    /// The canal is closed (its store closed or was dropped) and every buffered or readable
    /// item was already handed out.
    #[error("the canal is closed")]
    Closed,
    /// A DISCONNECT subscription overflowed; it was closed after its buffered items.
    #[error("the subscription overflowed its buffer and was disconnected")]
    Disconnected,
    /// An argument is out of range, or the operation does not apply to this kind of canal.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A checkpoint file exists but is not a valid checkpoint (truncated, garbage, wrong magic,
    /// unknown version, bad CRC). The cursor is not opened: resuming from BEGIN silently would
    /// redeliver everything, resuming from anywhere else would be a guess.
    #[error("corrupt checkpoint {file}: {reason}")]
    Corrupt {
        /// The checkpoint file.
        file: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An operating-system I/O call on a checkpoint failed.
    #[error("I/O error: {context}: {message}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The error kind reported by the OS.
        kind: std::io::ErrorKind,
        /// The OS error's message.
        message: String,
    },
    /// A remote cursor's server, stream or consumer is unavailable: unreachable at open (after
    /// the connect timeout), no such stream, a checkpoint the server did not confirm in time,
    /// the consumer deleted under it. Retrying later may succeed.
    #[error("JetStream unavailable: {0}")]
    Unavailable(String),
    /// A remote cursor's options are unusable (a bad URL or credentials file, or a consumer of
    /// that name exists with another subject filter).
    #[error("invalid remote cursor options: {0}")]
    RemoteInvalid(String),
    /// A remote cursor received a message that is not a well-formed transom event (a missing
    /// or malformed header, or a sequence that differs from the JetStream sequence). The cursor
    /// stops there: every later pull reports it (never a silent skip).
    #[error("corrupt JetStream message at sequence {sequence}: {reason}")]
    RemoteCorrupt {
        /// The JetStream stream sequence of the message.
        sequence: u64,
        /// What was wrong.
        reason: String,
    },
    /// Another open cursor of this store already uses the checkpoint name.
    #[error("the checkpoint name {0:?} is in use by another open cursor of this store")]
    NameInUse(String),
    /// The named checkpoint is above the store's head: the store lost events it had once made
    /// visible (possible after a machine crash under `SyncPolicy::EveryN` / `Never`), and new
    /// events will reuse those sequences. Resuming would skip them silently, so it is refused;
    /// reopen with an explicit start, or delete the checkpoint.
    #[error("checkpoint {name:?} is at sequence {checkpoint}, above the store's head {head}")]
    CheckpointAhead {
        /// The checkpoint name.
        name: String,
        /// The acknowledged sequence the checkpoint holds.
        checkpoint: u64,
        /// The store's head when the cursor was opened.
        head: u64,
    },
}

impl CanalError {
    pub(crate) fn io(context: impl Into<String>, e: std::io::Error) -> CanalError {
        CanalError::Io {
            context: context.into(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}
