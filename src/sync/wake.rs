//! Per-waiter parkers: how a thread blocked on a lock-guarded condition is woken with one wake
//! and without ever blocking on the lock the waker holds.
//!
//! The protocol (every blocking call in the crate that waits for another thread's notification
//! uses it):
//!
//! 1. **Register under the lock.** The waiter checks its condition under the owner's mutex; if it
//!    must wait, it pushes a [`Waiter`] — a fresh `notified` flag plus its thread handle — onto
//!    the [`Waiters`] list that lives in the same guarded state, then releases the lock.
//! 2. **Take under the lock.** A notifier changes the state under that same mutex and, still
//!    under it, takes the waiters to wake out of the list ([`Waiters::take_all`] /
//!    [`Waiters::take_one`]) into a [`Wakes`].
//! 3. **Wake after unlocking.** The notifier releases the mutex, then [`Wakes::wake`]: for each
//!    waiter it *first* publishes `notified = true` (Release) and *then* unparks the thread.
//! 4. **Park until published.** The waiter parks until it reads `notified == true` (Acquire),
//!    or its deadline passes; then it re-locks, removes itself if a notifier did not take it
//!    ([`Waiters::cancel`]), and re-checks its condition (a wake-up is a hint, not a result).
//!
//! Why no wake-up is lost: the condition check and the registration happen in one critical
//! section, and so do the state change and the take. So either the notifier's change comes
//! first — the waiter sees it under the lock and does not wait — or the registration comes
//! first, and then the notifier finds the waiter in the list and, after unlocking, sets its flag
//! and unparks it. A taken waiter is out of the list, so it is woken exactly once per take.
//! The order in step 3 is the one invariant a reader must keep: the flag is published *before*
//! the unpark. `unpark` makes the thread's park token available (a `park` after it returns at
//! once); if the unpark came first, the waiter could wake on it (or already be awake from a
//! spurious return), read the flag still `false`, park again — and the later store would wake
//! nobody (the loom model `loom_wake_*` below finds exactly that deadlock when the order is
//! swapped). Parks that return without the flag set (spurious returns, a stale unpark left
//! over from an earlier wait of the same thread) just park again.
//!
//! Why it is fast: the woken thread needs nothing the notifier holds — it was unparked after the
//! unlock, and it re-locks a mutex that is free (unlike `Condvar`, whose woken waiter re-locks
//! the mutex inside `wait`, often while the notifier still holds it, and blocks on it: a second
//! sleep and wake per notification). A notifier that has more urgent work (running crash
//! callbacks) can also run it first and wake the waiters afterwards, never blocking on them.

use std::time::Instant;

use super::atomic::{AtomicBool, Ordering};
use super::Arc;

#[cfg(loom)]
use loom::thread::{self as thread_imp, Thread};
#[cfg(not(loom))]
use std::thread::{self as thread_imp, Thread};

#[derive(Debug)]
struct Slot {
    /// Published (Release) by the notifier before it unparks `thread`.
    notified: AtomicBool,
    thread: Thread,
}

/// One blocked call's parker: registered under the owner's lock, parked on without it.
#[derive(Debug)]
pub(crate) struct Waiter(Arc<Slot>);

impl Waiter {
    /// Parks until a notifier published this waiter's flag, or `deadline` passes (`None`: no
    /// limit). True when notified. Call with no lock held.
    pub(crate) fn park(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.0.notified.load(Ordering::Acquire) {
                return true;
            }
            match deadline {
                None => thread_imp::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    park_timeout(d - now);
                }
            }
        }
    }
}

#[cfg(not(loom))]
fn park_timeout(d: std::time::Duration) {
    thread_imp::park_timeout(d);
}

/// loom has no timed park; models wait without deadlines.
#[cfg(loom)]
fn park_timeout(_: std::time::Duration) {
    thread_imp::park();
}

/// The waiters of one lock-guarded condition; lives in the guarded state.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    list: Vec<Arc<Slot>>,
}

