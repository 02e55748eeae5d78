//! The runtime: the owner of a process table and of the threads that serve it — the workers,
//! which run callback processes and monitor callbacks, and the timer thread — and of its one
//! shutdown, [`Runtime::close`].
//!
//! Invariant: a callback process runs on one worker at a time (its `scheduled` flag, see
//! `process.rs`), for at most [`BATCH`] messages before it goes to the back of the run queue.
//! At most one `close` joins threads at a time, and a close called on one of the runtime's own
//! threads (from inside a callback) never waits for another close, which may be joining it.
//!
//! Inline runs (`process.rs`): an inline-capable process whose delivery found it idle is run by
//! [`run_inline`] on the delivering thread, with the same loop as a worker's. Inline runs do
//! not nest: a thread already running an inline-capable process (inline or on a worker) hands
//! a further claimed run to the workers, so an inline run never re-enters a handler's locks
//! and its length stays bounded. `close` waits for the inline runs in flight after joining
//! the workers (they are short: an inline handler never blocks).

use crate::sync::{Condvar, Mutex};
use std::cell::Cell;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};

use super::context::{Core, Process, ProcessContext, RuntimeHandle};
use super::error::ActorError;
use super::process::{Handled, RunEnd};
use super::reason::ExitReason;
use super::table::Job;

/// How many messages a callback process handles before going to the back of the run queue, so
/// one busy process cannot starve the others.
const BATCH: usize = 32;

/// The threads a runtime started.
struct Threads {
    /// Every one of them (workers and the timer), to recognise a call made on one.
    ids: Vec<ThreadId>,
    /// Those not joined yet.
    handles: Vec<JoinHandle<()>>,
    /// A `close` is joining some of them (outside the lock).
    joining: bool,
}

/// An actor runtime: a process table and a pool of worker threads. [`Runtime::close`] (and
/// dropping it, which closes) shuts down in order: every live process exits with `SHUTDOWN`
/// (monitors see it, blocked mailbox receives return `Closed`), the workers finish the queued
/// work (including those monitor callbacks) and are joined, and every behaviour has been
/// dropped when it returns.
///
/// It dereferences to a [`RuntimeHandle`] for the process operations.
pub struct Runtime {
    handle: RuntimeHandle,
    workers: usize,
    threads: Mutex<Threads>,
    /// Signalled when a joining `close` is done.
    joined: Condvar,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// The most worker threads a runtime accepts.
    pub const MAX_WORKERS: usize = 1024;

    /// Starts a runtime with `workers` worker threads (0 means the available parallelism) and
    /// one timer thread. `InvalidArgument` above [`Runtime::MAX_WORKERS`]; `OutOfResources`
    /// when a thread cannot start.
    pub fn new(workers: usize) -> Result<Runtime, ActorError> {
        if workers > Self::MAX_WORKERS {
            return Err(ActorError::InvalidArgument("more than MAX_WORKERS workers"));
        }
        let n = if workers == 0 {
            thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            workers
        };
        let core = Arc::new_cyclic(|me| Core::new(me.clone(), run_inline));
        let mut rt = Runtime {
            handle: RuntimeHandle {
                inner: Arc::clone(&core),
            },
            workers: n,
            threads: Mutex::new(Threads {
                ids: Vec::with_capacity(n + 1),
                handles: Vec::with_capacity(n + 1),
                joining: false,
            }),
            joined: Condvar::new(),
        };
        let timer = {
            let core = Arc::clone(&core);
            thread::Builder::new()
                .name("transom-timer".to_owned())
                .spawn(move || core.run_timers())
        };
        // On failure, dropping `rt` closes it and joins the threads started so far.
        rt.adopt(timer)?;
        for i in 0..n {
            let core = Arc::clone(&core);
            let worker = thread::Builder::new()
                .name(format!("transom-worker-{i}"))
                .spawn(move || work(&core));
            rt.adopt(worker)?;
        }
        Ok(rt)
    }

    fn adopt(&mut self, spawned: std::io::Result<JoinHandle<()>>) -> Result<(), ActorError> {
        let h = spawned.map_err(|e| ActorError::OutOfResources(e.to_string()))?;
        let t = self.threads.get_mut();
        t.ids.push(h.thread().id());
        t.handles.push(h);
        Ok(())
    }

