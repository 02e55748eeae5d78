//! The runtime: the process table, the exit-signal machinery (links, trap_exit, monitors) and the
//! worker pool that runs callback processes and monitor callbacks.
//!
//! Invariant: every change to who is alive, who is linked to whom, who traps exits and who is
//! monitored happens under the one table lock, so a cascade of exits is atomic — no observer
//! can see a half-linked or half-dead group. No user code (behaviour, monitor callback, or their
//! drops) ever runs under that lock: such work is collected in [`Effects`] and carried out after
//! the lock is released. Lock order: table → monitor map / process state → scheduler.

use crate::sync::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::mem;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::context::ProcessContext;
use super::error::ActorError;
use super::mailbox::Mailbox;
use super::message::Message;
use super::monitor::{MonitorCallback, MonitorCell};
use super::pid::{IdSource, MonitorRef, Pid, TimerRef};
use super::process::{drop_behaviour, Behaviour, Delivered, Entry, Proc, ProcKind};
use super::reason::{ExitKind, ExitReason};
use super::scheduler::Scheduler;
use super::timer::{Due, Timers};

/// How many messages a callback process handles before going to the back of the run queue, so
/// one busy process cannot starve the others.
const BATCH: usize = 32;

/// Options applied atomically with the creation of a process (nobody can observe the process
/// before they are in place).
#[derive(Default)]
pub struct SpawnOptions {
    link: Option<Pid>,
    trap_exit: bool,
    monitor: Option<MonitorCallback>,
}

impl SpawnOptions {
    /// No link, not trapping exits, no monitor.
    pub fn new() -> Self {
        SpawnOptions::default()
    }

    /// Link the new process to `pid`. When `pid` is already dead the new process gets the
    /// `NOPROC` exit signal at once: as its first message when trapping exits, otherwise it
    /// exits with `NOPROC` before handling anything (spawn still returns its pid).
    pub fn link(mut self, pid: Pid) -> Self {
        self.link = Some(pid);
        self
    }

    /// Start with trap_exit set: exit signals from links arrive as [`Message::Exit`].
    pub fn trap_exit(mut self, trap: bool) -> Self {
        self.trap_exit = trap;
        self
    }

    /// Monitor the new process with `callback` (its reference is in [`Spawned::monitor`]).
    pub fn monitor(mut self, callback: impl FnOnce(Pid, &ExitReason) + Send + 'static) -> Self {
        self.monitor = Some(Box::new(callback));
        self
    }
}

impl std::fmt::Debug for SpawnOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnOptions")
            .field("link", &self.link)
            .field("trap_exit", &self.trap_exit)
            .field("monitor", &self.monitor.is_some())
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

/// Work for the workers.
pub(crate) enum Job {
    /// Run a callback process for up to [`BATCH`] messages (or clean it up if it exited).
    Run(Arc<Proc>),
    /// Call a monitor's callback.
    Monitor {
        cell: Arc<MonitorCell>,
        pid: Pid,
        reason: ExitReason,
    },
}

struct Table {
    entries: HashMap<Pid, Entry>,
    closed: bool,
}

/// What a locked section decided to do once the lock is released.
#[derive(Default)]
struct Effects {
    runs: Vec<Arc<Proc>>,
    fires: Vec<(Arc<MonitorCell>, Pid, ExitReason)>,
    drops: Vec<Box<dyn Behaviour>>,
    callbacks: Vec<MonitorCallback>,
}

pub(crate) struct Inner {
    table: Mutex<Table>,
    /// Every monitor whose callback has not finished or been cancelled, for `demonitor`.
    monitors: Mutex<HashMap<MonitorRef, Arc<MonitorCell>>>,
    sched: Scheduler<Job>,
    timers: Timers,
    pids: IdSource,
    refs: IdSource,
    timer_ids: IdSource,
}

fn deliver_into(proc: &Arc<Proc>, msg: Message, fx: &mut Effects) -> Result<(), ActorError> {
    if proc.deliver(msg)? == Delivered::Schedule {
        fx.runs.push(Arc::clone(proc));
    }
    Ok(())
}

impl Inner {
    fn new() -> Self {
        Inner {
            table: Mutex::new(Table {
                entries: HashMap::new(),
                closed: false,
            }),
            monitors: Mutex::new(HashMap::new()),
            sched: Scheduler::new(),
            timers: Timers::new(),
            pids: IdSource::new(),
            refs: IdSource::new(),
            timer_ids: IdSource::new(),
        }
    }

