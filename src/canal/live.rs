//! The bounded live buffer behind a subscription: the store pushes committed events in, one
//! consumer pulls batches out.
//!
//! Invariant: nothing is lost silently. Every event the buffer drops (overflow policy
//! DROP_OLDEST or DROP_NEWEST) is accounted for by an in-band [`Delivery::Gap`] placed where the
//! event would have been, and closing never discards buffered items: pulls drain them first,
//! then report the close. Waiting is a condition-variable wait (a parked thread), never polling.
//! The optional pollable descriptor ([`LiveBuffer::fd`]) is raised and lowered under the same
//! lock as the queue, so it is readable exactly while a pull would not wait.

use crate::sync::ready_fd::{self, ReadyFd};
use crate::sync::wake::Waiters;
use crate::sync::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::time::Instant;

use super::CanalError;

/// What a full subscription does with the next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the oldest buffered event to make room.
    DropOldest,
    /// Drop the incoming event.
    DropNewest,
    /// Close the subscription (after its buffered items) with [`CanalError::Disconnected`].
    Disconnect,
}

/// One thing a pull hands out: an event, or the report of events dropped at that position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery<T> {
    /// An event with its store sequence.
    Event {
        /// The event's sequence number in the store.
        sequence: u64,
        /// The event.
        value: T,
    },
    /// `count` events with sequences in `from_seq..=to_seq` were dropped here.
    Gap {
        /// Sequence of the first dropped event.
        from_seq: u64,
        /// Sequence of the last dropped event.
        to_seq: u64,
        /// How many events were dropped (the range may include events the filter skipped).
        count: u64,
    },
}

impl<T> Delivery<T> {
    /// The same delivery with the event's value mapped by `f`; a gap stays the same gap.
    pub(crate) fn map_ref<U>(&self, f: impl FnOnce(&T) -> U) -> Delivery<U> {
        match self {
            Delivery::Event { sequence, value } => Delivery::Event {
                sequence: *sequence,
                value: f(value),
            },
            Delivery::Gap {
                from_seq,
                to_seq,
                count,
            } => Delivery::Gap {
                from_seq: *from_seq,
                to_seq: *to_seq,
                count: *count,
            },
        }
    }
}

/// What `push` did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Buffered.
    Accepted,
    /// Buffered after dropping the oldest buffered event.
    DroppedOldest,
    /// Not buffered: the buffer was full (DROP_NEWEST).
    DroppedNewest,
    /// Not buffered: the buffer was full and the subscription is now disconnected, or it was
    /// already closed.
    Refused,
}

struct State<T> {
    queue: VecDeque<Delivery<T>>,
    /// Events (not gaps) in `queue`.
    events: usize,
    /// Set once closed: the error pulls report after draining.
    closed: Option<CanalError>,
    dropped: u64,
    /// Set by [`LiveBuffer::interrupt`], consumed by the next pull that would wait.
    interrupted: bool,
    /// The pollable descriptor, once asked for: raised while a pull would not wait.
    fd: Option<ReadyFd>,
    /// The blocked pull (`crate::sync::wake`), woken after the lock is released.
    waiters: Waiters,
}

impl<T> State<T> {
    /// Whether a pull would return at once: deliveries, a pending interrupt, or the close.
    fn pull_ready(&self) -> bool {
        !self.queue.is_empty() || self.interrupted || self.closed.is_some()
    }

    /// Brings the descriptor (if any) in line with the state; call after every change.
    fn sync_fd(&mut self) {
        if self.fd.is_some() {
            let ready = self.pull_ready();
            ready_fd::update(&mut self.fd, ready);
        }
    }
}

/// How [`LiveBuffer::pull_until`] ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullWait {
    /// At least one delivery was moved into `out`.
    Delivered,
    /// The deadline passed with nothing to deliver.
    TimedOut,
    /// [`LiveBuffer::interrupt`] was called while nothing was deliverable.
    Interrupted,
}

/// A bounded, multi-producer, single-consumer buffer of sequenced events with overflow
/// accounting.
pub struct LiveBuffer<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    policy: Overflow,
}

fn merge_gap<T>(slot: Option<&mut Delivery<T>>, sequence: u64) -> bool {
    if let Some(Delivery::Gap {
        from_seq,
        to_seq,
        count,
    }) = slot
    {
        *from_seq = (*from_seq).min(sequence);
        *to_seq = (*to_seq).max(sequence);
        *count += 1;
        true
    } else {
        false
    }
}

fn gap<T>(sequence: u64) -> Delivery<T> {
    Delivery::Gap {
        from_seq: sequence,
        to_seq: sequence,
        count: 1,
    }
}

