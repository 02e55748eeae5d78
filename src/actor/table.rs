//! The process table and the exit cascade: who is alive, who is linked to whom, who traps exits
//! and who is monitored, and what an exit sets off (exit signals over links, `EXIT` messages,
//! monitor callbacks). The run queue and the timers hang off the table, so everything a change
//! of topology triggers is queued from this one place.
//!
//! Invariant: every change to who is alive, linked, trapping or monitored happens under the one
//! topology lock, so a cascade of exits is atomic — no observer can see a half-linked or
//! half-dead group. No user code (behaviour, monitor callback, or their drops) ever runs under
//! that lock: such work is collected in [`Effects`] and carried out after the lock is released.
//! Lock order: topology → monitor map / process state → scheduler.
//!
//! The behaviour is a type parameter `B`: the table creates, schedules and drops behaviours but
//! never calls one (the workers in `runtime.rs` do, and the inline runner installed by the
//! runtime, which runs an inline-capable process on the thread whose delivery claimed it: see
//! `process.rs`, "Inline runs"). A claimed inline run is started after every lock is released,
//! like every other effect.

use crate::sync::wake::Wakes;
use crate::sync::{Mutex, MutexGuard};
use std::collections::{HashMap, HashSet};
use std::mem;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::error::ActorError;
use super::message::Message;
use super::monitor::{MonitorCallback, MonitorCell};
use super::options::SpawnOptions;
use super::pid::{IdSource, MonitorRef, Pid, TimerRef};
use super::process::{drop_user, Delivered, InlineRuns, Proc, ProcKind};
use super::reason::{ExitKind, ExitReason};
use super::scheduler::Scheduler;
use super::timer::{Due, Timers};

/// The wake-up a [`Table::send_pending`] left to do: done when this is dropped (so a claimed
/// process can never be left unscheduled, even on an unwinding path).
#[must_use = "dropping it wakes the receiver: hold it until the caller's lock is released"]
pub(crate) struct Pending<'a, B: Send + 'static> {
    table: &'a Table<B>,
    what: What<B>,
}

enum What<B> {
    Nothing,
    Wake(Wakes),
    Schedule(Arc<Proc<B>>),
    Inline(Arc<Proc<B>>),
}

impl<B: Send + 'static> Drop for Pending<'_, B> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.what, What::Nothing) {
            What::Nothing => {}
            What::Wake(wakes) => wakes.wake(),
            What::Schedule(proc) => self.table.schedule(Job::Run(proc)),
            What::Inline(proc) => self.table.run_inline(proc),
        }
    }
}

/// Work for the workers.
pub(crate) enum Job<B> {
    /// Run a callback process for a batch of messages (or release it if it exited).
    Run(Arc<Proc<B>>),
    /// Call a monitor's callback.
    Monitor {
        cell: Arc<MonitorCell>,
        pid: Pid,
        reason: ExitReason,
    },
}

/// A live process in the table. Links are kept symmetric: `b ∈ links(a)` iff `a ∈ links(b)`,
/// both updated under the topology lock.
struct Entry<B> {
    proc: Arc<Proc<B>>,
    links: HashSet<Pid>,
    monitors: Vec<Arc<MonitorCell>>,
    trap_exit: bool,
}

/// What the topology lock guards.
struct Topology<B> {
    entries: HashMap<Pid, Entry<B>>,
    closed: bool,
}

/// Runs a claimed inline run of an inline-capable process on the calling thread, and ends it
/// (`InlineRuns::finish`). Installed by the runtime, which knows how to call a behaviour.
pub(crate) type InlineRunner<B> = fn(Arc<Table<B>>, Arc<Proc<B>>);

/// What a locked section decided to do once the lock is released.
struct Effects<B> {
    /// Mailbox receivers to wake.
    wakes: Wakes,
    runs: Vec<Arc<Proc<B>>>,
    /// Claimed inline runs, started on this thread once everything else is queued.
    inline: Vec<Arc<Proc<B>>>,
    fires: Vec<(Arc<MonitorCell>, Pid, ExitReason)>,
    drops: Vec<B>,
    callbacks: Vec<MonitorCallback>,
}

