//! The cursor: an ordered, at-least-once reader of the store's log with an explicit ack and
//! optional named, durable checkpoints.
//!
//! Invariant: `acked <= delivered < next`, where `next` is the next sequence to read, every
//! matching event below `next` and above `acked` was handed out, and nothing at or below `acked`
//! is handed out again unless the cursor is reopened from an older checkpoint. Sequences are
//! dense and stable, so "read from `acked + 1`" after a restart or a rollback redelivers exactly
//! the unacknowledged events, in order.
//!
//! Waiting is an event count ([`Wake`]): a pull notes the count, checks the store, and parks
//! only if the count did not move meanwhile. The store's commit listener and `interrupt` bump
//! it, so no wake-up is lost and an idle cursor is a parked thread.
//!
//! One wake-up per commit, and nothing to contend on after it: the commit listener bumps the
//! count under the wake lock, takes the parked pull's parker and unparks it after releasing
//! that lock (`crate::sync::wake`). The woken pull re-takes the free lock once, and gets the
//! count it now sees from that same critical section (no second lock to note it again); it
//! then checks the store through its head — one atomic load, which the commit published
//! before its listeners ran — and reads. The store's wait lock and waiter count, which every
//! appender touches, are only used when nothing is readable (to learn whether the store
//! closed). Why no commit is missed: the count is noted under the wake lock *before* the head
//! is read, and the listener bumps it under that lock *after* the head moved; so either the
//! bump comes after the note (the count differs, the park does not sleep or is woken), or it
//! came before, and then so did the head's move, which the read sees. The loom models below
//! (`loom_cursor_*`) check this, and find the lost wake-up when the note follows the read.
//!
//! The optional pollable descriptor lives in the same [`Wake`] state: the commit listener,
//! `interrupt` and `close` raise it under the wake lock; after every pull (and rewind) the
//! cursor lowers it under that lock when nothing is readable beyond its position, unless the
//! epoch moved meanwhile (then it looks again), so a commit is never hidden by a lowering.

use crate::sync::ready_fd::{self, ReadyFd};
use crate::sync::wake::Waiters;
use crate::sync::{Mutex, MutexGuard};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::store::{Keep, ListenerId, Store, StoreError, WaitOutcome};

use super::checkpoint::NamedCheckpoint;
use super::{CanalError, Delivery, Filter, Item, PullWait};

/// Where a new cursor starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// At sequence 1: every event of the store.
    Begin,
    /// After the head at open: only events committed later.
    End,
    /// At this sequence (inclusive, at least 1; it may be above the head).
    At(u64),
    /// After the named checkpoint (at BEGIN if the name has none yet). The name is what
    /// [`Canal::checkpoint`](super::Canal::checkpoint) persists to: 1..=255 bytes of
    /// `[A-Za-z0-9._-]`, not `.` or `..`, held by at most one open cursor per store.
    Named(String),
}

/// How to open a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorOptions {
    /// Which events to deliver.
    pub filter: Filter,
    /// Where to start.
    pub start: Start,
}

impl CursorOptions {
    /// Every event, from `start`.
    pub fn new(start: Start) -> CursorOptions {
        CursorOptions {
            filter: Filter::all(),
            start,
        }
    }

    /// Replaces the filter.
    pub fn with_filter(mut self, filter: Filter) -> CursorOptions {
        self.filter = filter;
        self
    }
}

#[derive(Default)]
struct WakeState {
    epoch: u64,
    interrupted: bool,
    /// The canal was closed by its consumer (`Canal::close`): pulls report `Closed`.
    closed: bool,
    /// The cursor's read position (`next - 1`) as of its last pull, for the listener's test.
    position: u64,
    /// The pollable descriptor, once asked for: raised while a pull would not wait.
    fd: Option<ReadyFd>,
    /// The blocked pull (`crate::sync::wake`), woken after the lock is released.
    waiters: Waiters,
}