impl<T> LiveBuffer<T> {
    /// A buffer of at most `capacity` events (gaps take no room); capacity must be at least 1.
    pub fn new(capacity: usize, policy: Overflow) -> Result<Self, CanalError> {
        if capacity == 0 {
            return Err(CanalError::InvalidArgument(
                "subscription capacity must be at least 1",
            ));
        }
        Ok(LiveBuffer {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(capacity.min(4096) + 1),
                events: 0,
                closed: None,
                dropped: 0,
                interrupted: false,
                fd: None,
                waiters: Waiters::default(),
            }),
            capacity,
            policy,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state is plain data updated in small steps that cannot panic halfway; recover.
        self.state.lock()
    }

    /// Offers an event (sequences must increase from push to push).
    pub fn push(&self, sequence: u64, value: T) -> Pushed {
        let mut st = self.lock();
        if st.closed.is_some() {
            return Pushed::Refused;
        }
        let outcome = if st.events < self.capacity {
            Pushed::Accepted
        } else {
            match self.policy {
                Overflow::DropNewest => {
                    st.dropped += 1;
                    if !merge_gap(st.queue.back_mut(), sequence) {
                        st.queue.push_back(gap(sequence));
                    }
                    st.sync_fd();
                    let wakes = st.waiters.take_all();
                    drop(st);
                    wakes.wake();
                    return Pushed::DroppedNewest;
                }
                Overflow::Disconnect => {
                    st.closed = Some(CanalError::Disconnected);
                    st.sync_fd();
                    let wakes = st.waiters.take_all();
                    drop(st);
                    wakes.wake();
                    return Pushed::Refused;
                }
                Overflow::DropOldest => {
                    // Buffer shape: [gap?] oldest-event [gap?] ... Dropping the oldest event
                    // fuses it with the gaps on either side into one gap at the front.
                    let before = pop_front_gap(&mut st.queue);
                    let oldest = match st.queue.pop_front() {
                        Some(Delivery::Event { sequence, .. }) => sequence,
                        _ => unreachable!("a full buffer holds an event after any leading gap"),
                    };
                    let after = pop_front_gap(&mut st.queue);
                    st.events -= 1;
                    st.dropped += 1;
                    st.queue.push_front(Delivery::Gap {
                        from_seq: before.map_or(oldest, |g| g.0),
                        to_seq: after.map_or(oldest, |g| g.1),
                        count: 1 + before.map_or(0, |g| g.2) + after.map_or(0, |g| g.2),
                    });
                    Pushed::DroppedOldest
                }
            }
        };
        st.queue.push_back(Delivery::Event { sequence, value });
        st.events += 1;
        st.sync_fd();
        let wakes = st.waiters.take_all();
        drop(st);
        wakes.wake();
        outcome
    }

    /// Closes the buffer: pushes are refused; pulls drain what is buffered, then return
    /// [`CanalError::Closed`]. Wakes every waiting puller. Idempotent (the first reason stays).
    pub fn close(&self) {
        let mut st = self.lock();
        if st.closed.is_none() {
            st.closed = Some(CanalError::Closed);
        }
        st.sync_fd();
        let wakes = st.waiters.take_all();
        drop(st);
        wakes.wake();
    }

    /// Moves up to `max` deliveries into `out` (cleared first), waiting until at least one is
    /// available or `deadline` passes (`None` = wait without limit).
    ///
    /// Returns `Ok(true)` when something was delivered, `Ok(false)` on timeout (or interrupt,
    /// see [`LiveBuffer::pull_until`]), and the close reason once closed and drained.
    pub fn pull(
        &self,
        max: usize,
        deadline: Option<Instant>,
        out: &mut Vec<Delivery<T>>,
    ) -> Result<bool, CanalError> {
        self.pull_until(max, deadline, out)
            .map(|w| w == PullWait::Delivered)
    }

    /// [`LiveBuffer::pull`] that also tells a timeout from an interrupt.
    ///
    /// Buffered deliveries win over a pending interrupt, and the interrupt wins over the close
    /// report: an interrupt only ends a pull that would otherwise wait (or report the close),
    /// and it is consumed by that pull.
    pub fn pull_until(
        &self,
        max: usize,
        deadline: Option<Instant>,
        out: &mut Vec<Delivery<T>>,
    ) -> Result<PullWait, CanalError> {
        out.clear();
        if max == 0 {
            return Err(CanalError::InvalidArgument("max must be at least 1"));
        }
        let mut st = self.lock();
        loop {
            if !st.queue.is_empty() {
                while out.len() < max {
                    match st.queue.pop_front() {
                        Some(d) => {
                            if matches!(d, Delivery::Event { .. }) {
                                st.events -= 1;
                            }
                            out.push(d);
                        }
                        None => break,
                    }
                }
                st.sync_fd();
                return Ok(PullWait::Delivered);
            }
            if st.interrupted {
                st.interrupted = false;
                st.sync_fd();
                return Ok(PullWait::Interrupted);
            }
            if let Some(reason) = &st.closed {
                return Err(reason.clone());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(PullWait::TimedOut);
            }
            let waiter = st.waiters.register();
            drop(st);
            waiter.park(deadline);
            st = self.lock();
            st.waiters.cancel(&waiter);
        }
    }

