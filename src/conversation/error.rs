//! The conversation subsystem's errors; each maps to one C status code (in `ffi/status.rs`).
//! A timed wait that expires is not an error (`Ok(None)`).

use thiserror::Error;

use super::callbacks::CrashCallbackId;
use super::phase::PhaseError;
use crate::actor::{ActorError, Pid};

/// Why a conversation operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConversationError {
    /// The conversation is closed (or its actor is gone, e.g. the runtime shut down).
    #[error("the conversation is closed")]
    Closed,
    /// A participant is dead: at `open`, or no live participant is left to send to.
    #[error("no such process: a participant is dead")]
    NoProc,
    /// A reply names a pid that is no open conversation of that runtime.
    #[error("no conversation with pid {}", .0.as_raw())]
    NoConversation(Pid),
    /// A participant crashed and the policy failed the conversation.
    #[error("a participant crashed and the conversation failed")]
    ParticipantCrashed,
    /// The conversation's configured deadline passed (phase DEADLINE_EXCEEDED).
    #[error("the conversation's deadline passed")]
    DeadlineExceeded,
    /// The operation is not allowed in the current phase.
    #[error(transparent)]
    WrongPhase(#[from] PhaseError),
    /// The oldest reply does not fit the caller's buffer; it stays first in line.
    #[error("the reply has {needed} bytes; it is kept for the next receive")]
    BufferTooSmall {
        /// The reply's payload length: the capacity a receive needs.
        needed: usize,
    },
    /// No crash callback is registered with that id.
    #[error("no crash callback with id {0}")]
    CrashCallbackNotFound(CrashCallbackId),
    /// The conversation awaits no request with that id (never sent, already answered, or
    /// given up after its participant crashed).
    #[error("conversation {} awaits no request with id {request_id}", .conversation.as_raw())]
    RequestNotFound {
        /// The conversation replied to.
        conversation: Pid,
        /// The request id the reply named.
        request_id: u64,
    },
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
            ActorError::InvalidArgument(what) => ConversationError::InvalidArgument(what),
            // Closed, out of resources: the runtime cannot serve the conversation any more.
            ActorError::Closed | ActorError::OutOfResources(_) => ConversationError::Closed,
        }
    }
}
