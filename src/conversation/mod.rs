//! Supervised conversations: an actor that traps exits, is linked to its participants, forwards
//! requests (each with a request id and a W3C `traceparent`), buffers their replies for `receive`,
//! and applies a crash policy — FAIL, ROUTE_TO_NEXT or COMPENSATE — when a participant crashes
//! (exits with a kind other than NORMAL or SHUTDOWN).
//!
//! Invariant: a conversation never blocks forever and never loses track of a crash: every blocking
//! call takes a timeout and is also ended by close, the conversation's own deadline and the actor's
//! death; every crash is recorded once, with its reason unchanged, and reported once to each crash
//! callback registered when (or after) it happened.
//!
//! Participants speak the small byte protocol in [`wire`](crate::conversation::wire): a request
//! arrives as a user message from the conversation's pid; the reply goes back with [`reply`] or
//! [`reply_from_mailbox`], which first check that the conversation still awaits that request.
//!
//! Files: `config` (how to open), `state` (what is reported), `shared` (the state under one lock),
//! `callbacks` (the crash-callback registry), `actor` (the conversation's process), `handle` (the
//! [`Conversation`] API), `replies` (the participants' side), `clock`, `phase`, `policy`, `trace`.

mod actor;
mod callbacks;
mod clock;
mod config;
mod error;
mod handle;
mod phase;
mod policy;
mod replies;
mod shared;
mod state;
mod trace;
pub mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wake_tests;

pub use callbacks::CrashCallbackId;
pub use clock::monotonic_ns;
pub use config::{ConversationConfig, Mode, Participant};
pub use error::ConversationError;
pub use handle::Conversation;
pub use phase::{Phase, PhaseError, PhaseEvent};
pub use policy::{next_live, CompensateFn, Compensation, CrashPolicy, InFlight, OnCrash};
pub use replies::{reply, reply_from_mailbox};
pub use state::{ConversationState, CrashInfo, Health, ParticipantState, Reply, ReplyHeader};
pub use trace::{TraceContext, TraceparentError, FLAG_SAMPLED, TRACEPARENT_LEN};
