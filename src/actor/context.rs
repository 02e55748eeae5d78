//! What user code holds to act on a runtime: the [`Behaviour`] a callback process runs, the
//! [`ProcessContext`] it gets for each message, and the [`RuntimeHandle`] type both lead to
//! (its operations are in `handle.rs`).
//!
//! These three refer to each other (a handle spawns behaviours, a behaviour gets a context, a
//! context gives out the handle), so they are defined together here, above the process table
//! and below everything that uses them. Invariant: a context only lives for the duration of
//! one scheduled run of its process, on the worker running it; every operation goes through the
//! table's entry points, so a behaviour can neither bypass the topology lock nor hold it while
//! calling out.

use std::sync::Arc;
use std::time::Duration;

use super::error::ActorError;
use super::message::Message;
use super::options::{SpawnOptions, Spawned};
use super::pid::{MonitorRef, Pid, TimerRef};
use super::process::{Proc, ProcKind};
use super::reason::ExitReason;
use super::table::{Pending, Table};
use crate::sync::Mutex;

/// The code of a callback process: called for one message at a time, on a worker thread.
///
/// Returning `Err(reason)` ends the process with `reason` (which may be
/// [`ExitReason::normal`] to stop normally). A panic ends it with an `ExitKind::Panic` reason
/// whose message is the panic text; the worker and every other process carry on. The
/// behaviour is dropped exactly once when the process has exited, on whichever thread saw it
/// last (a worker, or the thread that terminated it) and with no runtime lock held.
pub trait Behaviour: Send + 'static {
    /// Handles one message.
    fn handle(&mut self, ctx: &ProcessContext, msg: Message) -> Result<(), ExitReason>;
}

impl<F> Behaviour for F
where
    F: FnMut(&ProcessContext, Message) -> Result<(), ExitReason> + Send + 'static,
{
    fn handle(&mut self, ctx: &ProcessContext, msg: Message) -> Result<(), ExitReason> {
        self(ctx, msg)
    }
}

impl Behaviour for Box<dyn Behaviour> {
    fn handle(&mut self, ctx: &ProcessContext, msg: Message) -> Result<(), ExitReason> {
        (**self).handle(ctx, msg)
    }
}

/// The process table of a runtime whose callback processes run boxed behaviours.
pub(crate) type Core = Table<Box<dyn Behaviour>>;
/// A process of such a runtime.
pub(crate) type Process = Proc<Box<dyn Behaviour>>;
/// A send of such a runtime whose wake-up is done when it is dropped (see
/// [`RuntimeHandle::send_from_pending`]).
pub(crate) type PendingSend<'a> = Pending<'a, Box<dyn Behaviour>>;

/// A cheap, cloneable handle to a runtime, usable from any thread (and from inside behaviours
/// and monitor callbacks). Once the runtime is closed, every call returns
/// [`ActorError::Closed`] (or `false` where documented). Its operations are listed in
/// `handle.rs`; [`RuntimeHandle::open_mailbox`] is with the mailboxes.
#[derive(Clone)]
pub struct RuntimeHandle {
    pub(crate) inner: Arc<Core>,
}

impl std::fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeHandle").finish_non_exhaustive()
    }
}

/// The calling process's view of the runtime, passed to [`Behaviour::handle`].
///
/// A process can be killed (by a link or `exit`) while its `handle` runs; the call is not
/// interrupted, but from then on the operations that act as this process
/// ([`ProcessContext::send`], `link`, `unlink`, `set_trap_exit`) return `Closed`, so a dead
/// process sends nothing, and its exit reason is available from
/// [`ProcessContext::exit_reason`].
#[derive(Debug)]
pub struct ProcessContext {
    handle: RuntimeHandle,
    proc: Arc<Process>,
    pid: Pid,
    /// This run is an inline run, on the thread that delivered the message (see `process.rs`).
    inline: bool,
    /// A message the inline handler declined (see [`ProcessContext::decline`]).
    declined: Mutex<Option<Message>>,
}

impl ProcessContext {
    /// The context of one run of `proc`: on a worker, or `inline` on a delivering thread.
    pub(crate) fn new(handle: RuntimeHandle, proc: Arc<Process>, inline: bool) -> Self {
        let pid = proc.pid();
        ProcessContext {
            handle,
            proc,
            pid,
            inline,
            declined: Mutex::new(None),
        }
    }

    /// The process this context runs.
    pub(crate) fn process(&self) -> &Arc<Process> {
        &self.proc
    }

