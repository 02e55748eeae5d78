//! A process: its mailbox queue, its exit state and (for callback processes) its behaviour.
//!
//! Invariant: `exit` in [`ProcState`] goes from `None` to `Some` once and never back; after
//! that no message is queued and the behaviour is dropped exactly once — by whoever finds the
//! process unscheduled (the terminator), or else by the worker that has it scheduled.
//! `scheduled` is true from the moment a callback process is queued until its worker gives it
//! up, so it runs on at most one worker at a time.
//!
//! The behaviour is a type parameter `B` here: this module (and the process table above it)
//! only stores and drops it; only the runners (`runtime.rs`) call it.
//!
//! # Inline runs
//!
//! A process created *inline-capable* (crate-internal processes whose `handle` never blocks
//! and runs no user code: the conversation actor) may be run by the thread that delivered it a
//! message, instead of by a worker. The claim is the same as for a worker: a delivery that
//! finds the process idle sets `scheduled` under the state lock and so owns the next run
//! ([`Delivered::RunInline`] instead of [`Delivered::Schedule`]). That thread then runs it
//! with no runtime lock held, exactly like a worker would (one message at a time, in queue
//! order), so everything above stays true; the only difference is *which* thread runs it.
//! A handler that cannot finish a message inline (it would block, or call user code) declines
//! it: [`Proc::run_batch`] puts the message back at the front of the queue, the process stays
//! `scheduled`, and the runner hands the run to a worker — no second claim, no reordering.
//! This saves the hop through a worker (a futex wake of a parked worker, which then wakes the
//! thread waiting on the process's result: two wake-ups in series become one).
//!
//! Every claimed inline run is counted in [`InlineRuns`] from the claim (under the state lock)
//! until its runner is done, so `Runtime::close`, after killing every process and joining the
//! workers, can wait for the inline runs still in flight and keep its promise that every
//! behaviour has been dropped when it returns.

use crate::sync::ready_fd::{self, ReadyFd};
use crate::sync::wake::{Waiters, Wakes};
use crate::sync::{Mutex, MutexGuard, SpinHistory};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
    /// Whether a mailbox receive that found nothing spins first (`crate::sync::SpinHistory`).
    pub(crate) receive_spin: SpinHistory,
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

/// The number of claimed inline runs not finished yet, for one runtime (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct InlineRuns(AtomicUsize);

impl InlineRuns {
    /// Whether no inline run is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }

