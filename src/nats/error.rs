//! The errors of the NATS layer (mirror, remote cursors, connection), mapped to C status codes
//! in `ffi/status.rs` and nowhere else.

use std::path::PathBuf;

/// What went wrong talking to NATS JetStream.
///
/// | variant | C status |
/// |---|---|
/// | `InvalidOptions` | `TRANSOM_ERR_INVALID_ARGUMENT` |
/// | `Credentials` | `TRANSOM_ERR_INVALID_ARGUMENT` |
/// | `Unavailable` | `TRANSOM_ERR_UNAVAILABLE` |
/// | `Timeout` | `TRANSOM_ERR_UNAVAILABLE` |
/// | `Refused` | `TRANSOM_ERR_UNAVAILABLE` |
/// | `Diverged` | `TRANSOM_ERR_DIVERGED` |
/// | `TooLarge` | `TRANSOM_ERR_TOO_LARGE` (value: the event's sequence) |
/// | `Corrupt` | `TRANSOM_ERR_CORRUPT` (value: the JetStream sequence) |
/// | `Store` | the store error's own status |
/// | `Closed` | `TRANSOM_ERR_CLOSED` |
/// | `Runtime` | `TRANSOM_ERR_IO` |
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The options are unusable (no URL, a bad URL, a bad stream name or prefix, …).
    #[error("invalid NATS options: {0}")]
    InvalidOptions(String),
    /// The credentials file could not be read or parsed.
    #[error("NATS credentials file {path}: {reason}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why it is unusable.
        reason: String,
    },
    /// No server could be reached, or the connection was lost.
    #[error("NATS server unavailable: {0}")]
    Unavailable(String),
    /// The server did not answer in time.
    #[error("NATS request timed out: {0}")]
    Timeout(String),
    /// The server answered with an error (JetStream API or publish).
    #[error("JetStream refused: {0}")]
    Refused(String),
    /// The JetStream stream holds events the store does not, or different ones: continuing
    /// would make the two logs disagree.
    #[error("JetStream stream diverged from the store at sequence {sequence}: {reason}")]
    Diverged {
        /// The first sequence where they disagree.
        sequence: u64,
        /// What disagrees.
        reason: String,
    },
    /// An event's message is larger than the server's `max_payload`.
    #[error("event {sequence} needs a {size}-byte message; the server's max_payload is {max}")]
    TooLarge {
        /// The event's sequence.
        sequence: u64,
        /// Its message size (payload + headers).
        size: usize,
        /// The server's limit.
        max: usize,
    },
    /// A JetStream message is not a transom event (see [`super::envelope::EnvelopeError`]).
    #[error("JetStream message {sequence} is not a transom event: {reason}")]
    Corrupt {
        /// The JetStream sequence of the message.
        sequence: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading the local store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The mirror or canal was closed.
    #[error("closed")]
    Closed,
    /// The private runtime thread could not be started or is gone.
    #[error("NATS runtime: {0}")]
    Runtime(String),
}

impl NatsError {
    /// Whether retrying later can help (the server may come back); the rest are final.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            NatsError::Unavailable(_) | NatsError::Timeout(_) | NatsError::Refused(_)
        )
    }
}
