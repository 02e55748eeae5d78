//! What a new process is created with: [`SpawnOptions`] (link, trap_exit, monitor) and what a
//! spawn returns ([`Spawned`]).
//!
//! Invariant: options are plain data until the process table applies them, all at once and
//! under its lock, so nobody can observe a new process before its link, trap flag and monitor
//! are in place.

use super::monitor::MonitorCallback;
use super::pid::{MonitorRef, Pid};
use super::reason::ExitReason;

/// Options applied atomically with the creation of a process (nobody can observe the process
/// before they are in place).
#[derive(Default)]
pub struct SpawnOptions {
    pub(crate) link: Option<Pid>,
    pub(crate) trap_exit: bool,
    pub(crate) monitor: Option<MonitorCallback>,
    /// Crate-internal: the process may be run by the thread that delivers it a message (see
    /// `process.rs`, "Inline runs"). Only for behaviours that never block and call no user
    /// code while they may be running inline.
    pub(crate) inline: bool,
}

impl SpawnOptions {
    /// No link, not trapping exits, no monitor.
    pub fn new() -> Self {
        SpawnOptions::default()
    }

    /// Link the new process to `pid`. When `pid` is already dead the new process gets the
    /// `NOPROC` exit signal at once: as its first message when trapping exits, otherwise it
    /// exits with `NOPROC` before handling anything (spawn still returns its pid).
    /// [`Pid::NONE`] means no link (as 0 does in the C options).
    pub fn link(mut self, pid: Pid) -> Self {
        self.link = pid.is_valid().then_some(pid);
        self
    }

    /// Start with trap_exit set: exit signals from links arrive as
    /// [`Message::Exit`](super::Message::Exit).
    pub fn trap_exit(mut self, trap: bool) -> Self {
        self.trap_exit = trap;
        self
    }

    /// Monitor the new process with `callback` (its reference is in [`Spawned::monitor`]).
    pub fn monitor(mut self, callback: impl FnOnce(Pid, &ExitReason) + Send + 'static) -> Self {
        self.monitor = Some(Box::new(callback));
        self
    }

    /// Crate-internal: make the new (callback) process inline-capable, see `process.rs`.
    pub(crate) fn inline(mut self) -> Self {
        self.inline = true;
        self
    }
}

impl std::fmt::Debug for SpawnOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnOptions")
            .field("link", &self.link)
            .field("trap_exit", &self.trap_exit)
            .field("monitor", &self.monitor.is_some())
            .field("inline", &self.inline)
            .finish()
    }
}

/// A new process: its pid and, when [`SpawnOptions::monitor`] was given, the monitor's reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    /// The new process.
    pub pid: Pid,
    /// The monitor created with it, if any.
    pub monitor: Option<MonitorRef>,
}