/// An event count with interrupt and close flags, shared by a cursor, its commit listener and
/// its interrupters and closers.
#[derive(Default)]
pub(crate) struct Wake {
    state: Mutex<WakeState>,
    /// Set before the descriptor is created: until then pulls skip its upkeep entirely.
    fd_wanted: AtomicBool,
}

impl Wake {
    fn lock(&self) -> MutexGuard<'_, WakeState> {
        self.state.lock()
    }

    /// The store committed up to `head` (or closed: `store_closed`): wake the waiter so it
    /// re-checks, and raise the descriptor if that is beyond the cursor's position.
    fn committed(&self, head: u64, store_closed: bool) {
        let mut st = self.lock();
        st.epoch += 1;
        if head > st.position || store_closed {
            ready_fd::update(&mut st.fd, true);
        }
        let wakes = st.waiters.take_all();
        drop(st);
        wakes.wake();
    }

    pub(crate) fn interrupt(&self) {
        let mut st = self.lock();
        st.interrupted = true;
        st.epoch += 1;
        ready_fd::update(&mut st.fd, true);
        let wakes = st.waiters.take_all();
        drop(st);
        wakes.wake();
    }

    /// Closes the cursor for its consumer and wakes its pull.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.epoch += 1;
        ready_fd::update(&mut st.fd, true);
        let wakes = st.waiters.take_all();
        drop(st);
        wakes.wake();
    }

    fn fd_wanted(&self) -> bool {
        self.fd_wanted.load(Ordering::SeqCst)
    }

    /// Sets the descriptor after a look at the store made at `epoch`: raised if the store had
    /// something beyond `position` (`store_ready`) or the cursor is closed or interrupted;
    /// lowered only if the epoch did not move since (false: look again).
    fn settle(&self, epoch: u64, position: u64, store_ready: bool) -> bool {
        let mut st = self.lock();
        st.position = position;
        if store_ready || st.closed || st.interrupted {
            ready_fd::update(&mut st.fd, true);
            return true;
        }
        if st.epoch != epoch {
            return false;
        }
        ready_fd::update(&mut st.fd, false);
        true
    }

    /// Takes the descriptor out (the canal is going away, or hands it elsewhere).
    pub(crate) fn take_fd(&self) -> Option<ReadyFd> {
        self.lock().fd.take()
    }

    /// The epoch, and whether the cursor was closed, read together.
    fn epoch(&self) -> (u64, bool) {
        let st = self.lock();
        (st.epoch, st.closed)
    }

    /// Consumes a pending interrupt.
    fn take_interrupt(&self) -> bool {
        std::mem::take(&mut self.lock().interrupted)
    }

    /// Parks until the epoch moves past `seen` or `deadline` passes (`None`). Returns the
    /// epoch and the closed flag read under the lock it re-took after waking, so the caller
    /// looks at the store next without locking again.
    fn wait(&self, seen: u64, deadline: Option<Instant>) -> Option<(u64, bool)> {
        let mut st = self.lock();
        while st.epoch == seen {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let waiter = st.waiters.register();
            drop(st);
            waiter.park(deadline);
            st = self.lock();
            st.waiters.cancel(&waiter);
        }
        Some((st.epoch, st.closed))
    }
}

pub(crate) struct Cursor {
    /// Weak: a cursor never keeps its store alive. A dropped store reads as closed.
    store: Weak<Store>,
    listener: ListenerId,
    wake: Arc<Wake>,
    filter: Filter,
    next: u64,
    delivered: u64,
    acked: u64,
    named: Option<NamedCheckpoint>,
    /// The last sequence persisted by `checkpoint` (or read at open).
    checkpointed: u64,
}

