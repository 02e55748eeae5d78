//! Mailbox processes: processes without a behaviour, owned by an external thread that pulls
//! messages with a timeout.
//!
//! Invariant: a message leaves the queue only inside a successful `receive`, under the process
//! lock, so a receive that times out never loses a message — one that arrives just after the
//! timeout stays queued for the next receive. Dropping the handle without an explicit exit ends
//! the process with `DROPPED`, so a thread that dies with its handle still crashes cleanly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use super::error::ActorError;
use super::message::Message;
use super::pid::{MonitorRef, Pid};
use super::process::Proc;
use super::reason::ExitReason;
use super::runtime::RuntimeHandle;

/// The owning handle of a mailbox process. `Send` (move it to the thread that owns it) and
/// `Sync` (concurrent receives are safe; each message goes to exactly one of them).
#[derive(Debug)]
pub struct Mailbox {
    handle: RuntimeHandle,
    proc: Arc<Proc>,
    monitor: Option<MonitorRef>,
    exited: bool,
}

impl Mailbox {
    pub(crate) fn new(handle: RuntimeHandle, proc: Arc<Proc>, monitor: Option<MonitorRef>) -> Self {
        Mailbox {
            handle,
            proc,
            monitor,
            exited: false,
        }
    }

    /// This mailbox's pid.
    pub fn pid(&self) -> Pid {
        self.proc.pid()
    }

    /// The monitor created by `SpawnOptions::monitor`, if any.
    pub fn monitor_ref(&self) -> Option<MonitorRef> {
        self.monitor
    }

    /// The runtime this mailbox belongs to.
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.handle
    }

    /// The oldest message, waiting up to `timeout` for one (`Duration::MAX` waits forever).
    /// `Timeout` when none came (nothing is lost: a later message stays queued); `Closed` once
    /// this process has exited — killed through a link or `exit`, or the runtime shut down —
    /// including while waiting. [`Mailbox::exit_reason`] then tells why.
    pub fn receive(&self, timeout: Duration) -> Result<Message, ActorError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.proc.lock();
        let mut spun = timeout.is_zero();
        loop {
            if st.exit.is_some() {
                return Err(ActorError::Closed);
            }
            if let Some(msg) = st.queue.pop_front() {
                self.proc.publish_len(&st);
                return Ok(msg);
            }
            if !spun {
                // Once, briefly (microseconds), before sleeping: a reply that is about to arrive
                // is taken without a futex sleep and wake-up.
                spun = true;
                drop(st);
                let backoff = Backoff::new();
                while self.proc.queued_hint() == 0 && !backoff.is_completed() {
                    backoff.snooze();
                }
                st = self.proc.lock();
                continue;
            }
            st = match deadline {
                None => self.proc.ready().wait(st),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(ActorError::Timeout);
                    }
                    self.proc.ready().wait_timeout(st, deadline - now).0
                }
            };
        }
    }

    /// The oldest message if there is one, without waiting (`Timeout` when the queue is empty).
    pub fn try_receive(&self) -> Result<Message, ActorError> {
        self.receive(Duration::ZERO)
    }

    /// Sends `bytes` to `to` from this process. `Closed` when this process has exited,
    /// `NoProc` when `to` is dead.
    pub fn send(&self, to: Pid, bytes: impl Into<Box<[u8]>>) -> Result<(), ActorError> {
        if self.proc.exit_reason().is_some() {
            return Err(ActorError::Closed);
        }
        self.handle.send_from(self.pid(), to, bytes)
    }

    /// Links this process to `other` (see [`RuntimeHandle::link`]).
    pub fn link(&self, other: Pid) -> Result<(), ActorError> {
        self.handle.link(self.pid(), other)
    }

    /// Removes a link between this process and `other`.
    pub fn unlink(&self, other: Pid) -> Result<(), ActorError> {
        self.handle.unlink(self.pid(), other)
    }

    /// Sets whether this process traps exits.
    pub fn set_trap_exit(&self, trap: bool) -> Result<(), ActorError> {
        self.handle.set_trap_exit(self.pid(), trap)
    }

    /// Why this process exited, `None` while it is alive.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.proc.exit_reason()
    }

    /// Ends the process normally (linked processes are not killed) and gives up the handle.
    /// `NoProc` when it had already exited.
    pub fn exit_normal(self) -> Result<(), ActorError> {
        self.exit(ExitReason::normal())
    }

    /// Ends the process with `reason` and gives up the handle. `NoProc` when it had already
    /// exited (its original reason stands).
    pub fn exit(mut self, reason: ExitReason) -> Result<(), ActorError> {
        self.exited = true;
        if self.handle.inner.terminate_pid(self.pid(), reason) {
            Ok(())
        } else {
            Err(ActorError::NoProc)
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        if !self.exited {
            self.handle
                .inner
                .terminate_pid(self.pid(), ExitReason::dropped());
        }
    }
}
