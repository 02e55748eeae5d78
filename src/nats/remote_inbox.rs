//! The inbox between a remote cursor's fetch task (on the private runtime) and the thread that
//! pulls: a bounded queue of received messages with the canal's wake, interrupt, close and
//! descriptor state.
//!
//! Invariant: everything a pull waits for — a message, an interrupt, a close, the feed's end —
//! bumps `epoch` under the lock, and a pull parks only if the epoch it noted before looking is
//! still current, so no wake-up is lost. The descriptor is raised and lowered under the same
//! lock as the state it describes.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::time::Instant;

use crate::canal::CanalError;
use crate::sync::ready_fd::{self, ReadyFd};
use crate::sync::{Condvar, Mutex, MutexGuard};

struct State<T> {
    queue: VecDeque<T>,
    epoch: u64,
    interrupted: bool,
    closed: bool,
    /// The feed ended for good (e.g. the consumer was deleted on the server).
    failed: Option<CanalError>,
    fd: Option<ReadyFd>,
    /// Pullers parked in `wait` (the producer skips the condvar's system call when none is).
    parked: usize,
}

/// A bounded queue of `T` with the wake state of one puller.
pub(crate) struct Inbox<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    /// Lets the producer wait for room (the queue holds at most `cap` items).
    room: tokio::sync::Notify,
    cap: usize,
}