    fn lock_table(&self) -> MutexGuard<'_, Table> {
        // Table updates never call user code and never panic half-way in practice; recovering a
        // poisoned lock beats turning every later call into a panic.
        self.table.lock()
    }

    fn lock_monitors(&self) -> MutexGuard<'_, HashMap<MonitorRef, Arc<MonitorCell>>> {
        self.monitors.lock()
    }

    /// Runs `f` under the table lock, then carries out its effects without the lock.
    fn with_table<R>(self: &Arc<Self>, f: impl FnOnce(&mut Table, &mut Effects) -> R) -> R {
        let mut fx = Effects::default();
        let r = {
            let mut t = self.lock_table();
            f(&mut t, &mut fx)
        };
        self.apply(fx);
        r
    }

    fn apply(self: &Arc<Self>, fx: Effects) {
        let Effects {
            runs,
            fires,
            drops,
            callbacks,
        } = fx;
        for p in runs {
            self.schedule(Job::Run(p));
        }
        for (cell, pid, reason) in fires {
            self.schedule(Job::Monitor { cell, pid, reason });
        }
        for b in drops {
            drop_behaviour(b);
        }
        for cb in callbacks {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(cb)));
        }
    }

    /// Queues `job`; once the scheduler is stopping (every process is dead by then) the job is
    /// run right here instead, so nothing is stranded after the workers are gone.
    fn schedule(self: &Arc<Self>, job: Job) {
        if let Err(job) = self.sched.push(job) {
            self.run_job(job);
        }
    }

    fn run_job(self: &Arc<Self>, job: Job) {
        match job {
            Job::Run(proc) => self.run_process(&proc),
            Job::Monitor { cell, pid, reason } => {
                cell.fire(pid, &reason);
                self.lock_monitors().remove(&cell.mref());
            }
        }
    }

    fn run_process(self: &Arc<Self>, proc: &Arc<Proc>) {
        let ctx = ProcessContext::new(
            RuntimeHandle {
                inner: Arc::clone(self),
            },
            Arc::clone(proc),
        );
        for _ in 0..BATCH {
            let (msg, mut behaviour) = {
                let mut st = proc.lock();
                if st.exit.is_some() {
                    st.scheduled = false;
                    let b = st.behaviour.take();
                    drop(st);
                    if let Some(b) = b {
                        drop_behaviour(b);
                    }
                    return;
                }
                let Some(msg) = st.queue.pop_front() else {
                    st.scheduled = false;
                    return;
                };
                let Some(b) = st.behaviour.take() else {
                    // Unreachable by the process invariant (only its one scheduled run takes the
                    // behaviour); refusing to run is the safe answer if it ever happens.
                    st.scheduled = false;
                    return;
                };
                (msg, b)
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| behaviour.handle(&ctx, msg)));
            proc.lock().behaviour = Some(behaviour);
            let reason = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some(reason),
                Err(payload) => Some(ExitReason::from_panic(&*payload)),
            };
            if let Some(reason) = reason {
                // The process is still `scheduled`, so the next iteration drops the behaviour.
                self.terminate_pid(proc.pid(), reason);
            }
        }
        {
            let mut st = proc.lock();
            if st.exit.is_none() && st.queue.is_empty() {
                st.scheduled = false;
                return;
            }
        }
        self.schedule(Job::Run(Arc::clone(proc)));
    }

    /// Ends `pid` and everything its exit cascades to, under the held table lock.
    fn kill_locked(&self, t: &mut Table, pid: Pid, reason: ExitReason, fx: &mut Effects) {
        let mut work = vec![(pid, reason)];
        while let Some((pid, reason)) = work.pop() {
            let Some(entry) = t.entries.remove(&pid) else {
                continue;
            };
            if let Some(b) = entry.proc.mark_dead(&reason) {
                fx.drops.push(b);
            }
            for cell in entry.monitors {
                fx.fires.push((cell, pid, reason.clone()));
            }
            for linked in entry.links {
                let Some(le) = t.entries.get_mut(&linked) else {
                    continue;
                };
                le.links.remove(&pid);
                if le.trap_exit {
                    let msg = Message::Exit {
                        pid,
                        reason: reason.clone(),
                    };
                    // The entry is in the table, so the process is alive: delivery succeeds.
                    let _ = deliver_into(&le.proc, msg, fx);
                } else if !reason.is_normal() {
                    work.push((linked, reason.clone()));
                }
            }
        }
    }

    /// Delivers a link exit signal `from` → `to` under the held table lock (Erlang rules).
    fn link_signal_locked(
        &self,
        t: &mut Table,
        from: Pid,
        to: Pid,
        reason: ExitReason,
        fx: &mut Effects,
    ) {
        let Some(e) = t.entries.get(&to) else {
            return;
        };
        if e.trap_exit {
            let proc = Arc::clone(&e.proc);
            let _ = deliver_into(&proc, Message::Exit { pid: from, reason }, fx);
        } else if !reason.is_normal() {
            self.kill_locked(t, to, reason, fx);
        }
    }

    pub(crate) fn terminate_pid(self: &Arc<Self>, pid: Pid, reason: ExitReason) -> bool {
        self.with_table(|t, fx| {
            if t.entries.contains_key(&pid) {
                self.kill_locked(t, pid, reason, fx);
                true
            } else {
                false
            }
        })
    }

    fn create(
        self: &Arc<Self>,
        kind: ProcKind,
        behaviour: Option<Box<dyn Behaviour>>,
        opts: SpawnOptions,
    ) -> Result<(Arc<Proc>, Option<MonitorRef>), ActorError> {
        let SpawnOptions {
            link,
            trap_exit,
            monitor,
        } = opts;
        if link.is_some_and(|l| !l.is_valid()) {
            return Err(ActorError::InvalidArgument("link target is pid 0"));
        }
        self.with_table(|t, fx| {
            if t.closed {
                fx.drops.extend(behaviour);
                fx.callbacks.extend(monitor);
                return Err(ActorError::Closed);
            }
            let pid = Pid::from_raw(self.pids.next());
            let proc = Arc::new(Proc::new(pid, kind, behaviour));
            let mut entry = Entry::new(Arc::clone(&proc), trap_exit);
            let mref = monitor.map(|cb| {
                let mref = MonitorRef::from_raw(self.refs.next());
                let cell = Arc::new(MonitorCell::new(mref, pid, cb));
                self.lock_monitors().insert(mref, Arc::clone(&cell));
                entry.monitors.push(cell);
                mref
            });
            if let Some(l) = link {
                if let Some(le) = t.entries.get_mut(&l) {
                    le.links.insert(pid);
                    entry.links.insert(l);
                }
            }
            t.entries.insert(pid, entry);
            if let Some(l) = link {
                if !t.entries.contains_key(&l) {
                    self.link_signal_locked(t, l, pid, ExitReason::noproc(), fx);
                }
            }
            Ok((proc, mref))
        })
    }

    fn lookup(&self, pid: Pid) -> Result<Arc<Proc>, ActorError> {
        let t = self.lock_table();
        match t.entries.get(&pid) {
            Some(e) => Ok(Arc::clone(&e.proc)),
            None if t.closed => Err(ActorError::Closed),
            None => Err(ActorError::NoProc),
        }
    }

    pub(crate) fn send(
        self: &Arc<Self>,
        from: Pid,
        to: Pid,
        bytes: Box<[u8]>,
    ) -> Result<(), ActorError> {
        let proc = self.lookup(to)?;
        // Delivery under the receiver's own lock is what makes sends FIFO per sender/receiver
        // pair: one sender's sends reach that lock in program order.
        if proc.deliver(Message::User { from, bytes })? == Delivered::Schedule {
            self.schedule(Job::Run(proc));
        }
        Ok(())
    }

    pub(crate) fn exit(
        self: &Arc<Self>,
        from: Pid,
        to: Pid,
        reason: ExitReason,
    ) -> Result<(), ActorError> {
        self.with_table(|t, fx| {
            if t.closed {
                return Err(ActorError::Closed);
            }
            let Some(e) = t.entries.get(&to) else {
                return Err(ActorError::NoProc);
            };
            if reason.kind() == ExitKind::Killed || !e.trap_exit {
                self.kill_locked(t, to, reason, fx);
            } else {
                let proc = Arc::clone(&e.proc);
                deliver_into(&proc, Message::Exit { pid: from, reason }, fx)?;
            }
            Ok(())
        })
    }

    pub(crate) fn link(self: &Arc<Self>, a: Pid, b: Pid) -> Result<(), ActorError> {
        if !a.is_valid() || !b.is_valid() {
            return Err(ActorError::InvalidArgument("pid 0"));
        }
        self.with_table(|t, fx| {
            if t.closed {
                return Err(ActorError::Closed);
            }
            if !t.entries.contains_key(&a) {
                return Err(ActorError::NoProc);
            }
            if a == b {
                return Ok(());
            }
            match t.entries.get_mut(&b) {
                Some(eb) => {
                    eb.links.insert(a);
                    if let Some(ea) = t.entries.get_mut(&a) {
                        ea.links.insert(b);
                    }
                    Ok(())
                }
                None => {
                    self.link_signal_locked(t, b, a, ExitReason::noproc(), fx);
                    Err(ActorError::NoProc)
                }
            }
        })
    }

    pub(crate) fn unlink(self: &Arc<Self>, a: Pid, b: Pid) -> Result<(), ActorError> {
        self.with_table(|t, _| {
            if t.closed {
                return Err(ActorError::Closed);
            }
            let Some(ea) = t.entries.get_mut(&a) else {
                return Err(ActorError::NoProc);
            };
            ea.links.remove(&b);
            if let Some(eb) = t.entries.get_mut(&b) {
                eb.links.remove(&a);
            }
            Ok(())
        })
    }

    pub(crate) fn set_trap_exit(&self, pid: Pid, trap: bool) -> Result<(), ActorError> {
        let mut t = self.lock_table();
        if t.closed {
            return Err(ActorError::Closed);
        }
        let e = t.entries.get_mut(&pid).ok_or(ActorError::NoProc)?;
        e.trap_exit = trap;
        Ok(())
    }

    pub(crate) fn monitor(
        self: &Arc<Self>,
        target: Pid,
        callback: MonitorCallback,
    ) -> Result<MonitorRef, ActorError> {
        if !target.is_valid() {
            return Err(ActorError::InvalidArgument("cannot monitor pid 0"));
        }
        self.with_table(|t, fx| {
            if t.closed {
                fx.callbacks.push(callback);
                return Err(ActorError::Closed);
            }
            let mref = MonitorRef::from_raw(self.refs.next());
            let cell = Arc::new(MonitorCell::new(mref, target, callback));
            self.lock_monitors().insert(mref, Arc::clone(&cell));
            match t.entries.get_mut(&target) {
                Some(e) => e.monitors.push(cell),
                None => fx.fires.push((cell, target, ExitReason::noproc())),
            }
            Ok(mref)
        })
    }

    pub(crate) fn demonitor(&self, mref: MonitorRef) -> bool {
        let Some(cell) = self.lock_monitors().get(&mref).cloned() else {
            return false;
        };
        {
            let mut t = self.lock_table();
            if let Some(e) = t.entries.get_mut(&cell.target()) {
                e.monitors.retain(|c| c.mref() != mref);
            }
        }
        let cancelled = cell.cancel();
        self.lock_monitors().remove(&mref);
        cancelled
    }

    pub(crate) fn send_after(
        &self,
        from: Pid,
        to: Pid,
        delay: Duration,
        bytes: Box<[u8]>,
    ) -> Result<TimerRef, ActorError> {
        if !to.is_valid() {
            return Err(ActorError::InvalidArgument("timer target is pid 0"));
        }
        let at = Instant::now()
            .checked_add(delay)
            .ok_or(ActorError::InvalidArgument(
                "timer delay overflows the clock",
            ))?;
        let id = self.timer_ids.next();
        if self.timers.add(id, at, Due { from, to, bytes }) {
            Ok(TimerRef::from_raw(id))
        } else {
            Err(ActorError::Closed)
        }
    }

    pub(crate) fn is_alive(&self, pid: Pid) -> bool {
        self.lock_table().entries.contains_key(&pid)
    }

    /// Every live process exits with `SHUTDOWN` (no link cascade: they all die anyway), their
    /// monitors are queued, then the workers are told to drain and stop. Idempotent.
    fn shutdown(self: &Arc<Self>) {
        self.with_table(|t, fx| {
            if t.closed {
                return;
            }
            t.closed = true;
            let reason = ExitReason::shutdown();
            for (pid, entry) in mem::take(&mut t.entries) {
                if let Some(b) = entry.proc.mark_dead(&reason) {
                    fx.drops.push(b);
                }
                for cell in entry.monitors {
                    fx.fires.push((cell, pid, reason.clone()));
                }
            }
        });
        self.timers.stop();
        self.sched.stop();
    }
}

