//! The canal subsystem's errors.

use thiserror::Error;

/// Why a canal operation did not deliver.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CanalError {
    /// The canal is closed and every buffered item was already handed out.
    #[error("the canal is closed")]
    Closed,
    /// A DISCONNECT subscription overflowed; it was closed after its buffered items.
    #[error("the subscription overflowed its buffer and was disconnected")]
    Disconnected,
    /// An argument is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}
