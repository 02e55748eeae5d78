//! Crate-private synchronisation: poison-free locks, the panic-message helper, and a shim that
//! swaps every primitive for loom's under `--cfg loom` (tokio's `src/loom` pattern), so the
//! library's own code can be model-checked.
//!
//! Invariant: code elsewhere in the crate takes `Mutex`, `Condvar`, `RwLock` (and, in modules
//! with loom models, `Arc` and `atomic`) from here, never from `std::sync` directly; a lock is
//! never poisoned (every state guarded by one is valid between statements, so a panic while
//! holding it leaves nothing half-written that a later holder must not see).

mod callback;
mod lock;
mod panic;

pub(crate) use callback::Registration;

pub(crate) use lock::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub(crate) use panic::panic_message;

/// `Arc` and atomics: std's, or loom's in a model build.
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::{atomic, Arc};

/// `Arc` and atomics: std's, or loom's in a model build.
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{atomic, Arc};