/// A cheap, cloneable handle to a runtime, usable from any thread (and from inside behaviours
/// and monitor callbacks). Once the [`Runtime`] is dropped, every call returns
/// [`ActorError::Closed`] (or `NoProc`/`false` where documented).
#[derive(Clone)]
pub struct RuntimeHandle {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeHandle").finish_non_exhaustive()
    }
}

impl RuntimeHandle {
    /// Starts a callback process running `behaviour`, with `options` applied atomically.
    /// `Closed` after shutdown (the behaviour and any monitor callback are dropped uncalled).
    pub fn spawn(
        &self,
        behaviour: impl Behaviour,
        options: SpawnOptions,
    ) -> Result<Spawned, ActorError> {
        let (proc, monitor) =
            self.inner
                .create(ProcKind::Callback, Some(Box::new(behaviour)), options)?;
        Ok(Spawned {
            pid: proc.pid(),
            monitor,
        })
    }

    /// Creates a mailbox process owned by the calling thread (see [`Mailbox`]), with `options`
    /// applied atomically.
    pub fn open_mailbox(&self, options: SpawnOptions) -> Result<Mailbox, ActorError> {
        let (proc, monitor) = self.inner.create(ProcKind::Mailbox, None, options)?;
        Ok(Mailbox::new(self.clone(), proc, monitor))
    }

