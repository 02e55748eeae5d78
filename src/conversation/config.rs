//! How a conversation is opened: its participants, its required crash policy, its optional
//! deadline and its mode.
//!
//! Invariant: the crash policy never defaults — a [`ConversationConfig`] cannot be built
//! without one.

use std::time::Duration;

use crate::actor::{Behaviour, Pid};

use super::policy::OnCrash;

/// What happens to the conversation's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is kept beyond the conversation's life.
    Ephemeral,
    /// Sends, replies and crashes journaled into a transom store — refused with `Unsupported`
    /// until the store is wired in.
    Durable,
}

/// A participant given to `open`.
pub enum Participant {
    /// An existing process; it is linked at open and unlinked (not stopped) at close.
    External(Pid),
    /// A behaviour the conversation spawns (linked atomically) and stops at close.
    Spawn(Box<dyn Behaviour>),
}

impl Participant {
    /// A participant the conversation spawns from `behaviour`.
    pub fn spawn(behaviour: impl Behaviour) -> Participant {
        Participant::Spawn(Box::new(behaviour))
    }
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Participant::External(pid) => write!(f, "External({pid})"),
            Participant::Spawn(_) => f.write_str("Spawn(..)"),
        }
    }
}

/// How to open a conversation. The crash policy is required: there is no default.
#[derive(Debug)]
pub struct ConversationConfig {
    pub(super) participants: Vec<Participant>,
    pub(super) timeout: Option<Duration>,
    pub(super) mode: Mode,
    pub(super) on_crash: OnCrash,
}

impl ConversationConfig {
    /// Participants (at least one) and the crash policy; EPHEMERAL, no deadline.
    pub fn new(participants: Vec<Participant>, on_crash: OnCrash) -> Self {
        ConversationConfig {
            participants,
            timeout: None,
            mode: Mode::Ephemeral,
            on_crash,
        }
    }

    /// The conversation's deadline is `timeout` after `open` (then phase DEADLINE_EXCEEDED).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// EPHEMERAL or DURABLE.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
}
