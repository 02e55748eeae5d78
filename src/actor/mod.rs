//! A native actor runtime in the BEAM's image — no VM, no async runtime: processes with pids,
//! mailboxes, links, monitors and exit signals, run on a small pool of worker threads.
//!
//! - **Callback processes** ([`RuntimeHandle::spawn`](crate::actor::RuntimeHandle::spawn)) run a
//!   [`Behaviour`](crate::actor::Behaviour) for one message at a time, on a worker. An
//!   `Err(reason)` or a panic ends only that process.
//! - **Mailbox processes**
//!   ([`RuntimeHandle::open_mailbox`](crate::actor::RuntimeHandle::open_mailbox)) belong to an
//!   external thread that calls [`Mailbox::receive`](crate::actor::Mailbox::receive) with a
//!   timeout; dropping the handle ends the process `DROPPED`.
//! - **Exit reasons are data** ([`ExitReason`](crate::actor::ExitReason): kind, code, message) and
//!   reach links, `EXIT` messages and monitors unchanged.
//! - **Links** follow Erlang: an abnormal exit kills linked processes that do not trap exits;
//!   trapping ones get [`Message::Exit`](crate::actor::Message::Exit); `NORMAL` and `SHUTDOWN`
//!   exits (an orderly stop, whoever sends it) kill nobody; linking to a dead pid delivers
//!   `NOPROC` at once. **Monitors** are one-way callbacks, exactly once.
//! - **Pid 0** ([`Pid::NONE`](crate::actor::Pid::NONE)) names no process: as a target it gives
//!   `NoProc` with no other effect.
//! - **Timers** ([`RuntimeHandle::send_after`](crate::actor::RuntimeHandle::send_after)) deliver a
//!   message after a delay: the way a callback process, which must not block, gets a timeout.
//!
//! Invariant: all topology (who is alive, links, monitors, trap flags) changes under one table
//! lock, so exit cascades are atomic; no user code ever runs under a runtime lock.
//!
//! # Modules, bottom up (no module uses one above it)
//!
//! `pid`, `reason`, `message`, `error` (data) → `monitor`, `scheduler`, `timer` (primitives) →
//! `options` (spawn options) → `process` (one process's queue and exit state) → `table` (the
//! process table and the exit cascade) → `context` (`Behaviour`, `ProcessContext`, the
//! `RuntimeHandle` type) → `handle` (the handle's operations), `mailbox` (mailbox processes) →
//! `runtime` (the owner, its workers and `close`).
//!
//! # Threads and callbacks
//!
//! - A behaviour's `handle` runs on a worker, for one message at a time per process (never on two
//!   workers at once); different processes run in parallel. (Crate-internal processes that
//!   never block and run no user code — the conversation actor — may instead be run by the
//!   thread whose send or exit signal found them idle, under the same one-at-a-time rule: see
//!   `process.rs`, "Inline runs". User behaviours always run on workers.)
//! - A behaviour is dropped exactly once after its process exited, on a worker or on the thread
//!   whose call ended the process (`exit`, a link cascade, `Mailbox` drop), never under a lock.
//! - Monitor callbacks run on a worker, once, after the exit is final. `demonitor` waits for a
//!   callback running on another thread and returns at once from inside the callback itself.
//! - A runtime runs its workers plus one timer thread, all parked (no CPU) when there is nothing
//!   to do; closing (or dropping) the runtime joins them all.
//! - Every call may be made from any thread, including from inside behaviours and monitor
//!   callbacks. [`Runtime::close`](crate::actor::Runtime::close) waits for running `handle` calls
//!   to return, so a behaviour must not block forever (a blocked
//!   [`Mailbox::receive`](crate::actor::Mailbox::receive) is woken with `Closed`).
//! - Timed waits that expire are outcomes, not errors: a receive returns `Ok(None)`.
//! - A process killed while its `handle` runs is dead at once for everyone else (sends to it fail
//!   with `NoProc`, monitors fire); the `handle` call finishes, but cannot send any more.
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
//! let got = inbox.receive(Duration::from_secs(5)).unwrap().expect("a reply in time");
//! assert_eq!(got.bytes(), Some(&b"ping"[..]));
//! ```

mod context;
mod error;
mod handle;
mod mailbox;
mod message;
mod monitor;
mod options;
mod pid;
mod process;
mod reason;
mod runtime;
mod scheduler;
mod table;
mod timer;

#[cfg(test)]
mod inline_tests;
#[cfg(test)]
mod tests;

pub(crate) use context::PendingSend;
pub use context::{Behaviour, ProcessContext, RuntimeHandle};
pub use error::ActorError;
pub use mailbox::Mailbox;
pub use message::Message;
pub use monitor::MonitorCallback;
pub use options::{SpawnOptions, Spawned};
pub use pid::{MonitorRef, Pid, TimerRef};
pub use reason::{ExitKind, ExitReason};
pub use runtime::Runtime;