impl<T> Inbox<T> {
    pub(crate) fn new(cap: usize) -> Inbox<T> {
        Inbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                epoch: 0,
                interrupted: false,
                closed: false,
                failed: None,
                fd: None,
                parked: 0,
            }),
            changed: Condvar::new(),
            room: tokio::sync::Notify::new(),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    fn bump(&self, mut st: MutexGuard<'_, State<T>>) {
        st.epoch += 1;
        ready_fd::update(&mut st.fd, true);
        let parked = st.parked > 0;
        drop(st);
        if parked {
            self.changed.notify_all();
        }
    }

    /// Producer: appends received items and wakes the puller.
    pub(crate) fn push(&self, items: impl IntoIterator<Item = T>) {
        let mut st = self.lock();
        let before = st.queue.len();
        st.queue.extend(items);
        if st.queue.len() != before {
            self.bump(st);
        }
    }

    /// Producer: waits until the queue has room for one more item.
    pub(crate) async fn room(&self) {
        loop {
            if self.lock().queue.len() < self.cap {
                return;
            }
            // A `notify_one` between the check and this await is kept as a permit.
            self.room.notified().await;
        }
    }

    /// Producer: the feed ended for good; pulls report `error` once nothing is left.
    pub(crate) fn fail(&self, error: CanalError) {
        let mut st = self.lock();
        if st.failed.is_none() {
            st.failed = Some(error);
        }
        self.bump(st);
    }

    /// Puller: moves up to `max` queued items to `out` without waiting.
    pub(crate) fn take(&self, max: usize, out: &mut VecDeque<T>) {
        let mut st = self.lock();
        let n = max.min(st.queue.len());
        out.extend(st.queue.drain(..n));
        drop(st);
        if n > 0 {
            self.room.notify_one();
        }
    }

    /// The epoch and whether the canal was closed, read together.
    pub(crate) fn epoch(&self) -> (u64, bool) {
        let st = self.lock();
        (st.epoch, st.closed)
    }

    /// The feed's terminal error, if it ended.
    pub(crate) fn failure(&self) -> Option<CanalError> {
        self.lock().failed.clone()
    }

    /// Consumes a pending interrupt.
    pub(crate) fn take_interrupt(&self) -> bool {
        std::mem::take(&mut self.lock().interrupted)
    }

    /// Wakes the pull (or the next one that would wait) with `Interrupted`.
    pub(crate) fn interrupt(&self) {
        let mut st = self.lock();
        st.interrupted = true;
        self.bump(st);
    }

    /// Closes the canal for its consumer and wakes its pull.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        self.bump(st);
    }

    /// Parks until the epoch moves past `seen` or `deadline` passes; false on timeout.
    pub(crate) fn wait(&self, seen: u64, deadline: Option<Instant>) -> bool {
        let mut st = self.lock();
        while st.epoch == seen {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            st.parked += 1;
            st = match deadline {
                None => self.changed.wait(st),
                Some(d) => self.changed.wait_timeout(st, d - now).0,
            };
            st.parked -= 1;
        }
        true
    }

    /// The descriptor, created on the first call (raised when `ready` or the inbox is).
    pub(crate) fn fd(&self, ready: bool) -> std::io::Result<RawFd> {
        let mut st = self.lock();
        let now = ready || Self::ready(&st);
        ready_fd::ensure(&mut st.fd, now)
    }

    fn ready(st: &State<T>) -> bool {
        !st.queue.is_empty() || st.closed || st.interrupted || st.failed.is_some()
    }

    /// After a pull or a rewind: raised while `ready` (the cursor holds items to hand out) or
    /// the inbox would not let a pull wait; lowered otherwise.
    pub(crate) fn settle_fd(&self, ready: bool) {
        let mut st = self.lock();
        if st.fd.is_some() {
            let now = ready || Self::ready(&st);
            ready_fd::update(&mut st.fd, now);
        }
    }

    /// Takes the descriptor out (the canal is going away, or hands it elsewhere).
    pub(crate) fn take_fd(&self) -> Option<ReadyFd> {
        self.lock().fd.take()
    }

    /// Puts back a descriptor taken with [`Inbox::take_fd`], brought up to date.
    pub(crate) fn restore_fd(&self, fd: ReadyFd, ready: bool) {
        let mut st = self.lock();
        st.fd = Some(fd);
        let now = ready || Self::ready(&st);
        ready_fd::update(&mut st.fd, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_push_wakes_a_parked_puller() {
        let inbox = Arc::new(Inbox::<u64>::new(8));
        let (epoch, closed) = inbox.epoch();
        assert!(!closed);
        let producer = {
            let inbox = Arc::clone(&inbox);
            std::thread::spawn(move || inbox.push([7, 8]))
        };
        assert!(inbox.wait(epoch, Some(Instant::now() + Duration::from_secs(10))));
        producer.join().unwrap();
        let mut out = VecDeque::new();
        inbox.take(1, &mut out);
        inbox.take(5, &mut out);
        assert_eq!(out, [7, 8]);
    }

    #[test]
    fn a_wait_with_nothing_new_times_out() {
        let inbox = Inbox::<u64>::new(8);
        let (epoch, _) = inbox.epoch();
        assert!(!inbox.wait(epoch, Some(Instant::now())));
    }

    #[test]
    fn interrupt_and_close_move_the_epoch() {
        let inbox = Inbox::<u64>::new(8);
        let (e0, _) = inbox.epoch();
        inbox.interrupt();
        assert!(inbox.wait(e0, Some(Instant::now())));
        assert!(inbox.take_interrupt());
        assert!(!inbox.take_interrupt());
        let (e1, _) = inbox.epoch();
        inbox.close();
        assert!(inbox.wait(e1, Some(Instant::now())));
        assert!(inbox.epoch().1);
    }

    #[test]
    fn the_descriptor_follows_the_queue() {
        let inbox = Inbox::<u64>::new(8);
        let fd = inbox.fd(false).unwrap();
        let readable = || {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, no wait.
            unsafe { libc::poll(&mut p, 1, 0) == 1 }
        };
        assert!(!readable());
        inbox.push([1]);
        assert!(readable());
        let mut out = VecDeque::new();
        inbox.take(8, &mut out);
        inbox.settle_fd(false);
        assert!(!readable());
        inbox.settle_fd(true);
        assert!(readable());
    }

    #[test]
    fn the_producer_waits_for_room() {
        let inbox = Arc::new(Inbox::<u64>::new(2));
        inbox.push([1, 2]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let waiter = {
            let inbox = Arc::clone(&inbox);
            std::thread::spawn(move || rt.block_on(inbox.room()))
        };
        let mut out = VecDeque::new();
        inbox.take(1, &mut out);
        waiter.join().unwrap();
        assert_eq!(out, [1]);
    }
}