impl<B> Effects<B> {
    fn new() -> Self {
        Effects {
            wakes: Wakes::default(),
            runs: Vec::new(),
            inline: Vec::new(),
            fires: Vec::new(),
            drops: Vec::new(),
            callbacks: Vec::new(),
        }
    }

    /// Queues `msg` for `proc`, remembering to schedule (or run inline) it when it was idle.
    fn deliver(&mut self, proc: &Arc<Proc<B>>, msg: Message) -> Result<(), ActorError> {
        match proc.deliver(msg)? {
            Delivered::Queued => {}
            Delivered::Woke(wakes) => self.wakes.append(wakes),
            Delivered::Schedule => self.runs.push(Arc::clone(proc)),
            Delivered::RunInline => self.inline.push(Arc::clone(proc)),
        }
        Ok(())
    }
}

impl<B> Topology<B> {
    /// The error for a pid that names no live process: `Closed` once the table is closed
    /// (every later call gets it), else `NoProc`.
    fn missing(&self) -> ActorError {
        if self.closed {
            ActorError::Closed
        } else {
            ActorError::NoProc
        }
    }

    /// Ends `pid` and everything its exit cascades to.
    fn kill(&mut self, pid: Pid, reason: ExitReason, fx: &mut Effects<B>) {
        let mut work = vec![(pid, reason)];
        while let Some((pid, reason)) = work.pop() {
            let Some(entry) = self.entries.remove(&pid) else {
                continue;
            };
            fx.drops.extend(entry.proc.mark_dead(&reason));
            for cell in entry.monitors {
                fx.fires.push((cell, pid, reason.clone()));
            }
            for linked in entry.links {
                let Some(le) = self.entries.get_mut(&linked) else {
                    continue;
                };
                le.links.remove(&pid);
                if le.trap_exit {
                    let msg = Message::Exit {
                        pid,
                        reason: reason.clone(),
                    };
                    // The entry is in the table, so the process is alive: delivery succeeds.
                    let _ = fx.deliver(&le.proc, msg);
                } else if reason.is_abnormal() {
                    work.push((linked, reason.clone()));
                }
            }
        }
    }

    /// Delivers a link exit signal `from` → `to` (Erlang's rules).
    fn link_signal(&mut self, from: Pid, to: Pid, reason: ExitReason, fx: &mut Effects<B>) {
        let Some(e) = self.entries.get(&to) else {
            return;
        };
        if e.trap_exit {
            let proc = Arc::clone(&e.proc);
            let _ = fx.deliver(&proc, Message::Exit { pid: from, reason });
        } else if reason.is_abnormal() {
            self.kill(to, reason, fx);
        }
    }
}

/// The process table with its run queue, timers and id sources: the state one runtime shares
/// between its handles, contexts, mailboxes and workers.
pub(crate) struct Table<B> {
    /// This table, for the inline runner (which needs an owning handle to build a context).
    me: Weak<Table<B>>,
    runner: InlineRunner<B>,
    /// Claimed inline runs not finished yet (see `process.rs`).
    inline_runs: Arc<InlineRuns>,
    topology: Mutex<Topology<B>>,
    /// Every monitor whose callback has not finished or been cancelled, for `demonitor`.
    monitors: Mutex<HashMap<MonitorRef, Arc<MonitorCell>>>,
    sched: Scheduler<Job<B>>,
    timers: Timers,
    pids: IdSource,
    refs: IdSource,
    timer_ids: IdSource,
}

