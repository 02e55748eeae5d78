//! The actor subsystem's errors. Each variant maps to exactly one C status code (done in
//! `ffi/status.rs` once the actor C API exists), so the same misuse gives the same code from
//! every entry point.

use thiserror::Error;

/// Why an actor-runtime operation failed. A failed operation changed nothing unless its
/// documentation says otherwise (linking to a dead pid still delivers the `NOPROC` signal).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ActorError {
    /// The pid names no live process (it exited, or was never spawned by this runtime).
    #[error("no such process: the pid is dead or was never spawned")]
    NoProc,
    /// The runtime is shut down, or this mailbox's own process has exited.
    #[error("closed: the runtime is shut down or the process has exited")]
    Closed,
    /// A blocking call reached its timeout; nothing was consumed.
    #[error("the timeout expired")]
    Timeout,
    /// An argument is out of its documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The operating system refused a resource (a worker thread could not be started).
    #[error("out of resources: {0}")]
    OutOfResources(String),
}
