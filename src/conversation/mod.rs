//! Supervised conversations: a conversation actor linked to its participants, with crash
//! policies and crash notification (in progress: the W3C trace context every request carries).
//!
//! Invariant: every request of a conversation carries the conversation's trace id; children
//! keep it and get new span ids.

mod trace;

pub use trace::{TraceContext, TraceParseError, TRACE_FLAG_SAMPLED};