    /// Ends one claimed run (its runner is done, or handed the run to a worker).
    pub(crate) fn finish(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) struct Proc<B> {
    pid: Pid,
    kind: ProcKind,
    /// Set for an inline-capable process: the runtime's count of inline runs.
    inline: Option<Arc<InlineRuns>>,
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
#[derive(Debug)]
pub(crate) enum Delivered {
    /// Nothing more to do.
    Queued,
    /// A mailbox: wake its receiver (taken under the state lock; wake it once every lock the
    /// caller holds is released).
    Woke(Wakes),
    /// The process was idle: the caller must push it on the run queue (once).
    Schedule,
    /// The process was idle and is inline-capable: the caller owns its next run and should
    /// run it on this thread (or push it on the run queue); either way it must call
    /// [`InlineRuns::finish`] once that is done.
    RunInline,
}

/// What one handled message asks of the run (see [`Proc::run_batch`]).
pub(crate) struct Handled {
    /// The inline handler could not finish this message here: a worker must take it.
    pub(crate) declined: Option<Message>,
    /// The process ends with this reason.
    pub(crate) exit: Option<ExitReason>,
}

/// How a run ended, and what its owner must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// Nothing queued: the run is over (`scheduled` is cleared).
    Idle,
    /// The process exited: release it (drop the behaviour, clear `scheduled`).
    Exited,
    /// Still `scheduled`, with work left (the batch is used up, or a message was declined):
    /// queue it for a worker, which owns the rest of the run.
    Again,
}

impl<B> Proc<B> {
    /// A process; `inline` makes a callback process inline-capable (see the module doc).
    pub(crate) fn new(
        pid: Pid,
        kind: ProcKind,
        inline: Option<Arc<InlineRuns>>,
        behaviour: Option<B>,
    ) -> Self {
        // An inline-capable process gets its first message on the path a woken thread waits
        // for: its queue is allocated now, not then.
        let queue = if inline.is_some() {
            VecDeque::with_capacity(4)
        } else {
            VecDeque::new()
        };
        Proc {
            pid,
            kind,
            inline,
            state: Mutex::new(ProcState {
                queue,
                exit: None,
                scheduled: false,
                behaviour,
                fd: None,
                waiters: Waiters::default(),
                receive_spin: SpinHistory::new(),
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
                st.sync_fd();
                // One message, one receiver: wake one, after unlocking (it re-checks).
                let wakes = st.waiters.take_one();
                // Last before the unlock: a receiver spinning on the count takes the lock
                // right after it sees the message, and should find it free.
                self.publish_len(&st);
                Ok(Delivered::Woke(wakes))
            }
            ProcKind::Callback if st.scheduled => Ok(Delivered::Queued),
            ProcKind::Callback => {
                st.scheduled = true;
                match &self.inline {
                    Some(runs) => {
                        // Counted under the lock that claims the run, so a shutdown that
                        // marks the process dead after this sees the count.
                        runs.0.fetch_add(1, Ordering::AcqRel);
                        Ok(Delivered::RunInline)
                    }
                    None => Ok(Delivered::Schedule),
                }
            }
        }
    }

    /// Whether the process is inline-capable.
    pub(crate) fn is_inline_capable(&self) -> bool {
        self.inline.is_some()
    }

    /// Runs a claimed (`scheduled`) process for up to `batch` messages, one at a time, in
    /// queue order: `handle` gets the behaviour and the message; an exit it reports is carried
    /// out by `exit` (the process stays `scheduled`, so the run's next step sees it dead).
    /// Call only as the owner of the run (a worker, or the thread whose delivery claimed an
    /// inline run). What the caller must do next is in the returned [`RunEnd`].
    pub(crate) fn run_batch(
        &self,
        batch: usize,
        mut handle: impl FnMut(&mut B, Message) -> Handled,
        mut exit: impl FnMut(ExitReason),
    ) -> RunEnd {
        for _ in 0..batch {
            let (msg, mut behaviour) = {
                let mut st = self.lock();
                if st.exit.is_some() {
                    return RunEnd::Exited;
                }
                let Some(msg) = st.queue.pop_front() else {
                    st.scheduled = false;
                    return RunEnd::Idle;
                };
                let Some(b) = st.behaviour.take() else {
                    // Unreachable by the process invariant (only its one scheduled run takes
                    // the behaviour); refusing to run is the safe answer if it ever happens.
                    st.scheduled = false;
                    return RunEnd::Idle;
                };
                (msg, b)
            };
            let Handled {
                declined,
                exit: reason,
            } = handle(&mut behaviour, msg);
            let handed_over = declined.is_some();
            {
                let mut st = self.lock();
                st.behaviour = Some(behaviour);
                // A declined message goes back to the front, where the run's next owner takes
                // it first; a process that exited meanwhile drops it, like the rest of its
                // queue.
                if let Some(msg) = declined {
                    if st.exit.is_none() {
                        st.queue.push_front(msg);
                    }
                }
            }
            if let Some(reason) = reason {
                exit(reason);
            }
            if handed_over {
                return RunEnd::Again;
            }
        }
        let mut st = self.lock();
        if st.exit.is_none() && st.queue.is_empty() {
            st.scheduled = false;
            return RunEnd::Idle;
        }
        RunEnd::Again
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

#[cfg(all(test, loom))]
mod loom_tests {
    //! Models of inline runs: the claim (`Delivered::RunInline`), the run on the delivering
    //! thread, a declined message handed to a worker through the run queue, and deliveries
    //! racing the end of a run. Each checks that every message is handled exactly once, one
    //! at a time, in per-sender order, and that nothing is left claimed or counted.
    use super::*;
    use crate::actor::scheduler::Scheduler;
    use crate::sync::Arc as LArc;
    use loom::thread;

    /// The behaviour: logs the first byte of each message it handles.
    struct Probe {
        log: LArc<Mutex<Vec<u8>>>,
    }

    struct World {
        proc: Proc<Probe>,
        sched: Scheduler<()>,
        runs: Arc<InlineRuns>,
        log: LArc<Mutex<Vec<u8>>>,
        /// The first byte an inline run declines.
        decline: u8,
    }

    fn byte(msg: &Message) -> u8 {
        match msg {
            Message::User { bytes, .. } => bytes[0],
            Message::Exit { .. } => 0,
        }
    }

    impl World {
        fn new(decline: u8) -> LArc<World> {
            let runs = Arc::new(InlineRuns::default());
            let log = LArc::new(Mutex::new(Vec::new()));
            let probe = Probe {
                log: LArc::clone(&log),
            };
            LArc::new(World {
                proc: Proc::new(
                    Pid::from_raw(1),
                    ProcKind::Callback,
                    Some(Arc::clone(&runs)),
                    Some(probe),
                ),
                sched: Scheduler::new(),
                runs,
                log,
                decline,
            })
        }

        /// The runtime's `run_process`, with the probe as the behaviour.
        fn run(&self, inline: bool) {
            let end = self.proc.run_batch(
                32,
                |probe, msg| {
                    if inline && byte(&msg) == self.decline {
                        return Handled {
                            declined: Some(msg),
                            exit: None,
                        };
                    }
                    probe.log.lock().push(byte(&msg));
                    Handled {
                        declined: None,
                        exit: None,
                    }
                },
                |_| unreachable!("the probe never exits"),
            );
            match end {
                RunEnd::Idle => {}
                RunEnd::Exited => unreachable!("nothing kills the probe"),
                RunEnd::Again => self.sched.push(()).expect("the model stops last"),
            }
        }

        /// `Table::send` + `Pending`'s drop: deliver, then schedule or run inline.
        fn send(&self, b: u8) {
            let msg = Message::User {
                from: Pid::NONE,
                bytes: vec![b].into(),
            };
            match self.proc.deliver(msg).expect("alive") {
                Delivered::Queued => {}
                Delivered::Woke(_) => unreachable!("not a mailbox"),
                Delivered::Schedule => unreachable!("inline-capable"),
                Delivered::RunInline => {
                    self.run(true);
                    self.runs.finish();
                }
            }
        }

        /// A worker: runs the process for each queued job until stopped and drained.
        fn worker(&self) {
            while self.sched.next().is_some() {
                self.run(false);
            }
        }

        fn assert_settled(&self) {
            let st = self.proc.lock();
            assert!(st.queue.is_empty(), "a message left queued");
            assert!(!st.scheduled, "left claimed with nothing to run it");
            assert!(st.behaviour.is_some(), "the behaviour was not given back");
            assert!(self.runs.is_idle(), "an inline run still counted");
        }
    }

    /// One sender, two messages; the first is declined by its inline run and handed to the
    /// worker, the second races that worker's run (queued behind it, or claimed anew after
    /// it ended): handled once each, in order.
    #[test]
    fn loom_inline_a_declined_message_keeps_its_place() {
        loom::model(|| {
            let w = World::new(1);
            let worker = {
                let w = LArc::clone(&w);
                thread::spawn(move || w.worker())
            };
            w.send(1);
            w.send(2);
            w.sched.stop();
            worker.join().unwrap();
            assert_eq!(*w.log.lock(), vec![1, 2]);
            w.assert_settled();
        });
    }

    /// Two senders racing to claim the idle process, one of whose messages is declined: each
    /// message is handled exactly once, never two at a time (the log is written by the run's
    /// one owner), and nothing is left claimed.
    #[test]
    fn loom_inline_racing_claims_handle_each_message_once() {
        loom::model(|| {
            let w = World::new(1);
            let worker = {
                let w = LArc::clone(&w);
                thread::spawn(move || w.worker())
            };
            let other = {
                let w = LArc::clone(&w);
                thread::spawn(move || w.send(2))
            };
            w.send(1);
            other.join().unwrap();
            w.sched.stop();
            worker.join().unwrap();
            let mut log = w.log.lock().clone();
            log.sort_unstable();
            assert_eq!(log, vec![1, 2]);
            w.assert_settled();
        });
    }
}
