//! The crash-callback registry of one conversation, built on the crate's callback-lifetime
//! primitive ([`Registration`]): ids for removal, exactly-once delivery per crash, replay of
//! past crashes to late registrations.
//!
//! Invariant: the registry is only changed under the conversation's state lock, and callbacks
//! are only invoked with that lock released. A crash is recorded and the callbacks to tell are
//! snapshotted in the same critical section in which a registration records itself and
//! snapshots the past crashes, so every (callback, crash) pair is delivered exactly once:
//! either by the actor or by the registration's replay, never both, never neither.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::sync::Registration;

use super::state::CrashInfo;

/// A crash callback as the registry holds it.
pub(crate) type CrashFn = Box<dyn Fn(&CrashInfo) + Send + Sync>;

/// Names a crash callback for
/// [`Conversation::remove_crash_callback`](super::Conversation::remove_crash_callback). Never 0,
/// never reused within a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CrashCallbackId(u64);

impl CrashCallbackId {
    /// The id with the raw number `raw` (as the C API passes it).
    pub const fn from_u64(raw: u64) -> Self {
        CrashCallbackId(raw)
    }

    /// The raw number (as the C API passes it).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CrashCallbackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The registered callbacks of one conversation.
#[derive(Default)]
pub(super) struct CrashCallbacks {
    last_id: u64,
    live: BTreeMap<u64, Registration<CrashFn>>,
}

impl CrashCallbacks {
    /// Registers `callback`; the registration is returned too, for the replay.
    pub(super) fn add(&mut self, callback: CrashFn) -> (CrashCallbackId, Registration<CrashFn>) {
        self.last_id += 1;
        let reg = Registration::new(callback);
        self.live.insert(self.last_id, reg.clone());
        (CrashCallbackId(self.last_id), reg)
    }

    /// Unregisters `id`; the caller closes the registration with the lock released.
    pub(super) fn remove(&mut self, id: CrashCallbackId) -> Option<Registration<CrashFn>> {
        self.live.remove(&id.0)
    }

    /// Whether no callback is registered.
    pub(super) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The callbacks to tell about a crash being recorded now.
    pub(super) fn snapshot(&self) -> Vec<Registration<CrashFn>> {
        self.live.values().cloned().collect()
    }

    /// Every registration, unregistered (the conversation is going away).
    pub(super) fn take_all(&mut self) -> Vec<Registration<CrashFn>> {
        std::mem::take(&mut self.live).into_values().collect()
    }
}

/// Tells each of `callbacks` about `info` (a removed one is skipped; a panic is contained).
pub(super) fn deliver(callbacks: &[Registration<CrashFn>], info: &CrashInfo) {
    for reg in callbacks {
        reg.invoke(|f| {
            let _ = catch_unwind(AssertUnwindSafe(|| f(info)));
        });
    }
}
