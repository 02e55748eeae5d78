//! What a behaviour sees of the runtime while it handles a message: its own pid and the
//! process operations, acting as that process.
//!
//! Invariant: a context only lives for the duration of one scheduled run of its process, on
//! the worker running it; every operation goes through the same runtime entry points as the
//! [`RuntimeHandle`], so a behaviour cannot bypass the table lock or hold it while calling out.

use std::sync::Arc;

use super::error::ActorError;
use super::pid::{MonitorRef, Pid, TimerRef};
use super::process::{Behaviour, Proc};
use super::reason::ExitReason;
use super::runtime::{RuntimeHandle, SpawnOptions, Spawned};

/// The calling process's view of the runtime, passed to [`Behaviour::handle`].
///
/// A process can be killed (by a link or `exit`) while its `handle` runs; the call is not
/// interrupted, but from then on [`ProcessContext::send`] returns `Closed`, so a dead process
/// sends nothing, and the process's exit reason is available from
/// [`ProcessContext::exit_reason`].
#[derive(Debug)]
pub struct ProcessContext {
    handle: RuntimeHandle,
    proc: Arc<Proc>,
    pid: Pid,
}

impl ProcessContext {
    pub(crate) fn new(handle: RuntimeHandle, proc: Arc<Proc>) -> Self {
        let pid = proc.pid();
        ProcessContext { handle, proc, pid }
    }

    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The runtime, for operations on other processes (clone it to keep it).
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.handle
    }

    /// Sends `bytes` to `to` from this process (FIFO per receiver). `NoProc` when `to` is dead,
    /// `Closed` when this process itself has already exited.
    pub fn send(&self, to: Pid, bytes: impl Into<Box<[u8]>>) -> Result<(), ActorError> {
        if self.proc.exit_reason().is_some() {
            return Err(ActorError::Closed);
        }
        self.handle.send_from(self.pid, to, bytes)
    }

    /// Why this process exited, `None` while it is alive (it can be killed mid-`handle`).
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.proc.exit_reason()
    }

    /// Sends an exit signal from this process to `to` (see [`RuntimeHandle::exit_from`]).
    /// Targeting this process itself takes effect when the current `handle` call returns.
    pub fn exit(&self, to: Pid, reason: ExitReason) -> Result<(), ActorError> {
        self.handle.exit_from(self.pid, to, reason)
    }

    /// Sends `bytes` to `to` (often this process itself, for a timeout) once `delay` has passed,
    /// from this process. See [`RuntimeHandle::send_after`]; cancel with
    /// [`RuntimeHandle::cancel_timer`].
    pub fn send_after(
        &self,
        to: Pid,
        delay: std::time::Duration,
        bytes: impl Into<Box<[u8]>>,
    ) -> Result<TimerRef, ActorError> {
        self.handle.send_after_from(self.pid, to, delay, bytes)
    }

    /// Links this process to `other` (see [`RuntimeHandle::link`]).
    pub fn link(&self, other: Pid) -> Result<(), ActorError> {
        self.handle.link(self.pid, other)
    }

    /// Removes a link between this process and `other`.
    pub fn unlink(&self, other: Pid) -> Result<(), ActorError> {
        self.handle.unlink(self.pid, other)
    }

    /// Sets whether this process traps exits.
    pub fn set_trap_exit(&self, trap: bool) -> Result<(), ActorError> {
        self.handle.set_trap_exit(self.pid, trap)
    }

    /// Spawns a callback process (e.g. `SpawnOptions::new().link(ctx.pid())` for a linked child).
    pub fn spawn(
        &self,
        behaviour: impl Behaviour,
        options: SpawnOptions,
    ) -> Result<Spawned, ActorError> {
        self.handle.spawn(behaviour, options)
    }

    /// Monitors `pid` (see [`RuntimeHandle::monitor`]).
    pub fn monitor(
        &self,
        pid: Pid,
        callback: impl FnOnce(Pid, &ExitReason) + Send + 'static,
    ) -> Result<MonitorRef, ActorError> {
        self.handle.monitor(pid, callback)
    }

    /// Cancels a monitor (see [`RuntimeHandle::demonitor`]).
    pub fn demonitor(&self, mref: MonitorRef) -> bool {
        self.handle.demonitor(mref)
    }
}
