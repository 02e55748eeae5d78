//! Workers: a thread that pulls batches from a canal and hands them to a callback.
//!
//! Invariant: a cursor worker acknowledges a batch only after its callback returned
//! `Continue` or `Stop` for it, so every event the callback did not confirm (a
//! `StopAndRollback`, a panic, a stop between pull and callback) is delivered again by the
//! next reader of the checkpoint. The worker waits only inside `pull_batch`, which `stop`
//! interrupts; it never holds the store (canals hold it weakly).
//!
//! The optional pollable descriptor ([`Worker::fd`]) is raised by the worker thread right
//! after it published its result, and never lowered: a worker ends once.

use crate::sync::ready_fd::{self, ReadyFd};
use crate::sync::{Condvar, Mutex, MutexGuard};
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::{Canal, CanalError, CanalKind, Delivery, Interrupter, Item, Pulled};

/// What the batch callback tells the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerAction {
    /// The batch is handled: ack it (cursors) and pull the next one.
    Continue,
    /// The batch is handled: ack it (cursors) and stop.
    Stop,
    /// The batch is not handled: don't ack it, rewind the cursor to the acknowledged position
    /// and stop (subscriptions just stop: their items cannot be re-delivered).
    StopAndRollback,
}

/// How to run a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Largest batch handed to the callback (at least 1). Default 256.
    pub max_batch: usize,
    /// Named cursors: checkpoint after every n-th acknowledged batch (0 = never during the
    /// run). Default 0. Must be 0 for unnamed cursors and subscriptions.
    pub checkpoint_every: u32,
    /// Named cursors: checkpoint when the worker ends, if anything was acknowledged since the
    /// last checkpoint. Default true; ignored for unnamed cursors and subscriptions.
    pub checkpoint_on_exit: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            max_batch: 256,
            checkpoint_every: 0,
            checkpoint_on_exit: true,
        }
    }
}

/// Why a worker ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerExit {
    /// [`Worker::stop`] was called.
    Stopped,
    /// The callback returned `Stop` or `StopAndRollback`.
    CallbackStopped,
    /// The canal closed (its store closed or was dropped) after everything was delivered.
    Closed,
}

/// Why a worker ended abnormally.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WorkerError {
    /// The callback panicked; its batch was not acknowledged (cursors rewind to the acked
    /// position).
    #[error("the worker callback panicked: {message}")]
    Panic {
        /// The panic message (`"<non-string panic payload>"` if it was not a string).
        message: String,
    },
    /// A checkpoint (periodic or at exit) failed; the worker stopped at once.
    #[error("checkpoint failed: {0}")]
    Checkpoint(CanalError),
    /// Pulling failed for a reason other than a close (e.g. a DISCONNECT subscription
    /// overflowed: `Canal(Disconnected)`).
    #[error("pull failed: {0}")]
    Canal(CanalError),
}

/// How a worker ended.
pub type WorkerResult = Result<WorkerExit, WorkerError>;

/// Why [`Worker::join`] could not wait. (A timeout is not an error: `join` then returns
/// `Ok(None)`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JoinError {
    /// `join` was called from the worker's own thread (its callback), which would wait for
    /// itself forever. Call `stop` there instead and join from another thread.
    #[error("join called from the worker's own callback")]
    FromWorkerThread,
}

struct Shared {
    stop: AtomicBool,
    interrupter: Interrupter,
    done: Mutex<Option<(WorkerResult, Option<Canal>)>>,
    finished: Condvar,
    /// Raised once `done` is set. Lock order: `fd`, then `done`.
    fd: Mutex<Option<ReadyFd>>,
}

impl Shared {
    fn done(&self) -> MutexGuard<'_, Option<(WorkerResult, Option<Canal>)>> {
        self.done.lock()
    }
}

/// A running (or finished) worker. `Send + Sync`: stop and join from any thread.
///
/// Dropping the handle stops the worker without waiting; the thread ends after its current
/// callback returns and then drops the canal.
pub struct Worker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// Why [`spawn_worker`] did not start a worker. The canal is handed back untouched; the
/// callback was dropped.
#[derive(Debug, Error)]
#[error("{error}")]
pub struct SpawnError {
    /// `InvalidArgument` for `max_batch == 0` or a `checkpoint_every` on a canal that cannot
    /// checkpoint; `Io` if the OS refused a thread.
    pub error: CanalError,
    /// The canal passed in (boxed: a canal is a few hundred bytes).
    pub canal: Box<Canal>,
}