impl Cursor {
    pub(crate) fn open(store: &Arc<Store>, options: CursorOptions) -> Result<Cursor, CanalError> {
        let (acked, named) = match options.start {
            Start::Begin => (0, None),
            Start::End => (store.head(), None),
            Start::At(0) => {
                return Err(CanalError::InvalidArgument(
                    "a start sequence must be at least 1",
                ))
            }
            Start::At(seq) => (seq - 1, None),
            Start::Named(name) => {
                let (held, seq) = NamedCheckpoint::claim(store, &name)?;
                let seq = seq.unwrap_or(0);
                let head = store.head();
                if seq > head {
                    return Err(CanalError::CheckpointAhead {
                        name,
                        checkpoint: seq,
                        head,
                    });
                }
                (seq, Some(held))
            }
        };
        let wake = Arc::new(Wake::default());
        wake.lock().position = acked;
        let listener = {
            let wake = Arc::clone(&wake);
            let weak = Arc::downgrade(store);
            store.on_commit(move |head| {
                // Only a descriptor needs to know about a close; the temporary `Arc` is
                // dropped before the wake lock is taken (see `pull`).
                let closed = wake.fd_wanted() && weak.upgrade().map_or(true, |s| s.is_closed());
                wake.committed(head, closed)
            })
        };
        Ok(Cursor {
            store: Arc::downgrade(store),
            listener,
            wake,
            filter: options.filter,
            next: acked + 1,
            delivered: acked,
            acked,
            checkpointed: acked,
            named,
        })
    }

    pub(crate) fn wake(&self) -> &Arc<Wake> {
        &self.wake
    }

    /// The cursor's pollable descriptor, created on first call: readable exactly while a pull
    /// would not wait (see [`Cursor::settle_fd`]).
    pub(crate) fn fd(&self) -> std::io::Result<RawFd> {
        self.wake.fd_wanted.store(true, Ordering::SeqCst);
        let fd = ready_fd::ensure(&mut self.wake.lock().fd, false)?;
        self.settle_fd();
        Ok(fd)
    }

    /// Puts back a descriptor taken with `Wake::take_fd`, brought up to date.
    pub(crate) fn restore_fd(&self, fd: ReadyFd) {
        self.wake.lock().fd = Some(fd);
        self.settle_fd();
    }

    /// After a pull or a rewind: raises the descriptor while the store has events beyond the
    /// read position, is closed or gone, or the cursor is closed or interrupted; lowers it
    /// otherwise. For a filtered cursor "events beyond the position" may all be skipped by
    /// the filter: a non-blocking pull then examines them, returns TimedOut and lowers it.
    pub(crate) fn settle_fd(&self) {
        if !self.wake.fd_wanted() {
            return;
        }
        let position = self.next - 1;
        loop {
            let (epoch, _) = self.wake.epoch();
            let store_ready = match self.store.upgrade() {
                None => true,
                Some(store) => {
                    store.wait_for_sequence(position, Some(Duration::ZERO)) != WaitOutcome::TimedOut
                }
            }; // the store is released here, before the wake lock is taken
            if self.wake.settle(epoch, position, store_ready) {
                return;
            }
        }
    }

