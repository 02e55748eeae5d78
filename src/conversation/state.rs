//! What a conversation reports: replies, crash records and state snapshots (plain data, every
//! time on [`monotonic_ns`](super::monotonic_ns)'s clock).
//!
//! Invariant: these are copies — holding one never holds the conversation's lock.

use crate::actor::{ExitReason, Pid};

use super::phase::Phase;
use super::policy::CrashPolicy;
use super::trace::TraceContext;

/// A participant's health in a [`ConversationState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Linked and alive (as far as the conversation has seen).
    Alive,
    /// Exited without crashing (NORMAL or SHUTDOWN).
    Exited,
    /// Exited abnormally; the crash policy was applied.
    Crashed,
}

/// One participant in a [`ConversationState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantState {
    /// Its pid.
    pub pid: Pid,
    /// Whether the conversation spawned it (then close stops it).
    pub spawned: bool,
    /// Its health.
    pub health: Health,
    /// Its exit reason, once exited.
    pub exit_reason: Option<ExitReason>,
    /// When the conversation observed the exit ([`monotonic_ns`](super::monotonic_ns)).
    pub exited_at_ns: Option<u64>,
}

/// A participant crash, as given to crash callbacks and `await_crash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashInfo {
    /// The conversation's pid.
    pub conversation: Pid,
    /// The participant that crashed.
    pub participant: Pid,
    /// Its index among the conversation's participants (open order, from 0).
    pub participant_index: usize,
    /// Its exit reason, unchanged.
    pub reason: ExitReason,
    /// The policy that was applied.
    pub policy: CrashPolicy,
    /// When the conversation observed the exit ([`monotonic_ns`](super::monotonic_ns)).
    pub observed_at_ns: u64,
}

/// A snapshot of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    /// The conversation actor's pid.
    pub pid: Pid,
    /// The phase.
    pub phase: Phase,
    /// The configured deadline on [`monotonic_ns`](super::monotonic_ns)'s clock, if any.
    pub deadline_ns: Option<u64>,
    /// The participants, in `open` order.
    pub participants: Vec<ParticipantState>,
    /// Requests forwarded (re-forwards not counted).
    pub sent: u64,
    /// Replies handed to `receive`.
    pub received: u64,
    /// Participants that crashed.
    pub crashed: u64,
    /// Requests without a reply taken by the conversation yet.
    pub in_flight: usize,
    /// Replies buffered for `receive`.
    pub buffered: usize,
    /// The conversation's trace context (requests carry children of it).
    pub trace: TraceContext,
}

/// A participant's reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request it answers.
    pub request_id: u64,
    /// The process that sent it.
    pub from: Pid,
    /// Its payload.
    pub payload: Box<[u8]>,
}

/// A reply taken by [`Conversation::receive_into`](super::Conversation::receive_into): its
/// payload went to the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The request it answers.
    pub request_id: u64,
    /// The process that sent it.
    pub from: Pid,
    /// The payload's length (the bytes written to the buffer).
    pub len: usize,
}
