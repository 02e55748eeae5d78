//! Crate-private synchronisation: poison-free locks, the panic-message helper, the one
//! callback-lifetime primitive ([`Registration`]), and a shim that swaps every primitive for
//! loom's under `--cfg loom` (tokio's `src/loom` pattern), so the library's own code can be
//! model-checked (`RUSTFLAGS="--cfg loom" cargo test --release --no-default-features --lib loom`).
//!
//! Invariant: code elsewhere in the crate takes `Mutex`, `Condvar`, `RwLock` (and, in modules
//! with loom models, `Arc`, `atomic`, `UnsafeCell` and `thread_local!`) from here, never from
//! `std` directly; a lock is never poisoned (every state guarded by one is valid between
//! statements, so a panic while holding it leaves nothing half-written that a later holder must
//! not see).

mod callback;
mod cell;
mod lock;
mod panic;
pub(crate) mod ready_fd;
mod spin;
pub(crate) mod wake;

#[cfg(all(test, loom))]
mod loom_models;

pub(crate) use callback::Registration;
#[allow(unused_imports)]
pub(crate) use cell::UnsafeCell;

pub(crate) use lock::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub(crate) use panic::panic_message;
pub(crate) use spin::{spin_while, SpinHistory};

/// `Arc` and atomics: std's, or loom's in a model build.
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::{atomic, Arc};

/// `Arc` and atomics: std's, or loom's in a model build.
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{atomic, Arc};

/// Orders this thread's preceding SeqCst write before its following SeqCst load of another
/// location, for a store-buffering ("Dekker") handshake: each side writes its own flag, then
/// reads the other's, and at least one must see the other's write. In a real build the SeqCst
/// accesses themselves guarantee that (all SeqCst operations are in one total order; on x86 the
/// SeqCst read-modify-write is a full barrier), so this is nothing and costs nothing. loom
/// models SeqCst *accesses* only as AcqRel (its README, tokio-rs/loom#180) and would report a
/// lost wake-up that cannot happen; it does model `fence(SeqCst)`, so under loom this is one.
#[inline(always)]
pub(crate) fn seqcst_handshake() {
    #[cfg(loom)]
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}

/// `thread_local!` with a `const { … }` initialiser: std's, or loom's in a model build (loom
/// keeps one value per model thread and has no `const` form, so the braces are dropped there).
macro_rules! sync_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = const { $init:expr };) => {
        #[cfg(not(loom))]
        std::thread_local!($(#[$attr])* static $name: $t = const { $init });
        #[cfg(loom)]
        loom::thread_local!($(#[$attr])* static $name: $t = $init);
    };
}
pub(crate) use sync_thread_local as thread_local;
