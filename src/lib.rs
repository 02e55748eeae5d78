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
//!
//! The Rust API of each subsystem is complete on its own; [`ffi`] is the C ABI over it and holds
//! no logic beyond conversion, argument checks and ownership.

#![warn(missing_docs)]

// The actor and conversation modules are pure Rust APIs; their C ABI lives in `ffi/` (cbindgen
// must not export the Rust types themselves).
#[doc = "cbindgen:ignore"]
pub mod actor;
#[doc = "cbindgen:ignore"]
pub mod conversation;
pub mod ffi;
pub mod memory;