    /// Makes the pull now waiting (or, if none waits, the next pull that finds nothing to
    /// deliver) return [`PullWait::Interrupted`]. Non-blocking; used by worker `stop`.
    pub fn interrupt(&self) {
        let mut st = self.lock();
        st.interrupted = true;
        st.sync_fd();
        let wakes = st.waiters.take_all();
        drop(st);
        wakes.wake();
    }

    /// A descriptor that is readable exactly while a pull would not wait (deliveries, a
    /// pending interrupt, or the close), created on first call and owned by the buffer.
    pub fn fd(&self) -> std::io::Result<RawFd> {
        let mut st = self.lock();
        let ready = st.pull_ready();
        ready_fd::ensure(&mut st.fd, ready)
    }

    /// Puts back a descriptor taken with [`LiveBuffer::take_fd`], brought up to date.
    pub(crate) fn restore_fd(&self, fd: ReadyFd) {
        let mut st = self.lock();
        st.fd = Some(fd);
        st.sync_fd();
    }

    /// Takes the descriptor out (its owner is going away, or moves it elsewhere).
    pub(crate) fn take_fd(&self) -> Option<ReadyFd> {
        self.lock().fd.take()
    }

    /// Whether the buffer was closed (it may still hold deliveries).
    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// Events dropped so far by the overflow policy.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Events buffered now.
    pub fn len(&self) -> usize {
        self.lock().events
    }