impl Waiters {
    /// Registers the calling thread (call under the lock, after checking the condition).
    pub(crate) fn register(&mut self) -> Waiter {
        let slot = Arc::new(Slot {
            notified: AtomicBool::new(false),
            thread: thread_imp::current(),
        });
        self.list.push(Arc::clone(&slot));
        Waiter(slot)
    }

    /// Removes `w` if no notifier took it (a timeout, or a wake-up of someone else); call under
    /// the lock after parking.
    pub(crate) fn cancel(&mut self, w: &Waiter) {
        if let Some(i) = self.list.iter().position(|s| Arc::ptr_eq(s, &w.0)) {
            self.list.swap_remove(i);
        }
    }

    /// How many wait.
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether anyone waits.
    #[allow(dead_code)]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Takes every waiter (call under the lock; wake the result after releasing it).
    pub(crate) fn take_all(&mut self) -> Wakes {
        match self.list.len() {
            0 => Wakes::default(),
            1 => Wakes {
                first: self.list.pop(),
                rest: Vec::new(),
            },
            _ => Wakes {
                first: None,
                rest: std::mem::take(&mut self.list),
            },
        }
    }

    /// Takes the longest-waiting waiter, if any (under the lock; wake it after releasing).
    /// Enough for a single item that only one waiter can take: the woken waiter re-checks, and
    /// anyone who took the item instead made the wake-up unnecessary.
    pub(crate) fn take_one(&mut self) -> Wakes {
        if self.list.is_empty() {
            return Wakes::default();
        }
        Wakes {
            first: Some(self.list.remove(0)),
            rest: Vec::new(),
        }
    }
}

/// Waiters taken under a lock, to be woken once it is released. One waiter — the common case —
/// is held inline, so taking and waking it allocates nothing on the notifier's path.
#[derive(Debug, Default)]
#[must_use = "taken waiters must be woken (after releasing the lock)"]
pub(crate) struct Wakes {
    first: Option<Arc<Slot>>,
    rest: Vec<Arc<Slot>>,
}

impl Wakes {
    /// Adds `other`'s waiters to these.
    #[allow(dead_code)]
    pub(crate) fn append(&mut self, mut other: Wakes) {
        if let Some(w) = other.first.take() {
            if self.first.is_none() {
                self.first = Some(w);
            } else {
                self.rest.push(w);
            }
        }
        if self.rest.is_empty() {
            std::mem::swap(&mut self.rest, &mut other.rest);
        } else {
            self.rest.append(&mut other.rest);
        }
    }

    /// Wakes them: flag first, then unpark (see the module doc). Call with no lock held.
    pub(crate) fn wake(self) {
        drop(self);
    }
}

