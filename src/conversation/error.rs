//! The conversation subsystem's errors; each maps to one C status code (in `ffi/status.rs`,
//! once the conversation C API exists).

use thiserror::Error;

use super::phase::PhaseError;
use crate::actor::ActorError;

/// Why a conversation operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConversationError {
    /// The conversation is closed (or its actor is gone, e.g. the runtime shut down).
    #[error("the conversation is closed")]
    Closed,
    /// A participant is dead: at `open`, or no live participant is left to send to.
    #[error("no such process: a participant is dead")]
    NoProc,
    /// A participant crashed and the policy failed the conversation.
    #[error("a participant crashed and the conversation failed")]
    ParticipantCrashed,
    /// The call's own timeout expired; nothing was consumed.
    #[error("the timeout expired")]
    Timeout,
    /// The conversation's configured timeout expired (phase TIMED_OUT).
    #[error("the conversation timed out")]
    TimedOut,
    /// The operation is not allowed in the current phase.
    #[error(transparent)]
    WrongPhase(#[from] PhaseError),
    /// The requested feature or mode is not supported yet.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// An argument is out of its documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

impl From<ActorError> for ConversationError {
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::NoProc => ConversationError::NoProc,
            ActorError::Closed => ConversationError::Closed,
            ActorError::InvalidArgument(what) => ConversationError::InvalidArgument(what),
            ActorError::OutOfResources(_) => ConversationError::Closed,
        }
    }
}
