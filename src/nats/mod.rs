//! Beyond one machine: NATS JetStream as the replicated log a store is mirrored to and remote
//! cursors read from (issue 9). Behind the `nats` cargo feature (on by default); without it
//! only the pure [`envelope`] exists and the C functions return `TRANSOM_ERR_UNSUPPORTED`.
//!
//! Invariant: a JetStream stream written by transom holds one message per event, in sequence
//! order, and its stream sequence equals the transom sequence; the message's headers carry the
//! whole event ([`envelope`]). Nothing async leaks out: each mirror or remote canal owns a
//! private [`runtime::NatsRuntime`] and its public calls block with timeouts.

pub mod envelope;

#[cfg(feature = "nats")]
pub mod connect;
#[cfg(feature = "nats")]
pub mod error;
#[cfg(feature = "nats")]
pub mod mirror;
#[cfg(feature = "nats")]
pub mod remote;
#[cfg(feature = "nats")]
mod remote_inbox;
#[cfg(feature = "nats")]
pub mod runtime;

#[cfg(feature = "nats")]
pub use connect::{Connection, NatsOptions};
pub use envelope::{Envelope, EnvelopeError};
#[cfg(feature = "nats")]
pub use error::NatsError;
#[cfg(feature = "nats")]
pub use mirror::{Mirror, MirrorOptions, MirrorState, MirrorStatus, MirrorWait};
