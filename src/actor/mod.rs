//! A native actor runtime in the BEAM's image — no VM, no async runtime: processes with pids,
//! mailboxes, links, monitors and exit signals, run on a small pool of worker threads.
//!
//! - **Callback processes** ([`RuntimeHandle::spawn`]) run a [`Behaviour`] for one message at a
//!   time, on a worker. An `Err(reason)` or a panic ends only that process.
//! - **Mailbox processes** ([`RuntimeHandle::open_mailbox`]) belong to an external thread that
//!   calls [`Mailbox::receive`] with a timeout; dropping the handle ends the process `DROPPED`.
//! - **Exit reasons are data** ([`ExitReason`]: kind, code, message) and reach links, `EXIT`
//!   messages and monitors unchanged.
//! - **Links** follow Erlang: an abnormal exit kills linked processes that do not trap exits;
//!   trapping ones get [`Message::Exit`]; normal exits kill nobody; linking to a dead pid
//!   delivers `NOPROC` at once. **Monitors** are one-way callbacks, exactly once.
//!
//! Invariant: all topology (who is alive, links, monitors, trap flags) changes under one table
//! lock, so exit cascades are atomic; no user code ever runs under a runtime lock.
//!
//! ```
//! use std::time::Duration;
//! use transom::actor::{ExitReason, Message, ProcessContext, Runtime, SpawnOptions};
//!
//! let rt = Runtime::new(2).unwrap();
//! let inbox = rt.open_mailbox(SpawnOptions::new()).unwrap();
//! let reply_to = inbox.pid();
//! let echo = rt
//!     .spawn(
//!         move |ctx: &ProcessContext, msg: Message| -> Result<(), ExitReason> {
//!             if let Message::User { bytes, .. } = msg {
//!                 let _ = ctx.send(reply_to, bytes);
//!             }
//!             Ok(())
//!         },
//!         SpawnOptions::new(),
//!     )
//!     .unwrap();
//! rt.send(echo.pid, &b"ping"[..]).unwrap();
//! let got = inbox.receive(Duration::from_secs(5)).unwrap();
//! assert_eq!(got.bytes(), Some(&b"ping"[..]));
//! ```

mod context;
mod error;
mod mailbox;
mod message;
mod monitor;
mod pid;
mod process;
mod reason;
mod runtime;
mod scheduler;

#[cfg(test)]
mod tests;

pub use context::ProcessContext;
pub use error::ActorError;
pub use mailbox::Mailbox;
pub use message::Message;
pub use monitor::MonitorCallback;
pub use pid::{MonitorRef, Pid};
pub use process::Behaviour;
pub use reason::{ExitKind, ExitReason};
pub use runtime::{Runtime, RuntimeHandle, SpawnOptions, Spawned};