/// Starts a thread that pulls batches of up to `options.max_batch` items from `canal` and calls
/// `callback` with each. See [`WorkerAction`] for what the answer does, [`Worker::join`] for
/// how the worker ends, [`SpawnError`] for the refusals.
pub fn spawn_worker<F>(
    canal: Canal,
    options: WorkerOptions,
    callback: F,
) -> Result<Worker, SpawnError>
where
    F: FnMut(&[Item<'_>]) -> WorkerAction + Send + 'static,
{
    let refuse = |canal, reason| {
        Err(SpawnError {
            error: CanalError::InvalidArgument(reason),
            canal: Box::new(canal),
        })
    };
    if options.max_batch == 0 {
        return refuse(canal, "max_batch must be at least 1");
    }
    if options.checkpoint_every > 0 && canal.name().is_none() {
        return refuse(
            canal,
            "checkpoint_every needs a cursor opened with a checkpoint name",
        );
    }
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        interrupter: canal.interrupter(),
        done: Mutex::new(None),
        finished: Condvar::new(),
        fd: Mutex::new(None),
    });
    // The canal travels through a slot, so a failed spawn can hand it back.
    let handoff = Arc::new(Mutex::new(Some(canal)));
    let spawned = {
        let (shared, handoff) = (Arc::clone(&shared), Arc::clone(&handoff));
        std::thread::Builder::new()
            .name("transom-worker".into())
            .spawn(move || {
                let taken = handoff.lock().take();
                let mut canal = taken.expect("the canal is handed to the started thread");
                // `run` catches callback panics itself; this only guards the worker's own code,
                // so that `join` never waits for a result that will not come.
                let result = catch_unwind(AssertUnwindSafe(|| {
                    run(&mut canal, &options, callback, &shared.stop)
                }))
                .unwrap_or_else(|payload| {
                    Err(WorkerError::Panic {
                        message: crate::sync::panic_message(&*payload).to_owned(),
                    })
                });
                *shared.done() = Some((result, Some(canal)));
                shared.finished.notify_all();
                // After `done` is released: `Worker::fd` reads it under the `fd` lock.
                ready_fd::update(&mut shared.fd.lock(), true);
            })
    };
    match spawned {
        Ok(thread) => Ok(Worker {
            shared,
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
        }),
        Err(e) => {
            let canal = handoff
                .lock()
                .take()
                .expect("a thread that never started did not take the canal");
            Err(SpawnError {
                error: CanalError::io("spawning the worker thread", e),
                canal: Box::new(canal),
            })
        }
    }
}

fn run<F>(
    canal: &mut Canal,
    options: &WorkerOptions,
    mut callback: F,
    stop: &AtomicBool,
) -> WorkerResult
where
    F: FnMut(&[Item<'_>]) -> WorkerAction,
{
    let named = canal.name().is_some();
    let is_cursor = canal.kind() == CanalKind::Cursor;
    let mut since_checkpoint = 0u32;
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(WorkerExit::Stopped);
        }
        let items = match canal.pull_batch(options.max_batch, None) {
            Ok(Pulled::Items(items)) => items,
            Ok(Pulled::TimedOut | Pulled::Interrupted) => continue,
            Err(CanalError::Closed) => break Ok(WorkerExit::Closed),
            Err(e) => break Err(WorkerError::Canal(e)),
        };
        // The batch's ack point (cursors): its last item, an event or a retention gap.
        let last = items.last().map(|i| match i {
            Delivery::Event { sequence, .. } => *sequence,
            Delivery::Gap { to_seq, .. } => *to_seq,
        });
        let action = match catch_unwind(AssertUnwindSafe(|| callback(items))) {
            Ok(a) => a,
            Err(payload) => {
                if is_cursor {
                    let _ = canal.rewind();
                }
                break Err(WorkerError::Panic {
                    message: crate::sync::panic_message(&*payload).to_owned(),
                });
            }
        };
        if action == WorkerAction::StopAndRollback {
            if is_cursor {
                let _ = canal.rewind();
            }
            break Ok(WorkerExit::CallbackStopped);
        }
        if is_cursor {
            if let Some(seq) = last {
                match canal.ack(seq) {
                    Ok(()) => {}
                    // The canal (transom_canal_close) or its store was closed while the callback
                    // ran: nothing is acked past the close; the next pulls drain or end.
                    Err(CanalError::Closed) => {}
                    Err(e) => {
                        unreachable!("the last sequence of a delivered batch is ackable: {e}")
                    }
                }
            }
        }
        if action == WorkerAction::Stop {
            break Ok(WorkerExit::CallbackStopped);
        }
        since_checkpoint += 1;
        if options.checkpoint_every > 0 && since_checkpoint >= options.checkpoint_every {
            since_checkpoint = 0;
            match canal.checkpoint() {
                // The store was closed under the worker: it drains what was committed, and its
                // acknowledgements and checkpoints are refused from now on.
                Ok(()) | Err(CanalError::Closed) => {}
                Err(e) => return Err(WorkerError::Checkpoint(e)),
            }
        }
    };
    if named && options.checkpoint_on_exit && canal.acked() > canal.checkpointed() {
        match canal.checkpoint_at_exit() {
            // An in-memory store that was dropped took its checkpoints with it: nothing to save.
            Ok(()) | Err(CanalError::Closed) => {}
            // An earlier error stays the terminal one: it is the cause.
            Err(e) => return result.and(Err(WorkerError::Checkpoint(e))),
        }
    }
    result
}

