//! # transom
//!
//! Runtime building blocks for C, C++, Python and Rust programs, shipped as one C-ABI library
//! (`libtransom.so` / `libtransom.a` + `include/transom.h`):
//!
//! - [`memory`]: slot memory managers. Store a message (fixed [`memory::Header`] + payload
//!   bytes), get a by-value [`memory::Token`], read, write or free it by token from any thread.
//!   Stale, foreign and forged tokens are refused with an error, never honoured.
//! - [`store`]: an embedded, append-only event store, in memory or on disk (CRC-checked
//!   segments, directory lock, crash recovery, group commit), with stable dense sequences,
//!   streams with expected versions, idempotency keys, gates and a causal graph.
//! - [`conversation`]: supervised conversations (in progress: W3C trace context).
//! - [`canal`]: consumers that pull batches of store events across threads: ordered,
//!   at-least-once cursors with ack and durable named checkpoints, live subscriptions with a
//!   bounded buffer, overflow policies and in-band gaps, lossless close, and worker threads
//!   with batch callbacks.
//!
//! The Rust API of each subsystem is complete on its own; [`ffi`] is the C ABI over it and holds
//! no logic beyond conversion, argument checks and ownership.

#![warn(missing_docs)]

pub mod canal;
pub mod conversation;
pub mod ffi;
pub mod memory;
pub mod store;