    /// Whether this `handle` call runs inline, on the thread that delivered the message (only
    /// for inline-capable processes, see `process.rs`): it must not block or call user code.
    pub(crate) fn is_inline(&self) -> bool {
        self.inline
    }

    /// From an inline `handle` call that cannot finish `msg` here (return `Ok(())` right
    /// after, having changed nothing): the message goes back to the front of the queue and a
    /// worker handles it, before anything queued after it.
    pub(crate) fn decline(&self, msg: Message) {
        debug_assert!(self.inline, "only an inline run can decline a message");
        *self.declined.lock() = Some(msg);
    }

    /// The declined message, if the last `handle` call declined one.
    pub(crate) fn take_declined(&self) -> Option<Message> {
        self.declined.lock().take()
    }

    fn core(&self) -> &Core {
        &self.handle.inner
    }

    /// `Closed` once this process has exited (it can be killed mid-`handle`).
    fn alive(&self) -> Result<(), ActorError> {
        if self.proc.has_exited() {
            Err(ActorError::Closed)
        } else {
            Ok(())
        }
    }

    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The runtime, for operations on other processes (clone it to keep it).
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.handle
    }

    /// Sends `bytes` to `to` from this process (FIFO per receiver). `NoProc` when `to` is dead
    /// or 0, `Closed` when this process itself has already exited.
    pub fn send(&self, to: Pid, bytes: impl Into<Box<[u8]>>) -> Result<(), ActorError> {
        self.alive()?;
        self.core().send(self.pid, to, bytes.into())
    }

    /// Why this process exited, `None` while it is alive (it can be killed mid-`handle`).
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.proc.exit_reason()
    }

    /// Sends an exit signal from this process to `to` (see [`RuntimeHandle::exit_from`]).
    /// Targeting this process itself takes effect when the current `handle` call returns.
    pub fn exit(&self, to: Pid, reason: ExitReason) -> Result<(), ActorError> {
        self.core().exit(self.pid, to, reason)
    }

    /// Sends `bytes` to `to` (often this process itself, for a timeout) once `delay` has passed,
    /// from this process. See [`RuntimeHandle::send_after`]; cancel with
    /// [`RuntimeHandle::cancel_timer`].
    pub fn send_after(
        &self,
        to: Pid,
        delay: Duration,
        bytes: impl Into<Box<[u8]>>,
    ) -> Result<TimerRef, ActorError> {
        self.core().send_after(self.pid, to, delay, bytes.into())
    }

    /// Links this process to `other` (see [`RuntimeHandle::link`]); `Closed` when this process
    /// has exited.
    pub fn link(&self, other: Pid) -> Result<(), ActorError> {
        self.alive()?;
        self.core().link(self.pid, other)
    }

    /// Removes a link between this process and `other`; `Closed` when this process has exited.
    pub fn unlink(&self, other: Pid) -> Result<(), ActorError> {
        self.alive()?;
        self.core().unlink(self.pid, other)
    }

    /// Sets whether this process traps exits; `Closed` when it has exited.
    pub fn set_trap_exit(&self, trap: bool) -> Result<(), ActorError> {
        self.alive()?;
        self.core().set_trap_exit(self.pid, trap)
    }

    /// Spawns a callback process (e.g. `SpawnOptions::new().link(ctx.pid())` for a linked child).
    pub fn spawn(
        &self,
        behaviour: impl Behaviour,
        options: SpawnOptions,
    ) -> Result<Spawned, ActorError> {
        spawn(self.core(), behaviour, options)
    }

    /// Monitors `pid` (see [`RuntimeHandle::monitor`]).
    pub fn monitor(
        &self,
        pid: Pid,
        callback: impl FnOnce(Pid, &ExitReason) + Send + 'static,
    ) -> Result<MonitorRef, ActorError> {
        self.core().monitor(pid, Box::new(callback))
    }

    /// Cancels a monitor (see [`RuntimeHandle::demonitor`]).
    pub fn demonitor(&self, mref: MonitorRef) -> Result<bool, ActorError> {
        self.core().demonitor(mref)
    }
}

/// Creates a callback process running `behaviour` (the one body of every `spawn`).
pub(crate) fn spawn(
    core: &Core,
    behaviour: impl Behaviour,
    options: SpawnOptions,
) -> Result<Spawned, ActorError> {
    let (proc, monitor) = core.create(ProcKind::Callback, Some(Box::new(behaviour)), options)?;
    Ok(Spawned {
        pid: proc.pid(),
        monitor,
    })
}
