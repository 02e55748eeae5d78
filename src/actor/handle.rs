//! The operations of a [`RuntimeHandle`]: spawning, sending, exit signals, links, monitors and
//! timers, as seen from outside any process (the sender is [`Pid::NONE`] unless a `_from`
//! variant names one).
//!
//! Invariant: every operation is one call into the process table, so each is atomic with
//! respect to exits and links, and none runs user code while holding a runtime lock.

use std::time::Duration;

use super::context::{spawn, Behaviour, PendingSend, RuntimeHandle};
use super::error::ActorError;
use super::options::{SpawnOptions, Spawned};
use super::pid::{MonitorRef, Pid, TimerRef};
use super::reason::ExitReason;

impl RuntimeHandle {
    /// Starts a callback process running `behaviour`, with `options` applied atomically.
    /// `Closed` after shutdown (the behaviour and any monitor callback are dropped uncalled).
    pub fn spawn(
        &self,
        behaviour: impl Behaviour,
        options: SpawnOptions,
    ) -> Result<Spawned, ActorError> {
        spawn(&self.inner, behaviour, options)
    }

    /// Sends `bytes` to `to` from outside the runtime (`from` = [`Pid::NONE`]).
    /// `NoProc` when `to` is dead or 0 (the message is dropped), `Closed` after shutdown.
    pub fn send(&self, to: Pid, bytes: impl Into<Box<[u8]>>) -> Result<(), ActorError> {
        self.inner.send(Pid::NONE, to, bytes.into())
    }

    /// Sends `bytes` to `to`, labelled as coming from `from` (informational: the runtime does
    /// not check that the caller is `from`). FIFO per `(from, to)` pair when one thread sends.
    pub fn send_from(
        &self,
        from: Pid,
        to: Pid,
        bytes: impl Into<Box<[u8]>>,
    ) -> Result<(), ActorError> {
        self.inner.send(from, to, bytes.into())
    }

    /// [`send_from`](RuntimeHandle::send_from) whose wake-up of the receiver happens when the
    /// returned value is dropped: for a caller that sends while holding a lock the receiver
    /// may take (drop it after the lock). The message is queued at once.
    pub(crate) fn send_from_pending(
        &self,
        from: Pid,
        to: Pid,
        bytes: impl Into<Box<[u8]>>,
    ) -> Result<PendingSend<'_>, ActorError> {
        self.inner.send_pending(from, to, bytes.into())
    }

    /// Sends an exit signal to `pid` from outside the runtime. See [`RuntimeHandle::exit_from`].
    pub fn exit(&self, pid: Pid, reason: ExitReason) -> Result<(), ActorError> {
        self.inner.exit(Pid::NONE, pid, reason)
    }

    /// Sends an exit signal to `pid`, labelled as coming from `from`.
    ///
    /// - `KILLED` is untrappable: the target exits with this reason.
    /// - Any other reason: a trapping target gets `Message::Exit { pid: from, reason }`; a
    ///   non-trapping target exits with `reason` — *including* `NORMAL` and `SHUTDOWN`, which
    ///   makes `exit` an explicit termination (Erlang would ignore a normal signal here).
    ///
    /// The target's own exit then cascades over its links by the usual rule: only abnormal
    /// reasons kill ([`ExitReason::is_abnormal`]; `SHUTDOWN` is an orderly stop whoever sends
    /// it). `NoProc` when `pid` is dead or 0.
    pub fn exit_from(&self, from: Pid, pid: Pid, reason: ExitReason) -> Result<(), ActorError> {
        self.inner.exit(from, pid, reason)
    }

    /// Links `a` and `b` (bidirectional; linking twice is one link; linking a process to itself
    /// does nothing). When `b` is dead, `a` receives the `NOPROC` exit signal from `b` at once
    /// (an `EXIT` message when trapping, else `a` exits with `NOPROC`) and this returns
    /// `NoProc`. When `a` is dead, or either pid is 0: `NoProc`, nothing happens.
    pub fn link(&self, a: Pid, b: Pid) -> Result<(), ActorError> {
        self.inner.link(a, b)
    }

    /// Removes the link between `a` and `b`, if any. `NoProc` when `a` is dead or either pid
    /// is 0.
    pub fn unlink(&self, a: Pid, b: Pid) -> Result<(), ActorError> {
        self.inner.unlink(a, b)
    }

    /// Sets whether `pid` traps exits (gets link exit signals as
    /// [`Message::Exit`](super::Message::Exit)).
    pub fn set_trap_exit(&self, pid: Pid, trap: bool) -> Result<(), ActorError> {
        self.inner.set_trap_exit(pid, trap)
    }

    /// Monitors `pid`: `callback` gets `(pid, reason)` exactly once, on a worker thread, with no
    /// runtime lock held. Monitors stack (each is independent). A dead or never-spawned pid
    /// fires at once with `NOPROC`; pid 0 names no process and is refused with `NoProc`.
    /// `Closed` after shutdown. On failure the callback is dropped uncalled.
    pub fn monitor(
        &self,
        pid: Pid,
        callback: impl FnOnce(Pid, &ExitReason) + Send + 'static,
    ) -> Result<MonitorRef, ActorError> {
        self.inner.monitor(pid, Box::new(callback))
    }

    /// Cancels a monitor. After it returns the callback is not running and never will be —
    /// except when called from inside that same callback, where it returns at once (the
    /// callback is then dropped when it returns). `Ok(true)` when this call stopped the callback
    /// before it started (it is dropped uncalled); `Ok(false)` when the monitor is not
    /// registered: it already fired (including the call running on this thread), was cancelled
    /// before, or `mref` is unknown. `Closed` after shutdown (the guarantee still holds).
    pub fn demonitor(&self, mref: MonitorRef) -> Result<bool, ActorError> {
        self.inner.demonitor(mref)
    }

    /// Sends `bytes` to `to` once `delay` has passed, from outside the runtime
    /// ([`Pid::NONE`]). Delivery is a normal send (dropped if `to` is dead by then); timers due
    /// at the same time are delivered in the order they were set. `NoProc` when `to` is 0,
    /// `Closed` after shutdown; pending timers are dropped at shutdown.
    pub fn send_after(
        &self,
        to: Pid,
        delay: Duration,
        bytes: impl Into<Box<[u8]>>,
    ) -> Result<TimerRef, ActorError> {
        self.inner.send_after(Pid::NONE, to, delay, bytes.into())
    }

    /// [`RuntimeHandle::send_after`] labelled as coming from `from`.
    pub fn send_after_from(
        &self,
        from: Pid,
        to: Pid,
        delay: Duration,
        bytes: impl Into<Box<[u8]>>,
    ) -> Result<TimerRef, ActorError> {
        self.inner.send_after(from, to, delay, bytes.into())
    }

    /// Cancels a timer. True when it had not fired: it never will. False when it already fired
    /// (or is being delivered right now), was cancelled before, or is unknown.
    pub fn cancel_timer(&self, timer: TimerRef) -> bool {
        self.inner.cancel_timer(timer)
    }

    /// Whether `pid` is a live process.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.inner.is_alive(pid)
    }

    /// The number of live processes.
    pub fn process_count(&self) -> usize {
        self.inner.process_count()
    }

    /// True once the runtime has been closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}