    /// Sends `bytes` to `to` from outside the runtime (`from` = [`Pid::NONE`]).
    /// `NoProc` when `to` is dead (the message is dropped), `Closed` after shutdown.
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

    /// Sends an exit signal to `pid` from outside the runtime. See [`RuntimeHandle::exit_from`].
    pub fn exit(&self, pid: Pid, reason: ExitReason) -> Result<(), ActorError> {
        self.inner.exit(Pid::NONE, pid, reason)
    }

    /// Sends an exit signal to `pid`, labelled as coming from `from`.
    ///
    /// - `KILLED` is untrappable: the target exits with this reason.
    /// - Any other reason: a trapping target gets `Message::Exit { pid: from, reason }`; a
    ///   non-trapping target exits with `reason` — *including* `NORMAL`, which makes `exit` an
    ///   explicit termination (Erlang would ignore a normal signal here).
    ///
    /// `NoProc` when `pid` is dead.
    pub fn exit_from(&self, from: Pid, pid: Pid, reason: ExitReason) -> Result<(), ActorError> {
        self.inner.exit(from, pid, reason)
    }

    /// Links `a` and `b` (bidirectional; linking twice is one link; linking a process to itself
    /// does nothing). When `b` is dead, `a` receives the `NOPROC` exit signal from `b` at once
    /// (an `EXIT` message when trapping, else `a` exits with `NOPROC`) and this returns
    /// `NoProc`. When `a` is dead: `NoProc`, nothing happens.
    pub fn link(&self, a: Pid, b: Pid) -> Result<(), ActorError> {
        self.inner.link(a, b)
    }