    /// A handle that can be cloned into threads, behaviours and callbacks.
    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// The number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.workers
    }

    /// Shuts the runtime down; idempotent, and safe to call from any thread while others use
    /// the runtime (their later calls return `Closed`). Every live process exits with
    /// `SHUTDOWN`, blocked receives return `Closed`, the workers drain the queued work and are
    /// joined, and every behaviour and monitor callback has been dropped when this returns.
    ///
    /// Called from inside a callback (on one of the runtime's own threads) it shuts down the
    /// same way but cannot join the calling thread, which finishes its callback and then stops;
    /// the callbacks still running elsewhere may end after it returns. A later `close` (or the
    /// drop) from another thread joins what is left.
    pub fn close(&self) {
        let core = &self.handle.inner;
        core.shutdown();
        let me = thread::current().id();
        let mut t = self.threads.lock();
        let own_thread = t.ids.contains(&me);
        while t.joining {
            if own_thread {
                // The close that is joining may be waiting for this very thread.
                return;
            }
            t = self.joined.wait(t);
        }
        let (mine, others): (Vec<_>, Vec<_>) =
            t.handles.drain(..).partition(|h| h.thread().id() == me);
        t.handles = mine;
        if others.is_empty() {
            return;
        }
        t.joining = true;
        drop(t);
        for h in others {
            let _ = h.join();
        }
        // The stopped scheduler refuses new jobs (their pushers handle them), so nothing should
        // be left; if anything is, it is handled here rather than stranded.
        while let Some(job) = core.try_next_job() {
            core.run_stranded(job);
        }
        // Inline runs claimed before the table closed may still be finishing on other threads
        // (each is a few microseconds: inline handlers never block); their behaviours are
        // dropped by then.
        while !core.inline_idle() {
            thread::yield_now();
        }
        self.threads.lock().joining = false;
        self.joined.notify_all();
    }
}

impl Deref for Runtime {
    type Target = RuntimeHandle;
    fn deref(&self) -> &RuntimeHandle {
        &self.handle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // A runtime dropped on one of its own threads (moved into a behaviour) leaves that
        // thread's handle unjoined: the thread returns on its own once its callback is done.
        self.close();
    }
}

/// A worker: runs jobs until the scheduler is stopped and drained.
fn work(core: &Arc<Core>) {
    while let Some(job) = core.next_job() {
        match job {
            Job::Run(proc) => run_process(core, &proc),
            Job::Monitor { cell, pid, reason } => core.fire_monitor(&cell, pid, &reason),
        }
    }
}

std::thread_local! {
    /// Whether this thread is running an inline-capable process (inline or as a worker).
    static IN_INLINE_CAPABLE: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as running an inline-capable process until dropped.
struct InlineCapableGuard {
    was: bool,
}

impl InlineCapableGuard {
    fn enter() -> Self {
        InlineCapableGuard {
            was: IN_INLINE_CAPABLE.replace(true),
        }
    }
}

impl Drop for InlineCapableGuard {
    fn drop(&mut self) {
        IN_INLINE_CAPABLE.set(self.was);
    }
}

/// The table's inline runner: runs a claimed inline run of `proc` on this thread, or hands it
/// to the workers when this thread is already running an inline-capable process (no nesting);
/// then ends the run's count.
fn run_inline(core: Arc<Core>, proc: Arc<Process>) {
    if IN_INLINE_CAPABLE.get() {
        core.schedule(Job::Run(proc));
        core.finish_inline_run();
    } else {
        let ctx = ProcessContext::new(RuntimeHandle { inner: core }, proc, true);
        run_with(&ctx);
        ctx.runtime().inner.finish_inline_run();
    }
}

/// A worker's run of `proc`: see [`run_with`].
fn run_process(core: &Arc<Core>, proc: &Arc<Process>) {
    let ctx = ProcessContext::new(
        RuntimeHandle {
            inner: Arc::clone(core),
        },
        Arc::clone(proc),
        false,
    );
    run_with(&ctx);
}

/// Runs `ctx`'s process for up to [`BATCH`] messages, then requeues it if it has more. Inline
/// (on the thread whose delivery claimed the run), a message the handler declines (and
/// everything after it) goes to a worker.
fn run_with(ctx: &ProcessContext) {
    let (core, proc) = (&ctx.runtime().inner, ctx.process());
    let _guard = proc.is_inline_capable().then(InlineCapableGuard::enter);
    let end = proc.run_batch(
        BATCH,
        |behaviour, msg| {
            let outcome = catch_unwind(AssertUnwindSafe(|| behaviour.handle(ctx, msg)));
            Handled {
                declined: ctx.take_declined(),
                exit: match outcome {
                    Ok(Ok(())) => None,
                    Ok(Err(reason)) => Some(reason),
                    Err(payload) => Some(ExitReason::from_panic(&*payload)),
                },
            }
        },
        // The process is still `scheduled`, so the run's next step drops the behaviour.
        |reason| {
            core.terminate(proc.pid(), reason);
        },
    );
    match end {
        RunEnd::Idle => {}
        RunEnd::Exited => {
            core.release_if_dead(proc);
        }
        RunEnd::Again => core.schedule(Job::Run(Arc::clone(proc))),
    }
}
