//! What a process receives: user bytes, or an `EXIT` signal turned into a message because the
//! receiver traps exits.
//!
//! Invariant: messages are plain owned data; nothing in a message refers back into the runtime,
//! so dropping a queued message never runs user code.

use super::pid::Pid;
use super::reason::ExitReason;

/// One message in a process's mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Bytes sent with `send`. `from` is the sending process, or [`Pid::NONE`] when a plain
    /// thread sent it through the runtime handle.
    User {
        /// The sender ([`Pid::NONE`] from outside the runtime).
        from: Pid,
        /// The payload, owned by the receiver.
        bytes: Box<[u8]>,
    },
    /// An exit signal received while trapping exits: a linked process exited (any reason,
    /// normal included), or someone called `exit` on this process with a trappable reason.
    Exit {
        /// The process the signal came from ([`Pid::NONE`] for `exit` called from outside).
        pid: Pid,
        /// Its reason, unchanged.
        reason: ExitReason,
    },
}

impl Message {
    /// The payload of a user message, `None` for an exit message.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Message::User { bytes, .. } => Some(bytes),
            Message::Exit { .. } => None,
        }
    }
}