    /// Removes the link between `a` and `b`, if any. `NoProc` when `a` is dead.
    pub fn unlink(&self, a: Pid, b: Pid) -> Result<(), ActorError> {
        self.inner.unlink(a, b)
    }

    /// Sets whether `pid` traps exits (gets link exit signals as [`Message::Exit`]).
    pub fn set_trap_exit(&self, pid: Pid, trap: bool) -> Result<(), ActorError> {
        self.inner.set_trap_exit(pid, trap)
    }

    /// Monitors `pid`: `callback` gets `(pid, reason)` exactly once, on a worker thread, with no
    /// runtime lock held. Monitors stack (each is independent). A dead or never-spawned pid
    /// fires at once with `NOPROC`. `Closed` after shutdown (the callback is dropped uncalled).
    pub fn monitor(
        &self,
        pid: Pid,
        callback: impl FnOnce(Pid, &ExitReason) + Send + 'static,
    ) -> Result<MonitorRef, ActorError> {
        self.inner.monitor(pid, Box::new(callback))
    }

    /// Cancels a monitor. After it returns the callback is not running and never will be —
    /// except when called from inside that same callback, where it returns at once. Returns
    /// true when this call prevented the callback from running (false: it already ran, is
    /// running on this thread, or `mref` is unknown).
    pub fn demonitor(&self, mref: MonitorRef) -> bool {
        self.inner.demonitor(mref)
    }

