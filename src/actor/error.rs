//! The actor subsystem's errors. Each variant maps to exactly one C status code (in
//! `ffi/status.rs`), so the same misuse gives the same code from every entry point. A timed wait
//! that expires is not an error: it is an `Ok` outcome (e.g. `Ok(None)` from a receive).

use thiserror::Error;

/// Why an actor-runtime operation failed. A failed operation changed nothing unless its
/// documentation says otherwise (linking to a dead pid still delivers the `NOPROC` signal).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ActorError {
    /// The pid names no live process: it exited, was never spawned by this runtime, or is
    /// [`Pid::NONE`](super::Pid::NONE) (0), which names no process.
    #[error("no such process: the pid is dead, was never spawned, or is 0")]
    NoProc,
    /// The runtime is closed, or the calling process (a mailbox's or a context's own) has
    /// exited.
    #[error("closed: the runtime is closed or the process has exited")]
    Closed,
    /// An argument is out of its documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The operating system refused a resource (a worker thread could not be started).
    #[error("out of resources: {0}")]
    OutOfResources(String),
}