/// Dropping wakes too, so waiters taken on a path that unwinds (a panicking callback run before
/// the wake) are never left parked.
impl Drop for Wakes {
    fn drop(&mut self) {
        for slot in self.first.take().into_iter().chain(self.rest.drain(..)) {
            slot.notified.store(true, Ordering::Release);
            slot.thread.unpark();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn a_registered_waiter_is_woken_by_a_take_and_wake() {
        let m = std::sync::Arc::new(Mutex::new((false, Waiters::default())));
        let waiter = {
            let m = std::sync::Arc::clone(&m);
            std::thread::spawn(move || {
                let mut st = m.lock();
                while !st.0 {
                    let w = st.1.register();
                    drop(st);
                    w.park(Some(Instant::now() + Duration::from_secs(30)));
                    st = m.lock();
                    st.1.cancel(&w);
                }
            })
        };
        let mut st = m.lock();
        st.0 = true;
        let wakes = st.1.take_all();
        drop(st);
        wakes.wake();
        waiter.join().unwrap();
        assert!(m.lock().1.is_empty());
    }

    #[test]
    fn every_taken_waiter_is_woken_whatever_the_mix_of_takes() {
        // One waiter (held inline), two (a list), and one more appended: four flags.
        let (mut a, mut b, mut c) = (Waiters::default(), Waiters::default(), Waiters::default());
        let w1 = a.register();
        let (w2, w3) = (b.register(), b.register());
        let w4 = c.register();
        let mut wakes = a.take_all();
        wakes.append(b.take_all());
        wakes.append(c.take_one());
        assert!(a.is_empty() && b.is_empty() && c.is_empty());
        let all = [&w1, &w2, &w3, &w4];
        for w in all {
            assert!(
                !w.park(Some(Instant::now())),
                "not notified before the wake"
            );
        }
        wakes.wake();
        for w in all {
            assert!(w.park(Some(Instant::now())), "notified by the wake");
        }
    }

    #[test]
    fn a_park_times_out_unnotified_and_cancel_unregisters() {
        let mut ws = Waiters::default();
        let w = ws.register();
        assert!(!w.park(Some(Instant::now() + Duration::from_millis(1))));
        ws.cancel(&w);
        assert!(ws.is_empty());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Mutex;
    use loom::thread;

    struct Cond {
        ready: u32,
        waiters: Waiters,
    }

    impl Cond {
        /// Nothing ready, no waiter; shared between the model's threads.
        fn shared() -> Arc<Mutex<Cond>> {
            Arc::new(Mutex::new(Cond {
                ready: 0,
                waiters: Waiters::default(),
            }))
        }
    }

    /// Waits until `ready` reaches `n`.
    fn wait_for(m: &Mutex<Cond>, n: u32) {
        let mut st = m.lock();
        while st.ready < n {
            let w = st.waiters.register();
            drop(st);
            w.park(None);
            st = m.lock();
            st.waiters.cancel(&w);
        }
    }

    /// Waits for an item and takes it (`ready` counts items): the mailbox's shape, where one
    /// item needs one waiter woken (`take_one`).
    fn take_item(m: &Mutex<Cond>) {
        let mut st = m.lock();
        while st.ready == 0 {
            let w = st.waiters.register();
            drop(st);
            w.park(None);
            st = m.lock();
            st.waiters.cancel(&w);
        }
        st.ready -= 1;
    }

    fn publish(m: &Mutex<Cond>, all: bool) {
        let mut st = m.lock();
        st.ready += 1;
        let wakes = if all {
            st.waiters.take_all()
        } else {
            st.waiters.take_one()
        };
        drop(st);
        wakes.wake();
    }

    /// A notification racing a waiter on its way to park (checking, registering, parking) is
    /// never lost: the waiter returns (a lost wake-up is a loom deadlock).
    #[test]
    fn loom_wake_a_notification_racing_a_waiter_is_never_lost() {
        loom::model(|| {
            let m = Cond::shared();
            let t = {
                let m = Arc::clone(&m);
                thread::spawn(move || wait_for(&m, 1))
            };
            publish(&m, false);
            t.join().unwrap();
            assert!(m.lock().waiters.is_empty(), "a waiter left registered");
        });
    }

    /// Two takers and two items, each announced with a single wake (take_one): both takers
    /// return, and none stays registered.
    #[test]
    fn loom_wake_two_takers_two_single_wakes_both_return() {
        loom::model(|| {
            let m = Cond::shared();
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let m = Arc::clone(&m);
                    thread::spawn(move || take_item(&m))
                })
                .collect();
            publish(&m, false);
            publish(&m, false);
            for t in ts {
                t.join().unwrap();
            }
            assert!(m.lock().waiters.is_empty(), "a waiter left registered");
        });
    }

    /// One waiter woken twice (it needs the second notification): the first wake's stale
    /// unpark token and the second wake are both handled; the waiter returns.
    #[test]
    fn loom_wake_a_waiter_needing_two_notifications_returns() {
        loom::model(|| {
            let m = Cond::shared();
            let t = {
                let m = Arc::clone(&m);
                thread::spawn(move || wait_for(&m, 2))
            };
            publish(&m, true);
            publish(&m, true);
            t.join().unwrap();
        });
    }
}