    /// Sends `bytes` to `to` once `delay` has passed, from outside the runtime
    /// ([`Pid::NONE`]). Delivery is a normal send (dropped if `to` is dead by then); timers due
    /// at the same time are delivered in the order they were set. `Closed` after shutdown;
    /// pending timers are dropped at shutdown.
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
        self.inner.timers.cancel(timer.as_raw())
    }

    /// Whether `pid` is a live process.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.inner.is_alive(pid)
    }

    /// The number of live processes.
    pub fn process_count(&self) -> usize {
        self.inner.lock_table().entries.len()
    }

    /// True once the runtime has shut down.
    pub fn is_closed(&self) -> bool {
        self.inner.lock_table().closed
    }
}

/// An actor runtime: a process table and a pool of worker threads. Dropping it shuts down in
/// order: every live process exits with `SHUTDOWN` (monitors see it, blocked mailbox receives
/// return `Closed`), the workers finish the queued work (including those monitor callbacks)
/// and are joined, and every behaviour has been dropped when `drop` returns.
///
/// It dereferences to a [`RuntimeHandle`] for the process operations.
pub struct Runtime {
    handle: RuntimeHandle,
    workers: Vec<JoinHandle<()>>,
    timer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// The most worker threads a runtime accepts.
    pub const MAX_WORKERS: usize = 1024;

    /// Starts a runtime with `workers` worker threads (0 means the available parallelism) and
    /// one timer thread.
    /// `InvalidArgument` above [`Runtime::MAX_WORKERS`]; `OutOfResources` when a thread cannot
    /// start.
    pub fn new(workers: usize) -> Result<Runtime, ActorError> {
        if workers > Self::MAX_WORKERS {
            return Err(ActorError::InvalidArgument("more than MAX_WORKERS workers"));
        }
        let n = if workers == 0 {
            thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            workers
        };
        let inner = Arc::new(Inner::new());
        let mut rt = Runtime {
            handle: RuntimeHandle {
                inner: Arc::clone(&inner),
            },
            workers: Vec::with_capacity(n),
            timer: None,
        };
        let timer = {
            let inner = Arc::clone(&inner);
            thread::Builder::new()
                .name("transom-timer".to_owned())
                .spawn(move || {
                    inner.timers.run(|due| {
                        // A timer to a dead process is dropped, like any send to it.
                        let _ = inner.send(due.from, due.to, due.bytes);
                    })
                })
        };
        match timer {
            Ok(h) => rt.timer = Some(h),
            Err(e) => return Err(ActorError::OutOfResources(e.to_string())),
        }
        for i in 0..n {
            let inner = Arc::clone(&inner);
            let spawned = thread::Builder::new()
                .name(format!("transom-worker-{i}"))
                .spawn(move || {
                    while let Some(job) = inner.sched.next() {
                        inner.run_job(job);
                    }
                });
            match spawned {
                Ok(h) => rt.workers.push(h),
                // Dropping `rt` shuts down and joins the workers started so far.
                Err(e) => return Err(ActorError::OutOfResources(e.to_string())),
            }
        }
        Ok(rt)
    }

    /// A handle that can be cloned into threads, behaviours and callbacks.
    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// The number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Shuts down now (the same as dropping).
    pub fn shutdown(self) {
        drop(self);
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
        let inner = &self.handle.inner;
        inner.shutdown();
        let me = thread::current().id();
        for h in self.workers.drain(..).chain(self.timer.take()) {
            // A runtime dropped from one of its own workers (it was moved into a behaviour)
            // cannot join that worker; it finishes its current job and returns on its own.
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
        // Nothing should be left, but if a job slipped in after the workers returned, run it
        // here rather than strand it (it can only be a dead process's cleanup or a monitor).
        while let Some(job) = inner.sched.try_next() {
            inner.run_job(job);
        }
    }
}
