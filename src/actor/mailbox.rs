//! Mailbox processes: processes without a behaviour, owned by an external thread that pulls
//! messages with a timeout.
//!
//! Invariant: a message leaves the queue only inside a successful `receive`, under the process
//! lock, so a receive that times out never loses a message — one that arrives just after the
//! timeout stays queued for the next receive. Once the process has exited (by `exit`, a link,
//! a kill or the runtime's shutdown) every call that acts as it returns `Closed`. Dropping the
//! handle of a live mailbox ends the process with `DROPPED`, so a thread that dies with its
//! handle still crashes cleanly.
//!
//! The optional pollable descriptor ([`Mailbox::fd`]) lives in the process state and changes
//! only under the process lock: raised by a delivery or the exit, lowered by the receive that
//! takes the last message.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::{PendingSend, Process, RuntimeHandle};
use super::error::ActorError;
use super::message::Message;
use super::options::SpawnOptions;
use super::pid::{MonitorRef, Pid};
use super::process::ProcKind;
use super::reason::ExitReason;

/// How long a receive looks for a message without the lock (a busy spin) before it parks: a
/// message sent then is taken within a cache-line transfer instead of a futex wake-up. Only
/// while this mailbox's messages recently came that soon (`crate::sync::SpinHistory`).
const RECEIVE_SPIN: Duration = Duration::from_micros(10);

impl RuntimeHandle {
    /// Creates a mailbox process owned by the calling thread (see [`Mailbox`]), with `options`
    /// applied atomically. `Closed` after shutdown.
    pub fn open_mailbox(&self, options: SpawnOptions) -> Result<Mailbox, ActorError> {
        let (proc, monitor) = self.inner.create(ProcKind::Mailbox, None, options)?;
        Ok(Mailbox {
            handle: self.clone(),
            proc,
            monitor,
        })
    }
}

/// The owning handle of a mailbox process. `Send` (move it to the thread that owns it) and
/// `Sync` (concurrent receives are safe; each message goes to exactly one of them).
#[derive(Debug)]
pub struct Mailbox {
    handle: RuntimeHandle,
    proc: Arc<Process>,
    monitor: Option<MonitorRef>,
}

impl Mailbox {
    /// This mailbox's pid (also after its process exited).
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

    /// `Closed` once this process has exited.
    fn alive(&self) -> Result<(), ActorError> {
        if self.proc.has_exited() {
            Err(ActorError::Closed)
        } else {
            Ok(())
        }
    }

    /// The oldest message, waiting up to `timeout` for one (`Duration::MAX`: no limit).
    /// `Ok(None)` when none came in time (nothing is lost: a later message stays queued);
    /// `Closed` once this process has exited — killed through a link or `exit`, or the runtime
    /// shut down — including while waiting. [`Mailbox::exit_reason`] then tells why.
    pub fn receive(&self, timeout: Duration) -> Result<Option<Message>, ActorError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.proc.lock();
        let mut spun = timeout.is_zero();
        loop {
            if st.exit.is_some() {
                return Err(ActorError::Closed);
            }
            if let Some(msg) = st.queue.pop_front() {
                self.proc.publish_len(&st);
                st.sync_fd();
                return Ok(Some(msg));
            }
            if !spun {
                spun = true;
                if st.receive_spin.should_spin() {
                    // Once, briefly (a busy spin, see crate::sync::spin), before sleeping: a
                    // reply that is about to arrive is taken without a futex sleep and
                    // wake-up. Bounded by the spin window and the timeout, so an idle receiver
                    // parks and costs no CPU.
                    drop(st);
                    let saw_it = crate::sync::spin_while(RECEIVE_SPIN.min(timeout), || {
                        self.proc.queued_hint() == 0
                    });
                    st = self.proc.lock();
                    st.receive_spin.record(saw_it);
                    continue;
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            // Park on a per-call parker (crate::sync::wake): the sender wakes it after
            // releasing the process lock, so the re-lock below does not block on the sender.
            let waiter = st.waiters.register();
            drop(st);
            waiter.park(deadline);
            st = self.proc.lock();
            st.waiters.cancel(&waiter);
        }
    }

    /// A pollable descriptor (Linux eventfd, non-blocking, close-on-exec), created on the
    /// first call and owned by this handle: closed when it is dropped.
    ///
    /// Level-triggered: readable exactly while a [`Mailbox::receive`] would not wait — a
    /// message is queued, or the process has exited (receive then fails with `Closed`) — and
    /// not readable again once a receive took the last message. Safe with `poll`, `epoll` and
    /// `select`; never read or write it yourself. Fails only if the OS refused a descriptor.
    pub fn fd(&self) -> std::io::Result<RawFd> {
        let mut st = self.proc.lock();
        let ready = st.receive_ready();
        crate::sync::ready_fd::ensure(&mut st.fd, ready)
    }

    /// The oldest message if there is one, without waiting (`Ok(None)` when the queue is empty).
    pub fn try_receive(&self) -> Result<Option<Message>, ActorError> {
        self.receive(Duration::ZERO)
    }

    /// Sends `bytes` to `to` from this process. `Closed` when this process has exited,
    /// `NoProc` when `to` is dead or 0.
    pub fn send(&self, to: Pid, bytes: impl Into<Box<[u8]>>) -> Result<(), ActorError> {
        self.alive()?;
        self.handle.send_from(self.pid(), to, bytes)
    }

    /// [`send`](Mailbox::send) whose wake-up of the receiver happens when the returned value
    /// is dropped (see [`RuntimeHandle::send_from_pending`]).
    pub(crate) fn send_pending(
        &self,
        to: Pid,
        bytes: impl Into<Box<[u8]>>,
    ) -> Result<PendingSend<'_>, ActorError> {
        self.alive()?;
        self.handle.send_from_pending(self.pid(), to, bytes)
    }