    /// True when no event is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes a gap at the front of the queue: (from_seq, to_seq, count).
fn pop_front_gap<T>(q: &mut VecDeque<Delivery<T>>) -> Option<(u64, u64, u64)> {
    if !matches!(q.front(), Some(Delivery::Gap { .. })) {
        return None;
    }
    match q.pop_front() {
        Some(Delivery::Gap {
            from_seq,
            to_seq,
            count,
        }) => Some((from_seq, to_seq, count)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    fn drain(b: &LiveBuffer<u32>) -> Vec<Delivery<u32>> {
        let mut out = Vec::new();
        let mut all = Vec::new();
        while b.pull(1000, Some(Instant::now()), &mut out) == Ok(true) {
            all.append(&mut out);
        }
        all
    }

    fn ev(sequence: u64) -> Delivery<u32> {
        Delivery::Event {
            sequence,
            value: sequence as u32,
        }
    }

    fn gap(from_seq: u64, to_seq: u64, count: u64) -> Delivery<u32> {
        Delivery::Gap {
            from_seq,
            to_seq,
            count,
        }
    }

    #[test]
    fn drop_newest_reports_one_coalesced_gap_at_the_end() {
        let b = LiveBuffer::new(2, Overflow::DropNewest).unwrap();
        for s in 1..=5 {
            b.push(s, s as u32);
        }
        assert_eq!(drain(&b), vec![ev(1), ev(2), gap(3, 5, 3)]);
        assert_eq!(b.dropped(), 3);
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_fuses_gaps_at_the_front() {
        let b = LiveBuffer::new(2, Overflow::DropOldest).unwrap();
        for s in 1..=5 {
            assert_eq!(
                b.push(s, s as u32),
                if s <= 2 {
                    Pushed::Accepted
                } else {
                    Pushed::DroppedOldest
                }
            );
        }
        assert_eq!(drain(&b), vec![gap(1, 3, 3), ev(4), ev(5)]);
    }

    #[test]
    fn drop_oldest_after_a_drop_newest_style_gap_merges_both_sides() {
        // Build [e1][e2] then pull e1 (room for one), push 3 and 4: [e2][e3] full, 4 drops e2.
        let b = LiveBuffer::new(2, Overflow::DropOldest).unwrap();
        b.push(1, 1);
        b.push(2, 2);
        let mut out = Vec::new();
        assert_eq!(b.pull(1, None, &mut out), Ok(true));
        assert_eq!(out, vec![ev(1)]);
        b.push(3, 3);
        b.push(4, 4);
        b.push(5, 5);
        assert_eq!(drain(&b), vec![gap(2, 3, 2), ev(4), ev(5)]);
    }

    #[test]
    fn drops_always_equal_reported_gaps() {
        for policy in [Overflow::DropOldest, Overflow::DropNewest] {
            let b = LiveBuffer::new(3, policy).unwrap();
            let mut delivered = 0u64;
            let mut gaps = 0u64;
            let mut out = Vec::new();
            for s in 0..1000u64 {
                b.push(s, s as u32);
                if s % 7 == 0 {
                    b.pull(2, Some(Instant::now()), &mut out).unwrap();
                    for d in &out {
                        match d {
                            Delivery::Event { .. } => delivered += 1,
                            Delivery::Gap { count, .. } => gaps += count,
                        }
                    }
                }
            }
            for d in drain(&b) {
                match d {
                    Delivery::Event { .. } => delivered += 1,
                    Delivery::Gap { count, .. } => gaps += count,
                }
            }
            assert_eq!(delivered + gaps, 1000, "{policy:?}");
            assert_eq!(gaps, b.dropped(), "{policy:?}");
        }
    }

    #[test]
    fn disconnect_closes_after_the_buffered_items() {
        let b = LiveBuffer::new(2, Overflow::Disconnect).unwrap();
        b.push(1, 1);
        b.push(2, 2);
        assert_eq!(b.push(3, 3), Pushed::Refused);
        assert_eq!(b.push(4, 4), Pushed::Refused);
        let mut out = Vec::new();
        assert_eq!(b.pull(10, None, &mut out), Ok(true));
        assert_eq!(out, vec![ev(1), ev(2)]);
        assert_eq!(b.pull(10, None, &mut out), Err(CanalError::Disconnected));
    }

    #[test]
    fn close_wakes_blocked_pullers_after_buffered_items_are_handed_out() {
        let b = Arc::new(LiveBuffer::<u32>::new(8, Overflow::DropNewest).unwrap());
        let start = Arc::new(Barrier::new(5));
        let pullers: Vec<_> = (0..4)
            .map(|_| {
                let (b, start) = (Arc::clone(&b), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    let mut got = 0;
                    let mut out = Vec::new();
                    loop {
                        match b.pull(1, None, &mut out) {
                            Ok(true) => got += out.len(),
                            Ok(false) => unreachable!("no deadline"),
                            Err(e) => return (got, e),
                        }
                    }
                })
            })
            .collect();
        start.wait();
        for s in 0..6 {
            b.push(s, s as u32);
        }
        b.close();
        assert_eq!(b.push(99, 99), Pushed::Refused);
        let results: Vec<_> = pullers.into_iter().map(|p| p.join().unwrap()).collect();
        assert!(results.iter().all(|(_, e)| *e == CanalError::Closed));
        assert_eq!(
            results.iter().map(|(g, _)| g).sum::<usize>(),
            6,
            "nothing lost at close"
        );
    }

    #[test]
    fn pull_times_out_without_items_and_rejects_max_zero() {
        let b = LiveBuffer::<u32>::new(1, Overflow::DropNewest).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(b.pull(1, Some(deadline), &mut out), Ok(false));
        assert!(Instant::now() >= deadline);
        assert_eq!(
            b.pull(0, None, &mut out),
            Err(CanalError::InvalidArgument("max must be at least 1"))
        );
        assert!(LiveBuffer::<u32>::new(0, Overflow::DropOldest).is_err());
    }

    #[test]
    fn a_push_wakes_a_blocked_puller() {
        let b = Arc::new(LiveBuffer::<u32>::new(4, Overflow::DropNewest).unwrap());
        let puller = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let r = b.pull(4, Some(Instant::now() + Duration::from_secs(30)), &mut out);
                (r, out)
            })
        };
        b.push(7, 7);
        let (r, out) = puller.join().unwrap();
        assert_eq!(r, Ok(true));
        assert_eq!(out, vec![ev(7)]);
    }

    #[test]
    fn interrupt_wakes_a_blocked_puller_once_and_never_hides_items() {
        let b = Arc::new(LiveBuffer::<u32>::new(4, Overflow::DropNewest).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let puller = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                tx.send(()).unwrap();
                b.pull_until(4, None, &mut out)
            })
        };
        rx.recv().unwrap();
        b.interrupt();
        assert_eq!(puller.join().unwrap(), Ok(PullWait::Interrupted));
        // Consumed: the next pull times out.
        let mut out = Vec::new();
        assert_eq!(
            b.pull_until(4, Some(Instant::now()), &mut out),
            Ok(PullWait::TimedOut)
        );
        // Items win over a pending interrupt; the interrupt stays for the next empty pull.
        b.interrupt();
        b.push(1, 1);
        assert_eq!(b.pull_until(4, None, &mut out), Ok(PullWait::Delivered));
        assert_eq!(out, vec![ev(1)]);
        assert_eq!(b.pull_until(4, None, &mut out), Ok(PullWait::Interrupted));
    }
}
