//! Supervised conversations: an actor that traps exits, is linked to its participants, forwards
//! requests (each with a request id and a W3C `traceparent`), buffers their replies for `receive`,
//! and applies a crash policy — FAIL, ROUTE_TO_NEXT or COMPENSATE — when a participant exits
//! abnormally.
//!
//! Invariant: a conversation never blocks forever and never loses track of a crash: every blocking
//! call takes a timeout and is also ended by close, the conversation's own deadline and the actor's
//! death; every abnormal participant exit is recorded once, with its reason unchanged, and reported
//! once to each crash callback.
//!
//! Participants speak the small byte protocol in [`wire`](crate::conversation::wire): a request
//! arrives as a user message from the conversation's pid; the reply is
//! [`wire::encode_reply`](crate::conversation::wire::encode_reply) sent back to that pid.

mod actor;
mod error;
mod phase;
mod policy;
mod trace;
pub mod wire;

#[cfg(test)]
mod tests;

pub use actor::{
    monotonic_ns, Conversation, ConversationConfig, ConversationState, CrashInfo, Health, Mode,
    Participant, ParticipantState, Reply,
};
pub use error::ConversationError;
pub use phase::{Phase, PhaseError, PhaseEvent};
pub use policy::{next_live, CompensateFn, Compensation, CrashPolicy, InFlight, OnCrash};
pub use trace::{TraceContext, TraceparentError, FLAG_SAMPLED, TRACEPARENT_LEN};
