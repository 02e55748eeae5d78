//! # transom
//!
//! Runtime building blocks for C, C++, Python and Rust programs, shipped as one C-ABI library
//! (`libtransom.so` / `libtransom.a` + `include/transom.h`):
//!
//! - [`memory`]: slot memory managers. Store a message (fixed [`memory::Header`] + payload
//!   bytes), get a by-value [`memory::Token`], read, write or free it by token from any thread.
//!   Stale, foreign and forged tokens are refused with an error, never honoured.
//! - [`actor`]: a native actor runtime in the BEAM's image (no VM, no async runtime):
//!   processes with never-reused pids, mailboxes, links, monitors and exit reasons as data, on
//!   a small pool of worker threads.
//! - [`conversation`]: supervised conversations on that runtime: a trapping actor linked to its
//!   participants, request ids and W3C trace context, FAIL / ROUTE_TO_NEXT / COMPENSATE crash
//!   policies, crash notification.
//! - [`store`]: an embedded, append-only event store, in memory or on disk (CRC-checked
//!   segments, directory lock, crash recovery, group commit), with stable dense sequences,
//!   streams with expected versions, idempotency keys, gates and a causal graph.
//! - [`canal`]: consumers that pull batches of store events across threads: ordered,
//!   at-least-once cursors with ack and durable named checkpoints, live subscriptions with a
//!   bounded buffer, overflow policies and in-band gaps, lossless close, and worker threads
//!   with batch callbacks.
//! - [`nats`]: beyond one machine — a store mirrored to a replicated NATS JetStream stream,
//!   every event exactly once with equal sequences, and the envelope remote cursors decode
//!   (feature `nats`, on by default).
//!
//! The Rust API of each subsystem is complete on its own; [`ffi`] is the C ABI over it and holds
//! no logic beyond conversion, argument checks and ownership.

#![warn(missing_docs)]

// The subsystems are pure Rust APIs; their C ABI lives in `ffi/`, so cbindgen must not export
// their Rust items. `memory` is the exception: its repr(C) header, token and stats types are
// the C types themselves.
#[doc = "cbindgen:ignore"]
pub mod actor;
#[doc = "cbindgen:ignore"]
pub mod canal;
#[doc = "cbindgen:ignore"]
pub mod conversation;
pub mod ffi;
pub mod memory;
#[doc = "cbindgen:ignore"]
pub mod nats;
#[doc = "cbindgen:ignore"]
pub mod store;
#[doc = "cbindgen:ignore"]
mod sync;