impl<B: Send + 'static> Table<B> {
    /// A table whose inline-capable processes are run by `runner`; `me` must be the `Arc`
    /// the table is being placed in (`Arc::new_cyclic`).
    pub(crate) fn new(me: Weak<Table<B>>, runner: InlineRunner<B>) -> Self {
        Table {
            me,
            runner,
            inline_runs: Arc::new(InlineRuns::default()),
            topology: Mutex::new(Topology {
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

    fn lock(&self) -> MutexGuard<'_, Topology<B>> {
        self.topology.lock()
    }

    fn lock_monitors(&self) -> MutexGuard<'_, HashMap<MonitorRef, Arc<MonitorCell>>> {
        self.monitors.lock()
    }

    /// Runs `f` under the topology lock, then carries out its effects without the lock.
    fn with_topology<R>(&self, f: impl FnOnce(&mut Topology<B>, &mut Effects<B>) -> R) -> R {
        let mut fx = Effects::new();
        let r = {
            let mut t = self.lock();
            f(&mut t, &mut fx)
        };
        self.apply(fx);
        r
    }

    fn apply(&self, fx: Effects<B>) {
        let Effects {
            wakes,
            runs,
            inline,
            fires,
            drops,
            callbacks,
        } = fx;
        wakes.wake();
        for p in runs {
            self.schedule(Job::Run(p));
        }
        for (cell, pid, reason) in fires {
            self.schedule(Job::Monitor { cell, pid, reason });
        }
        // After the queued work (the workers start on it meanwhile), before the drops (user
        // code): the inline run is what a thread blocked on its outcome waits for.
        for p in inline {
            self.run_inline(p);
        }
        drops.into_iter().for_each(drop_user);
        callbacks.into_iter().for_each(drop_user);
    }

    // -- the run queue -----------------------------------------------------------------------

    /// Queues `job`; once the scheduler is stopping the job is handled right here instead, so
    /// nothing is stranded after the workers are gone.
    pub(crate) fn schedule(&self, job: Job<B>) {
        if let Err(job) = self.sched.push(job) {
            self.run_stranded(job);
        }
    }

    /// Runs a claimed inline run on this thread (through the runtime's runner), or, if the
    /// table is being torn down, hands it to the run queue; the run's count ends either way.
    fn run_inline(&self, proc: Arc<Proc<B>>) {
        match self.me.upgrade() {
            Some(me) => (self.runner)(me, proc),
            None => {
                self.schedule(Job::Run(proc));
                self.inline_runs.finish();
            }
        }
    }

    /// Ends a claimed inline run (the runner is done with it).
    pub(crate) fn finish_inline_run(&self) {
        self.inline_runs.finish();
    }

    /// Whether no inline run is in flight (`Runtime::close` waits for that after the table
    /// closed: no new run can be claimed then).
    pub(crate) fn inline_idle(&self) -> bool {
        self.inline_runs.is_idle()
    }

    /// The next job for a worker, waiting for one; `None` once stopped and drained.
    pub(crate) fn next_job(&self) -> Option<Job<B>> {
        self.sched.next()
    }

    /// A job left in the queue, without waiting.
    pub(crate) fn try_next_job(&self) -> Option<Job<B>> {
        self.sched.try_next()
    }

    /// Handles a job no worker will take: refused by the stopping scheduler, or left after the
    /// workers were joined. The table closes (every process dead) before the scheduler stops,
    /// so a run job can only be a dead process's release.
    pub(crate) fn run_stranded(&self, job: Job<B>) {
        match job {
            Job::Run(proc) => {
                let released = self.release_if_dead(&proc);
                debug_assert!(released, "a live process after the scheduler stopped");
            }
            Job::Monitor { cell, pid, reason } => self.fire_monitor(&cell, pid, &reason),
        }
    }

    /// Ends the scheduled run of `proc` if it has exited: clears `scheduled` and drops the
    /// behaviour (exactly once, by the process invariant). False while it is alive.
    pub(crate) fn release_if_dead(&self, proc: &Proc<B>) -> bool {
        let behaviour = {
            let mut st = proc.lock();
            if st.exit.is_none() {
                return false;
            }
            st.scheduled = false;
            st.behaviour.take()
        };
        drop_user(behaviour);
        true
    }

    /// Calls a monitor's callback (if it was not cancelled) and forgets the monitor.
    pub(crate) fn fire_monitor(&self, cell: &MonitorCell, pid: Pid, reason: &ExitReason) {
        cell.fire(pid, reason);
        self.lock_monitors().remove(&cell.mref());
    }

    // -- processes -----------------------------------------------------------------------------

    /// Creates a process with `opts` applied atomically. `Closed` after shutdown (the behaviour
    /// and the monitor callback are dropped uncalled).
    pub(crate) fn create(
        &self,
        kind: ProcKind,
        behaviour: Option<B>,
        opts: SpawnOptions,
    ) -> Result<(Arc<Proc<B>>, Option<MonitorRef>), ActorError> {
        let SpawnOptions {
            link,
            trap_exit,
            monitor,
            inline,
        } = opts;
        self.with_topology(|t, fx| {
            if t.closed {
                fx.drops.extend(behaviour);
                fx.callbacks.extend(monitor);
                return Err(ActorError::Closed);
            }
            let pid = Pid::from_raw(self.pids.next());
            let inline =
                (inline && kind == ProcKind::Callback).then(|| Arc::clone(&self.inline_runs));
            let proc = Arc::new(Proc::new(pid, kind, inline, behaviour));
            let mut entry = Entry {
                proc: Arc::clone(&proc),
                links: HashSet::new(),
                monitors: Vec::new(),
                trap_exit,
            };
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
                    t.link_signal(l, pid, ExitReason::noproc(), fx);
                }
            }
            Ok((proc, mref))
        })
    }

    /// Ends `pid` with `reason` (and everything its exit cascades to). False when it was not
    /// alive.
    pub(crate) fn terminate(&self, pid: Pid, reason: ExitReason) -> bool {
        self.with_topology(|t, fx| {
            if t.entries.contains_key(&pid) {
                t.kill(pid, reason, fx);
                true
            } else {
                false
            }
        })
    }

    fn lookup(&self, pid: Pid) -> Result<Arc<Proc<B>>, ActorError> {
        let t = self.lock();
        match t.entries.get(&pid) {
            Some(e) => Ok(Arc::clone(&e.proc)),
            None => Err(t.missing()),
        }
    }

    pub(crate) fn send(&self, from: Pid, to: Pid, bytes: Box<[u8]>) -> Result<(), ActorError> {
        self.send_pending(from, to, bytes).map(drop)
    }

    /// Sends, leaving the wake-up of the receiver (the unpark of a mailbox receiver, the push
    /// of an idle process on the run queue, its inline run) to the returned [`Pending`]'s drop.
    /// For a caller that sends while holding a lock of its own the receiver may need: dropped
    /// after that lock, the woken thread does not run straight into it (on a busy machine the
    /// woken thread even preempts the sender, which then holds the lock while descheduled).
    /// The message itself is queued now, so ordering is the same as for [`Table::send`].
    pub(crate) fn send_pending(
        &self,
        from: Pid,
        to: Pid,
        bytes: Box<[u8]>,
    ) -> Result<Pending<'_, B>, ActorError> {
        let proc = self.lookup(to)?;
        // Delivery under the receiver's own lock is what makes sends FIFO per sender/receiver
        // pair: one sender's sends reach that lock in program order.
        let what = match proc.deliver(Message::User { from, bytes })? {
            Delivered::Queued => What::Nothing,
            Delivered::Woke(wakes) => What::Wake(wakes),
            Delivered::Schedule => What::Schedule(proc),
            Delivered::RunInline => What::Inline(proc),
        };
        Ok(Pending { table: self, what })
    }

    pub(crate) fn exit(&self, from: Pid, to: Pid, reason: ExitReason) -> Result<(), ActorError> {
        self.with_topology(|t, fx| {
            let Some(e) = t.entries.get(&to) else {
                return Err(t.missing());
            };
            if reason.kind() == ExitKind::Killed || !e.trap_exit {
                t.kill(to, reason, fx);
            } else {
                let proc = Arc::clone(&e.proc);
                fx.deliver(&proc, Message::Exit { pid: from, reason })?;
            }
            Ok(())
        })
    }

    pub(crate) fn link(&self, a: Pid, b: Pid) -> Result<(), ActorError> {
        self.with_topology(|t, fx| {
            if t.closed {
                return Err(ActorError::Closed);
            }
            // Pid 0 names no process: refused before anything happens (no NOPROC signal, unlike
            // a pid that once lived).
            if !a.is_valid() || !b.is_valid() || !t.entries.contains_key(&a) {
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
                    t.link_signal(b, a, ExitReason::noproc(), fx);
                    Err(ActorError::NoProc)
                }
            }
        })
    }

    pub(crate) fn unlink(&self, a: Pid, b: Pid) -> Result<(), ActorError> {
        let mut t = self.lock();
        if t.closed {
            return Err(ActorError::Closed);
        }
        if !b.is_valid() {
            return Err(ActorError::NoProc);
        }
        let ea = t.entries.get_mut(&a).ok_or(ActorError::NoProc)?;
        ea.links.remove(&b);
        if let Some(eb) = t.entries.get_mut(&b) {
            eb.links.remove(&a);
        }
        Ok(())
    }

    pub(crate) fn set_trap_exit(&self, pid: Pid, trap: bool) -> Result<(), ActorError> {
        let mut t = self.lock();
        match t.entries.get_mut(&pid) {
            Some(e) => {
                e.trap_exit = trap;
                Ok(())
            }
            None => Err(t.missing()),
        }
    }

    // -- monitors ------------------------------------------------------------------------------

    pub(crate) fn monitor(
        &self,
        target: Pid,
        callback: MonitorCallback,
    ) -> Result<MonitorRef, ActorError> {
        self.with_topology(|t, fx| {
            if t.closed || !target.is_valid() {
                fx.callbacks.push(callback);
                return Err(t.missing());
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

    /// Cancels a monitor: `Ok(true)` when this stopped its callback before it started,
    /// `Ok(false)` when the monitor is not registered (it fired, is firing on this very thread,
    /// was cancelled, or never existed), `Closed` after shutdown. In every case no call of the
    /// callback is in flight on another thread or will start once this returns.
    pub(crate) fn demonitor(&self, mref: MonitorRef) -> Result<bool, ActorError> {
        let cell = self.lock_monitors().get(&mref).cloned();
        let cancelled = match cell {
            None => false,
            Some(cell) => {
                if let Some(e) = self.lock().entries.get_mut(&cell.target()) {
                    e.monitors.retain(|c| c.mref() != mref);
                }
                let cancelled = cell.cancel();
                self.lock_monitors().remove(&mref);
                cancelled
            }
        };
        if self.is_closed() {
            return Err(ActorError::Closed);
        }
        Ok(cancelled)
    }

    // -- timers ------------------------------------------------------------------------------

    pub(crate) fn send_after(
        &self,
        from: Pid,
        to: Pid,
        delay: Duration,
        bytes: Box<[u8]>,
    ) -> Result<TimerRef, ActorError> {
        if !to.is_valid() {
            return Err(self.lock().missing());
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

    pub(crate) fn cancel_timer(&self, timer: TimerRef) -> bool {
        self.timers.cancel(timer.as_raw())
    }

    /// The timer thread's loop: delivers due timers until shutdown.
    pub(crate) fn run_timers(&self) {
        self.timers.run(|due| {
            // A timer to a dead process is dropped, like any send to it.
            let _ = self.send(due.from, due.to, due.bytes);
        })
    }

    // -- queries and shutdown ----------------------------------------------------------------

    pub(crate) fn is_alive(&self, pid: Pid) -> bool {
        self.lock().entries.contains_key(&pid)
    }

    pub(crate) fn process_count(&self) -> usize {
        self.lock().entries.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closes the table: every live process exits with `SHUTDOWN` (no link cascade: they all
    /// die anyway), their monitors are queued, then the timers and the workers are told to
    /// stop (the workers drain the queue first). Idempotent.
    pub(crate) fn shutdown(&self) {
        self.with_topology(|t, fx| {
            if t.closed {
                return;
            }
            t.closed = true;
            let reason = ExitReason::shutdown();
            for (pid, entry) in mem::take(&mut t.entries) {
                fx.drops.extend(entry.proc.mark_dead(&reason));
                for cell in entry.monitors {
                    fx.fires.push((cell, pid, reason.clone()));
                }
            }
        });
        self.timers.stop();
        self.sched.stop();
    }
}