    /// Fills `out` (cleared first) with up to `max` matching events. Same outcomes, in the same
    /// order of precedence, as [`LiveBuffer::pull_until`](super::LiveBuffer::pull_until):
    /// ready events win over a pending interrupt, which wins over the close report.
    pub(crate) fn pull(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
        out: &mut Vec<Item<'static>>,
        keep: &mut Keep,
    ) -> Result<PullWait, CanalError> {
        out.clear();
        if max == 0 {
            return Err(CanalError::InvalidArgument("max must be at least 1"));
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        // Noted before looking at the store: a commit, close or interrupt after this moves
        // the epoch, so the park below cannot miss it. Re-noted before every later look (a
        // wake-up hands back the epoch it saw).
        let (mut epoch, mut closed) = self.wake.epoch();
        loop {
            if closed {
                // A cursor buffers nothing: closed by its consumer, it delivers no more.
                return self.closed_or_interrupted();
            }
            let outcome = {
                // Never hold the store across a park: dropping the last reference here would
                // close the store and call our listener, which takes the wake lock.
                let Some(store) = self.store.upgrade() else {
                    return self.closed_or_interrupted();
                };
                // The head is one atomic load: a woken pull reads past it without the store's
                // wait lock or its waiter count, which the appender touches too. Only when
                // nothing is readable does the store say whether it is closed.
                let head = store.head();
                let outcome = if head >= self.next {
                    WaitOutcome::Ready(head)
                } else {
                    store.wait_for_sequence(self.next - 1, Some(Duration::ZERO))
                };
                if let WaitOutcome::Ready(_) = outcome {
                    self.scan(&store, max, out, keep)?;
                }
                outcome
            };
            match outcome {
                WaitOutcome::Ready(_) if !out.is_empty() => return Ok(PullWait::Delivered),
                // Scanned events the filter skipped; more may be readable.
                WaitOutcome::Ready(_) => {
                    if self.wake.take_interrupt() {
                        return Ok(PullWait::Interrupted);
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(PullWait::TimedOut);
                    }
                    (epoch, closed) = self.wake.epoch();
                }
                WaitOutcome::Closed => return self.closed_or_interrupted(),
                WaitOutcome::TimedOut => {
                    if self.wake.take_interrupt() {
                        return Ok(PullWait::Interrupted);
                    }
                    match self.wake.wait(epoch, deadline) {
                        Some(now) => (epoch, closed) = now,
                        None => return Ok(PullWait::TimedOut),
                    }
                }
            }
        }
    }

    fn closed_or_interrupted(&self) -> Result<PullWait, CanalError> {
        if self.wake.take_interrupt() {
            Ok(PullWait::Interrupted)
        } else {
            Err(CanalError::Closed)
        }
    }

    /// Reads from `next` until `out` holds `max` items or the head is reached (or, if nothing
    /// matched yet, after one chunk, so an interrupt is seen during a long filtered scan).
    /// Items are views kept alive by `keep` (zero-copy for sealed segments). A position below
    /// the first retained sequence becomes one gap item for the removed range.
    fn scan(
        &mut self,
        store: &Store,
        max: usize,
        out: &mut Vec<Item<'static>>,
        keep: &mut Keep,
    ) -> Result<(), CanalError> {
        loop {
            if out.is_empty() {
                // Nothing borrows `keep` yet: a long filtered scan does not pile up buffers.
                keep.clear();
            }
            let want = max - out.len();
            let chunk = if self.filter.is_all() {
                want.min(4096)
            } else {
                want.clamp(256, 4096)
            };
            let mut scanned = 0;
            let (filter, next, delivered) = (&self.filter, &mut self.next, &mut self.delivered);
            let read = store.read_views(*next, chunk, keep, &mut |e| {
                scanned += 1;
                *next = e.sequence + 1;
                if filter.matches_view(&e) {
                    *delivered = e.sequence;
                    out.push(Delivery::Event {
                        sequence: e.sequence,
                        value: e,
                    });
                    return out.len() < max;
                }
                true
            });
            match read {
                Ok(()) => {}
                Err(StoreError::Truncated { first_retained }) if first_retained > self.next => {
                    // Retention removed `next..first_retained` before this cursor read it:
                    // report it in-band (never a silent skip), then go on from the first
                    // retained event. The gap counts as delivered, so it can be acked.
                    let from = self.next;
                    out.push(Delivery::Gap {
                        from_seq: from,
                        to_seq: first_retained - 1,
                        count: first_retained - from,
                    });
                    self.delivered = first_retained - 1;
                    self.next = first_retained;
                    if out.len() == max {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => {
                    return Err(CanalError::Io {
                        context: "reading the store".into(),
                        kind: std::io::ErrorKind::Other,
                        message: e.to_string(),
                    })
                }
            }
            if out.len() == max || scanned < chunk || out.is_empty() {
                return Ok(());
            }
        }
    }

    /// `Closed` once the store was closed or dropped: an old handle's acknowledgements and
    /// checkpoints are refused (its pulls still drain what was committed).
    fn store_open(&self) -> Result<(), CanalError> {
        match self.store.upgrade() {
            Some(store) if !store.is_closed() => Ok(()),
            _ => Err(CanalError::Closed),
        }
    }

    pub(crate) fn ack(&mut self, seq: u64) -> Result<(), CanalError> {
        self.store_open()?;
        check_ack(self.acked, self.delivered, seq)?;
        self.acked = seq;
        Ok(())
    }

    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    pub(crate) fn rewind(&mut self) {
        self.next = self.acked + 1;
        self.delivered = self.acked;
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.named.as_ref().map(NamedCheckpoint::name)
    }

    pub(crate) fn checkpointed(&self) -> u64 {
        self.checkpointed
    }

    pub(crate) fn checkpoint(&mut self) -> Result<(), CanalError> {
        let Some(named) = &self.named else {
            return Err(CanalError::InvalidArgument(
                "only a cursor opened with a checkpoint name can checkpoint",
            ));
        };
        self.store_open()?;
        named.save(self.acked)?;
        self.checkpointed = self.acked;
        Ok(())
    }
}

/// The range an ack must fall in, for local and remote cursors: between the acknowledged
/// position and the highest delivered sequence.
pub(crate) fn check_ack(acked: u64, delivered: u64, seq: u64) -> Result<(), CanalError> {
    if seq < acked {
        return Err(CanalError::InvalidArgument(
            "ack below the current acknowledged position",
        ));
    }
    if seq > delivered {
        return Err(CanalError::InvalidArgument(
            "ack above the highest delivered sequence",
        ));
    }
    Ok(())
}

impl Drop for Cursor {
    fn drop(&mut self) {
        if let Some(store) = self.store.upgrade() {
            let _ = store.remove_listener(self.listener);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The cursor's wait protocol with a stand-in for the store's head (an atomic, as
    //! `Store::head` is): the pull notes the epoch, reads the head, and parks on the epoch
    //! (`Wake::wait`, which hands back the epoch it saw); the commit listener runs after the
    //! head moved (`Wake::committed`). A lost wake-up is a loom deadlock.
    use super::*;
    use crate::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use crate::sync::Arc as LArc;
    use loom::thread;

    /// `Cursor::pull`'s loop, reduced to the wait: returns the head it read past `after`.
    fn pull(wake: &Wake, head: &AtomicU64, after: u64) -> u64 {
        let (mut epoch, _) = wake.epoch();
        loop {
            let h = head.load(SeqCst);
            if h > after {
                return h;
            }
            (epoch, _) = wake.wait(epoch, None).expect("no deadline");
        }
    }

    fn commit(wake: &Wake, head: &AtomicU64, to: u64) {
        head.store(to, SeqCst);
        wake.committed(to, false);
    }

    #[test]
    fn loom_cursor_a_commit_racing_a_pull_is_never_lost() {
        loom::model(|| {
            let wake = LArc::new(Wake::default());
            let head = LArc::new(AtomicU64::new(0));
            let committer = {
                let (wake, head) = (LArc::clone(&wake), LArc::clone(&head));
                thread::spawn(move || commit(&wake, &head, 1))
            };
            assert_eq!(pull(&wake, &head, 0), 1);
            committer.join().unwrap();
        });
    }

    /// The pull waits for the second of two commits: the first one's wake-up (or its stale
    /// token) makes it look again and park again; the second wakes it.
    #[test]
    fn loom_cursor_a_pull_needing_the_second_commit_returns() {
        loom::model(|| {
            let wake = LArc::new(Wake::default());
            let head = LArc::new(AtomicU64::new(0));
            let committer = {
                let (wake, head) = (LArc::clone(&wake), LArc::clone(&head));
                thread::spawn(move || {
                    commit(&wake, &head, 1);
                    commit(&wake, &head, 2);
                })
            };
            assert_eq!(pull(&wake, &head, 1), 2);
            committer.join().unwrap();
        });
    }
}