impl Worker {
    /// Asks the worker to stop and wakes its blocked pull. Non-blocking; callable from any
    /// thread, including the worker's own callback. The current callback is not interrupted:
    /// the worker stops after it returns (acking its batch if it said `Continue`), and a batch
    /// the pull already took out when the stop arrived is still handed to the callback (for a
    /// subscription it could not be delivered again).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.interrupter.interrupt();
    }

    /// A pollable descriptor (Linux eventfd, non-blocking, close-on-exec), created on the
    /// first call and owned by this handle: closed when it is dropped. Readable once the
    /// worker has ended (a [`Worker::join`] would not wait), and from then on. Safe with
    /// `poll`, `epoll` and `select`; never read or write it yourself. Fails only if the OS
    /// refused a descriptor.
    pub fn fd(&self) -> std::io::Result<RawFd> {
        let mut fd = self.shared.fd.lock();
        let ended = self.shared.done().is_some();
        ready_fd::ensure(&mut fd, ended)
    }

    /// Whether the worker has ended.
    pub fn is_finished(&self) -> bool {
        self.shared.done().is_some()
    }

    /// Waits up to `timeout` (`None` = no limit, `Some(ZERO)` = don't wait) for the worker to
    /// end and returns how it ended; once it has, every call returns the same result at once.
    ///
    /// `Ok(Some(Ok(WorkerExit::…)))` for a normal end (`stop`, the callback said stop, or the
    /// canal closed and everything was delivered); `Ok(Some(Err(WorkerError::…)))` for a
    /// callback panic, a failed checkpoint, or a failed pull; `Ok(None)` when the timeout
    /// passed first (the worker keeps running). `Err(JoinError::FromWorkerThread)` if called
    /// from the callback.
    pub fn join(&self, timeout: Option<Duration>) -> Result<Option<WorkerResult>, JoinError> {
        if std::thread::current().id() == self.thread_id {
            return Err(JoinError::FromWorkerThread);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut done = self.shared.done();
        let result = loop {
            if let Some((result, _)) = &*done {
                break result.clone();
            }
            done = match deadline {
                None => self.shared.finished.wait(done),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(None);
                    }
                    self.shared.finished.wait_timeout(done, d - now).0
                }
            };
        };
        drop(done);
        // The thread has published its result and is returning: reap it.
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        Ok(Some(result))
    }

    /// [`Worker::stop`] then [`Worker::join`].
    pub fn stop_and_join(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<WorkerResult>, JoinError> {
        self.stop();
        self.join(timeout)
    }

    /// After the worker ended: its canal, positioned after the last acknowledged batch
    /// (cursors) — for example to pull by hand or reuse the checkpoint name. `None` while the
    /// worker runs, or if already taken. Dropping the [`Worker`] drops an untaken canal.
    pub fn take_canal(&self) -> Option<Canal> {
        self.shared.done().as_mut().and_then(|(_, c)| c.take())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
        let fd = self.shared.fd.lock().take();
        drop(fd);
    }
}
