//! The event store's errors. Each variant maps to exactly one C status code (in `ffi/status.rs`,
//! reserved range -30..=-35 plus the shared codes), so every refusal is reported the same way in
//! Rust and in C.
//!
//! Invariant: an append that returns an error stored nothing (all-or-nothing), except
//! [`StoreError::Io`] after bytes reached the journal, which also poisons the store: every later
//! append fails until the store is reopened and recovery has run.

use std::path::PathBuf;

use thiserror::Error;

/// Why a store operation was refused.
///
/// | variant | C status |
/// |---|---|
/// | `Conflict` | `TRANSOM_ERR_CONFLICT` (-30) |
/// | `Rejected` | `TRANSOM_ERR_REJECTED` (-31) |
/// | `Locked` | `TRANSOM_ERR_LOCKED` (-32) |
/// | `Corrupt` | `TRANSOM_ERR_CORRUPT` (-33) |
/// | `Io` | `TRANSOM_ERR_IO` (-34) |
/// | `NotFound` | `TRANSOM_ERR_NOT_FOUND` (-35) |
/// | `GateNotFound` | `TRANSOM_ERR_NOT_FOUND` (-35) |
/// | `InvalidArgument` | `TRANSOM_ERR_INVALID_ARGUMENT` (-2) |
/// | `TooLarge` | `TRANSOM_ERR_TOO_LARGE` (-14) |
/// | `Closed` | `TRANSOM_ERR_CLOSED` (-7) |
/// | `Unsupported` | `TRANSOM_ERR_UNSUPPORTED` (-6) |
/// | `Truncated` | `TRANSOM_ERR_TRUNCATED` (-36) |
/// | `GatePanicked` | `TRANSOM_ERR_PANIC` (-3) |
#[derive(Debug, Error)]
pub enum StoreError {
    /// An expected-version check failed, or an idempotency key was reused with a different
    /// request. Nothing was stored.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A gate refused an event of the append. Nothing was stored.
    #[error("rejected by a gate (code {code}): {reason}")]
    Rejected {
        /// The gate's code, passed through unchanged.
        code: i32,
        /// The gate's reason, passed through unchanged.
        reason: String,
    },
    /// A gate panicked while judging an event. Nothing was stored; the gate stays registered
    /// and the store keeps working.
    #[error("a gate panicked: {0}")]
    GatePanicked(String),
    /// Another store (in this or another process) holds the directory's lock.
    #[error("the store directory {0} is locked by another store")]
    Locked(PathBuf),
    /// Recovery found damage it must not repair silently: anything but a torn tail.
    #[error("corrupt journal: {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the damaged frame (or header) in `file`.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// An operating-system I/O call failed.
    #[error("I/O error: {context}: {source}")]
    Io {
        /// What the store was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No visible event has this id.
    #[error("no such event")]
    NotFound,
    /// No gate is registered with this id (never registered, already removed, or removed by
    /// [`Store::close`](super::Store::close)).
    #[error("no gate with id {0}")]
    GateNotFound(u64),
    /// An argument is outside its documented range (stream name, key, batch).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The payload exceeds the configured maximum.
    #[error("payload of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// The configured `max_payload`.
        max: usize,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// The store directory (or the request) needs something this version does not do, e.g.
    /// a directory written in an older on-disk format.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The event asked for was removed by retention or [`Store::truncate`](super::Store::truncate)
    /// (or an idempotency key's original event was: the retry is refused rather than stored
    /// twice).
    #[error("removed by retention: the log now starts at sequence {first_retained}")]
    Truncated {
        /// The lowest sequence still in the log.
        first_retained: u64,
    },
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        StoreError::Corrupt {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}
