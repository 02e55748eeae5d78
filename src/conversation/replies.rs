//! Replies from participants: the one path that checks, synchronously, that a conversation
//! still awaits the request a reply answers, before the reply is sent to it.
//!
//! Every open conversation is registered here under its runtime and pid, so the reply
//! functions — which only know a pid — reach its state. A reply claims its request id under
//! the conversation's lock (a second claim is refused) and is then sent as an ordinary message,
//! so replies keep the runtime's per-sender FIFO order with everything else the participant
//! sends.
//!
//! Invariant: an entry exists exactly while its [`Conversation`](super::Conversation) value
//! does (registered by `open`, removed by `drop`); the key's runtime is kept alive by that
//! value, so its address names one runtime for the entry's whole life.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use crate::actor::{ActorError, Mailbox, PendingSend, Pid, RuntimeHandle};
use crate::sync::RwLock;

use super::error::ConversationError;
use super::shared::Shared;
use super::wire::encode_reply;

/// (runtime identity, conversation pid): pids are unique within a runtime only.
type Key = (usize, Pid);

fn conversations() -> &'static RwLock<HashMap<Key, Weak<Shared>>> {
    static CONVERSATIONS: OnceLock<RwLock<HashMap<Key, Weak<Shared>>>> = OnceLock::new();
    CONVERSATIONS.get_or_init(|| RwLock::new(HashMap::new()))
}

fn key(rt: &RuntimeHandle, pid: Pid) -> Key {
    (Arc::as_ptr(&rt.inner) as *const () as usize, pid)
}

pub(super) fn register(rt: &RuntimeHandle, pid: Pid, shared: &Arc<Shared>) {
    conversations()
        .write()
        .insert(key(rt, pid), Arc::downgrade(shared));
}

pub(super) fn unregister(rt: &RuntimeHandle, pid: Pid) {
    conversations().write().remove(&key(rt, pid));
}

/// Claims `request_id` of `conversation` and sends the encoded reply with `send`.
fn reply_with<'r>(
    rt: &'r RuntimeHandle,
    conversation: Pid,
    request_id: u64,
    payload: &[u8],
    send: impl FnOnce(Pid, Vec<u8>) -> Result<PendingSend<'r>, ActorError>,
) -> Result<(), ConversationError> {
    let shared = conversations()
        .read()
        .get(&key(rt, conversation))
        .and_then(Weak::upgrade)
        .ok_or(ConversationError::NoConversation(conversation))?;
    // The actor is woken (or run inline) once the state lock is released: declared before
    // the guard, this is dropped after it, so the actor finds the lock free.
    let mut wake_after_unlock = Vec::with_capacity(1);
    let mut st = shared.lock();
    if st.enforce_deadline() {
        shared.notify(&mut st);
    }
    if st.phase.is_ended() {
        return Err(st.ended_error());
    }
    if !st.in_flight.contains_key(&request_id) || !st.answered.insert(request_id) {
        return Err(ConversationError::RequestNotFound {
            conversation,
            request_id,
        });
    }
    // Sent under the lock: a crash of the sender handled meanwhile cannot orphan (and
    // re-forward) a request whose reply is already queued.
    match send(conversation, encode_reply(request_id, payload)) {
        Ok(pending) => {
            wake_after_unlock.push(pending);
            Ok(())
        }
        Err(e) => {
            st.answered.remove(&request_id);
            Err(e.into())
        }
    }
}

/// Replies to request `request_id` of `conversation` as process `from` (how a behaviour
/// replies: pass its own pid).
///
/// Checked before anything is sent: `NoConversation` when `conversation` names no open
/// conversation of `rt` (it was never one, or it was dropped); `Closed`, `ParticipantCrashed`
/// or `DeadlineExceeded` when the conversation has ended (it takes no more replies);
/// `RequestNotFound` when it awaits no request with that id (never sent, answered already —
/// also by a reply still on its way —, or given up after its participant crashed).
pub fn reply(
    rt: &RuntimeHandle,
    from: Pid,
    conversation: Pid,
    request_id: u64,
    payload: &[u8],
) -> Result<(), ConversationError> {
    reply_with(rt, conversation, request_id, payload, |to, bytes| {
        rt.send_from_pending(from, to, bytes)
    })
}

/// Replies to request `request_id` of `conversation` from `mailbox`'s process (how a thread
/// owning a mailbox replies). The checks and errors of [`reply`].
pub fn reply_from_mailbox(
    mailbox: &Mailbox,
    conversation: Pid,
    request_id: u64,
    payload: &[u8],
) -> Result<(), ConversationError> {
    // A mailbox whose process has exited refuses every call with Closed, this one included,
    // before anything about the conversation is looked at (one rule for every mailbox call).
    if mailbox.exit_reason().is_some() {
        return Err(ConversationError::Closed);
    }
    reply_with(
        mailbox.runtime(),
        conversation,
        request_id,
        payload,
        |to, bytes| mailbox.send_pending(to, bytes),
    )
}
