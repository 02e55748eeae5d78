//! A process: its mailbox queue, its exit state and (for callback processes) its behaviour.
//!
//! Invariant: `exit` in [`ProcState`] goes from `None` to `Some` once and never back; after
//! that no message is queued and the behaviour is dropped exactly once — by whoever finds the
//! process unscheduled (the terminator), or else by the worker that has it scheduled.
//! `scheduled` is true from the moment a callback process is queued until its worker gives it
//! up, so it runs on at most one worker at a time.
//!
//! The behaviour is a type parameter `B` here: this module (and the process table above it)
//! only stores and drops it; only the workers call it.

use crate::sync::ready_fd::{self, ReadyFd};
use crate::sync::wake::Waiters;
use crate::sync::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::error::ActorError;
use super::message::Message;
use super::pid::Pid;
use super::reason::ExitReason;

/// Drops user code (a behaviour, a monitor callback) without letting a panic escape into the
/// runtime.
pub(crate) fn drop_user<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcKind {
    /// Runs a [`Behaviour`] on the workers.
    Callback,
    /// Owned by an external thread through a [`Mailbox`](super::Mailbox).
    Mailbox,
}

pub(crate) struct ProcState<B> {
    pub(crate) queue: VecDeque<Message>,
    pub(crate) exit: Option<ExitReason>,
    pub(crate) scheduled: bool,
    pub(crate) behaviour: Option<B>,
    /// A mailbox's pollable descriptor, once asked for: raised while a receive would not wait
    /// (a message is queued, or the process exited), changed only under this state's lock.
    pub(crate) fd: Option<ReadyFd>,
    /// A mailbox's blocked receivers (`crate::sync::wake`): a delivery wakes one, the exit all,
    /// each after the lock is released.
    pub(crate) waiters: Waiters,
}

impl<B> ProcState<B> {
    /// Whether a mailbox receive would return at once.
    pub(crate) fn receive_ready(&self) -> bool {
        !self.queue.is_empty() || self.exit.is_some()
    }

    /// Brings the descriptor (if any) in line with the state; call after every change.
    pub(crate) fn sync_fd(&mut self) {
        if self.fd.is_some() {
            let ready = self.receive_ready();
            ready_fd::update(&mut self.fd, ready);
        }
    }
}

pub(crate) struct Proc<B> {
    pid: Pid,
    kind: ProcKind,
    state: Mutex<ProcState<B>>,
    /// The queue length of a mailbox process, for its receiver's brief spin before it waits.
    /// Written only under the state lock; a stale read only changes how long a spin lasts.
    queued: AtomicUsize,
}

impl<B> std::fmt::Debug for Proc<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proc")
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

/// What a successful delivery asks of the caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Nothing more to do.
    Queued,
    /// The process was idle: the caller must push it on the run queue (once).
    Schedule,
}

impl<B> Proc<B> {
    pub(crate) fn new(pid: Pid, kind: ProcKind, behaviour: Option<B>) -> Self {
        Proc {
            pid,
            kind,
            state: Mutex::new(ProcState {
                queue: VecDeque::new(),
                exit: None,
                scheduled: false,
                behaviour,
                fd: None,
                waiters: Waiters::default(),
            }),
            queued: AtomicUsize::new(0),
        }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ProcState<B>> {
        // No user code runs under this lock, so poisoning cannot leave the state half-updated.
        self.state.lock()
    }

    /// The last queue length published under the lock (see `queued`).
    pub(crate) fn queued_hint(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Publishes the queue length; call with the state lock held.
    pub(crate) fn publish_len(&self, st: &ProcState<B>) {
        self.queued.store(st.queue.len(), Ordering::Release);
    }

    /// Appends `msg`; `NoProc` when the process has exited.
    pub(crate) fn deliver(&self, msg: Message) -> Result<Delivered, ActorError> {
        let mut st = self.lock();
        if st.exit.is_some() {
            return Err(ActorError::NoProc);
        }
        st.queue.push_back(msg);
        match self.kind {
            ProcKind::Mailbox => {
                self.publish_len(&st);
                st.sync_fd();
                // One message, one receiver: wake one, after unlocking (it re-checks).
                let wakes = st.waiters.take_one();
                drop(st);
                wakes.wake();
                Ok(Delivered::Queued)
            }
            ProcKind::Callback if st.scheduled => Ok(Delivered::Queued),
            ProcKind::Callback => {
                st.scheduled = true;
                Ok(Delivered::Schedule)
            }
        }
    }

    /// Records the exit (first reason wins) and discards the queue. Returns the behaviour when
    /// the caller must drop it (the process is not scheduled, so no worker will).
    pub(crate) fn mark_dead(&self, reason: &ExitReason) -> Option<B> {
        let mut st = self.lock();
        if st.exit.is_some() {
            return None;
        }
        st.exit = Some(reason.clone());
        st.queue.clear();
        self.publish_len(&st);
        st.sync_fd();
        let wakes = st.waiters.take_all();
        let behaviour = if st.scheduled {
            None
        } else {
            st.behaviour.take()
        };
        drop(st);
        wakes.wake();
        behaviour
    }

    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        self.lock().exit.clone()
    }

    /// Whether the process has exited (without cloning its reason).
    pub(crate) fn has_exited(&self) -> bool {
        self.lock().exit.is_some()
    }
}