    /// Links this process to `other` (see [`RuntimeHandle::link`]); `Closed` when this process
    /// has exited.
    pub fn link(&self, other: Pid) -> Result<(), ActorError> {
        self.alive()?;
        self.handle.link(self.pid(), other)
    }

    /// Removes a link between this process and `other`; `Closed` when this process has exited.
    pub fn unlink(&self, other: Pid) -> Result<(), ActorError> {
        self.alive()?;
        self.handle.unlink(self.pid(), other)
    }

    /// Sets whether this process traps exits; `Closed` when it has exited.
    pub fn set_trap_exit(&self, trap: bool) -> Result<(), ActorError> {
        self.alive()?;
        self.handle.set_trap_exit(self.pid(), trap)
    }

    /// Why this process exited, `None` while it is alive.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.proc.exit_reason()
    }

    /// Ends the process normally (linked processes are not killed). See [`Mailbox::exit`].
    pub fn exit_normal(&self) -> Result<(), ActorError> {
        self.exit(ExitReason::normal())
    }

    /// Ends the process with `reason`, which every observer then sees. `Closed` when it had
    /// already exited (its original reason stands). The handle stays usable: every later call
    /// that acts as the process returns `Closed`.
    pub fn exit(&self, reason: ExitReason) -> Result<(), ActorError> {
        if self.handle.inner.terminate(self.pid(), reason) {
            Ok(())
        } else {
            Err(ActorError::Closed)
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        // A process that already exited keeps its reason (terminate would do nothing).
        if !self.proc.has_exited() {
            self.handle
                .inner
                .terminate(self.pid(), ExitReason::dropped());
        }
        // The process may outlive its handle (the table, monitors): close the descriptor now.
        let fd = self.proc.lock().fd.take();
        drop(fd);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::actor::Runtime;
    use crate::sync::SpinHistory;

    /// Waits (a bounded busy look, no sleep) until a receive is parked on `mb`.
    fn parked(mb: &Mailbox) {
        let t = Instant::now();
        while mb.proc.lock().waiters.is_empty() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the receive never parked"
            );
            std::thread::yield_now();
        }
    }

    #[test]
    fn receives_whose_messages_come_after_the_spin_window_stop_spinning() {
        let rt = Runtime::new(1).unwrap();
        let mb = Arc::new(rt.open_mailbox(SpawnOptions::new()).unwrap());
        let pid = mb.pid();
        assert_eq!(
            mb.proc.lock().receive_spin.count(),
            SpinHistory::MAX,
            "a new mailbox spins"
        );
        // A zero-timeout receive that finds nothing does not spin: nothing is recorded.
        for _ in 0..2 * SpinHistory::MAX {
            assert_eq!(mb.try_receive().unwrap(), None);
        }
        assert_eq!(mb.proc.lock().receive_spin.count(), SpinHistory::MAX);
        for i in 0..SpinHistory::MAX {
            let r = {
                let mb = Arc::clone(&mb);
                std::thread::spawn(move || mb.receive(Duration::from_secs(30)))
            };
            // Late: the receive's spin ran out and it parked.
            parked(&mb);
            rt.send(pid, vec![i]).unwrap();
            match r.join().unwrap() {
                Ok(Some(Message::User { bytes, .. })) => assert_eq!(*bytes, [i]),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            mb.proc.lock().receive_spin.count(),
            0,
            "MAX missed spins in a row stop the spinning"
        );
        // A message that is there at once is no wait: nothing changes.
        rt.send(pid, vec![9]).unwrap();
        assert!(matches!(
            mb.receive(Duration::from_secs(30)),
            Ok(Some(Message::User { .. }))
        ));
        assert_eq!(mb.proc.lock().receive_spin.count(), 0);
    }
}
