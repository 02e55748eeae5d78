//! [`Canal`]: the one handle type over the two kinds of consumer, and its pull.
//!
//! Invariant: the items of a pull live in a buffer the canal owns and are only replaced by the
//! next pull, so a batch is a borrow of the canal (`&[Item]` tied to `&mut self`): the views
//! the C API hands out stay valid exactly until the next pull or the canal's destruction.
//!
//! A canal is closed by the consumer ([`Canal::close`], or a [`Closer`] from another thread)
//! independently of its store: a closed canal hands out what it holds (a subscription's
//! buffer; a cursor holds nothing), then reports `Closed` to every pull, ack, checkpoint and
//! rewind.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::sync::ready_fd::ReadyFd;
use std::time::{Duration, Instant};

use crate::store::{Event, EventView, Keep, Store};

use super::cursor::{Cursor, CursorOptions, Wake};
use super::live::PullWait;
use super::subscription::{EventBuffer, Subscription, SubscriptionOptions};
use super::{CanalError, Delivery};
#[cfg(feature = "nats")]
use crate::nats::remote::{RemoteCursor, RemoteCursorOptions, RemoteInbox};

/// One delivered item: an event (with its sequence), borrowed from the canal until its next
/// pull, or a gap reporting `count` events in `from_seq..=to_seq` that were not delivered: a
/// subscription's overflow policy dropped them, or retention removed them before a cursor read
/// them (see [`Canal::pull_batch`]).
pub type Item<'a> = Delivery<EventView<'a>>;

impl Delivery<EventView<'_>> {
    /// An owned copy of the item (allocates the event's stream name, payload and key), to keep
    /// it past the next pull.
    pub fn to_owned_item(&self) -> Delivery<Event> {
        self.map_ref(EventView::to_event)
    }
}

/// Which kind of canal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanalKind {
    /// Ordered, at-least-once, with ack and checkpoints.
    Cursor,
    /// Live push into a bounded buffer with an overflow policy.
    Subscription,
}

/// What a pull produced, other than an error.
#[derive(Debug, PartialEq, Eq)]
pub enum Pulled<'a> {
    /// At least one and at most `max` items, valid until the next pull on this canal.
    Items(&'a [Item<'a>]),
    /// The timeout passed with nothing to deliver (a non-error outcome).
    TimedOut,
    /// An [`Interrupter`] woke the pull with nothing delivered (a non-error outcome).
    Interrupted,
}

enum Inner {
    Cursor(Cursor),
    Subscription(Subscription),
    /// A cursor over a JetStream consumer (`crate::nats::remote`): same items, acks map to
    /// JetStream acknowledgements.
    #[cfg(feature = "nats")]
    Remote(Box<RemoteCursor>),
}

/// A consumer of a store's events: a cursor or a subscription.
///
/// `Send + Sync`, and pulls take `&mut self`: one thread pulls from a canal at a time (move it
/// between threads freely); many canals on one store run in parallel with each other and with
/// the writers. A canal holds its store
/// weakly: it never keeps the store alive, and a dropped store reads as closed.
pub struct Canal {
    inner: Inner,
    /// The last pull's items. `'static` is a private lie: they borrow `keep` (cursors) or
    /// `events` (subscriptions), which only the next pull — after clearing `batch` — changes,
    /// and they are handed out only with the lifetime of a borrow of the canal.
    batch: Vec<Item<'static>>,
    keep: Keep,
    /// A subscription's last pull, which its items borrow.
    events: Vec<Delivery<Arc<Event>>>,
    remote: Arc<Remote>,
}

impl std::fmt::Debug for Canal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canal")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// Wakes a canal's blocked pull from another thread (cheap to clone, `Send + Sync`).
#[derive(Clone)]
pub struct Interrupter(Arc<Remote>);

/// Closes a canal from another thread (cheap to clone, `Send + Sync`): see [`Canal::close`].
#[derive(Clone)]
pub struct Closer(Arc<Remote>);

/// What other threads may do to a canal: wake its pull, close it.
struct Remote {
    closed: AtomicBool,
    waker: Waker,
}

enum Waker {
    Cursor(Arc<Wake>),
    Subscription(Arc<EventBuffer>),
    #[cfg(feature = "nats")]
    Remote(Arc<RemoteInbox>),
}

impl Remote {
    fn new(waker: Waker) -> Arc<Remote> {
        Arc::new(Remote {
            closed: AtomicBool::new(false),
            waker,
        })
    }

    fn interrupt(&self) {
        match &self.waker {
            Waker::Cursor(w) => w.interrupt(),
            Waker::Subscription(b) => b.interrupt(),
            #[cfg(feature = "nats")]
            Waker::Remote(i) => i.interrupt(),
        }
    }

    fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        match &self.waker {
            Waker::Cursor(w) => w.close(),
            Waker::Subscription(b) => b.close(),
            #[cfg(feature = "nats")]
            Waker::Remote(i) => i.close(),
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Interrupter {
    /// Makes the pull blocked now — or, if none is, the next pull that has nothing to deliver
    /// at once — return [`Pulled::Interrupted`]. Non-blocking. Items ready to deliver win over
    /// an interrupt, which then stays pending for the next pull that would wait.
    pub fn interrupt(&self) {
        self.0.interrupt();
    }
}

impl Closer {
    /// [`Canal::close`], from any thread: a pull blocked now wakes.
    pub fn close(&self) {
        self.0.close();
    }

    /// Whether the canal was closed ([`Canal::is_closed`]).
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl Canal {
    /// Opens a cursor on `store`. Errors: `InvalidArgument` (start `At(0)`, bad checkpoint name),
    /// `NameInUse`, `Corrupt` / `Io` (the checkpoint file), `CheckpointAhead`.
    pub fn cursor(store: &Arc<Store>, options: CursorOptions) -> Result<Canal, CanalError> {
        let cursor = Cursor::open(store, options)?;
        let remote = Remote::new(Waker::Cursor(Arc::clone(cursor.wake())));
        Ok(Canal {
            inner: Inner::Cursor(cursor),
            batch: Vec::new(),
            keep: Keep::default(),
            events: Vec::new(),
            remote,
        })
    }

    /// Opens a subscription on `store`: it receives the events committed after this call.
    /// Errors: `InvalidArgument` (capacity 0). On a closed store the subscription is open and
    /// immediately reports `Closed`.
    pub fn subscription(
        store: &Arc<Store>,
        options: SubscriptionOptions,
    ) -> Result<Canal, CanalError> {
        let subscription = Subscription::open(store, options)?;
        let remote = Remote::new(Waker::Subscription(Arc::clone(subscription.buffer())));
        Ok(Canal {
            inner: Inner::Subscription(subscription),
            batch: Vec::new(),
            keep: Keep::default(),
            events: Vec::new(),
            remote,
        })
    }

    /// Opens a remote cursor: a durable JetStream pull consumer of a stream that a mirror
    /// fills, behind the cursor API (see [`crate::nats::remote`]). Its kind is
    /// [`CanalKind::Cursor`]; [`Canal::is_remote`] tells it apart. `ack` acknowledges to the
    /// server, `checkpoint` returns once the server confirmed it, `rewind` hands the
    /// unacknowledged items out again from the canal's memory. Errors: `InvalidArgument` (a bad
    /// name, stream name, start or option), `RemoteInvalid` (a bad URL or credentials file, a
    /// consumer of that name with another subject filter or ack policy), `Unavailable` (no
    /// server answered within the connect timeout, no such stream).
    #[cfg(feature = "nats")]
    pub fn remote_cursor(options: RemoteCursorOptions) -> Result<Canal, CanalError> {
        let cursor = RemoteCursor::open(options)?;
        let remote = Remote::new(Waker::Remote(Arc::clone(cursor.inbox())));
        Ok(Canal {
            inner: Inner::Remote(Box::new(cursor)),
            batch: Vec::new(),
            keep: Keep::default(),
            events: Vec::new(),
            remote,
        })
    }

    /// Whether this is a remote cursor ([`Canal::remote_cursor`]).
    pub fn is_remote(&self) -> bool {
        match self.inner {
            #[cfg(feature = "nats")]
            Inner::Remote(_) => true,
            _ => false,
        }
    }

    /// Closes the canal, whatever its store does: a subscription stops receiving events and
    /// hands out what it buffered, then every pull reports `Closed`; a cursor (it buffers
    /// nothing) reports `Closed` at once. A pull blocked on another thread (see [`Closer`])
    /// wakes. Later acks, checkpoints and rewinds fail with `Closed` (checkpoint before
    /// closing). Closing twice is a no-op; the canal releases its checkpoint name and its
    /// commit listener when it is dropped.
    pub fn close(&self) {
        self.remote.close();
    }

    /// A handle that closes this canal from another thread.
    pub fn closer(&self) -> Closer {
        Closer(Arc::clone(&self.remote))
    }

    /// Whether [`Canal::close`] was called (a store close does not count: the canal then
    /// still drains what it can read).
    pub fn is_closed(&self) -> bool {
        self.remote.is_closed()
    }

    /// Cursor or subscription.
    pub fn kind(&self) -> CanalKind {
        match self.inner {
            Inner::Cursor(_) => CanalKind::Cursor,
            Inner::Subscription(_) => CanalKind::Subscription,
            #[cfg(feature = "nats")]
            Inner::Remote(_) => CanalKind::Cursor,
        }
    }

    /// Pulls up to `max` items, waiting until at least one is ready, `timeout` passes
    /// (`None` = no limit, `Some(ZERO)` = don't wait) or an [`Interrupter`] fires.
    ///
    /// Returns as soon as at least one item is ready, with everything ready at that moment up
    /// to `max`. `Err(Closed)` (or `Disconnected`) only once every buffered item (subscription)
    /// or every committed matching event (cursor) was handed out. `max == 0` is
    /// `InvalidArgument`. Waiting parks the thread; nothing polls. After [`Canal::close`]: a
    /// subscription's buffered items, then `Closed`; a cursor: `Closed` (a pending interrupt is
    /// reported first, as for a closed store).
    ///
    /// The previous batch is dropped first, whatever the outcome.
    ///
    /// Cursors and retention: a cursor positioned below the store's first retained sequence
    /// (`Start::Begin` or `Start::At(n)` after retention, a named checkpoint below the cut, or
    /// a cursor whose unread events retention removed while it was open) first gets one
    /// [`Delivery::Gap`] `{ from_seq: position, to_seq: first_retained - 1, count: to_seq -
    /// from_seq + 1 }` (the count includes events its filter would have skipped), then the
    /// first retained event. The gap counts as delivered: `ack(to_seq)` is allowed (a worker
    /// acks it with its batch), and a checkpoint at `to_seq` resumes at the first retained
    /// event; rewinding before acking it delivers the gap again.
    ///
    /// Items borrow the canal: sealed segments are read zero-copy (the items point into their
    /// memory maps, which the canal keeps mapped until the next pull, also across retention).
    pub fn pull_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Pulled<'_>, CanalError> {
        // The views go first, then what they borrow.
        self.batch.clear();
        self.keep.clear();
        let outcome = match &mut self.inner {
            Inner::Cursor(c) => {
                let outcome = c.pull(max, timeout, &mut self.batch, &mut self.keep);
                c.settle_fd();
                outcome?
            }
            Inner::Subscription(s) => {
                let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
                let outcome = s.buffer().pull_until(max, deadline, &mut self.events)?;
                self.batch.extend(self.events.iter().map(|d| {
                    d.map_ref(|value| {
                        // SAFETY: the event is an Arc in `events`, which stays untouched until
                        // the next pull has cleared `batch`.
                        EventView::of(unsafe { crate::store::forever(&**value) })
                    })
                }));
                outcome
            }
            #[cfg(feature = "nats")]
            Inner::Remote(r) => r.pull(max, timeout, &mut self.batch)?,
        };
        Ok(match outcome {
            PullWait::Delivered => Pulled::Items(&self.batch),
            PullWait::TimedOut => Pulled::TimedOut,
            PullWait::Interrupted => Pulled::Interrupted,
        })
    }

    /// A handle that wakes this canal's blocked pull from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(Arc::clone(&self.remote))
    }

    fn cursor_mut(&mut self) -> Result<&mut Cursor, CanalError> {
        if self.remote.is_closed() {
            return Err(CanalError::Closed);
        }
        match &mut self.inner {
            Inner::Cursor(c) => Ok(c),
            _ => Err(CanalError::InvalidArgument(
                "subscriptions have no ack, checkpoint or rewind",
            )),
        }
    }

    fn cursor_ref(&self) -> Option<&Cursor> {
        match &self.inner {
            Inner::Cursor(c) => Some(c),
            _ => None,
        }
    }

    /// The remote cursor, if this is one (`Closed` after [`Canal::close`]).
    #[cfg(feature = "nats")]
    fn remote_mut(&mut self) -> Result<Option<&mut RemoteCursor>, CanalError> {
        match &mut self.inner {
            Inner::Remote(_) if self.remote.is_closed() => Err(CanalError::Closed),
            Inner::Remote(r) => Ok(Some(r)),
            _ => Ok(None),
        }
    }

    #[cfg(feature = "nats")]
    fn remote_ref(&self) -> Option<&RemoteCursor> {
        match &self.inner {
            Inner::Remote(r) => Some(r),
            _ => None,
        }
    }

    /// The cursor positions of a local or remote cursor: (acked, delivered, next,
    /// checkpointed, name).
    fn positions(&self) -> Option<(u64, u64, u64, u64, Option<&str>)> {
        #[cfg(feature = "nats")]
        if let Some(r) = self.remote_ref() {
            return Some((
                r.acked(),
                r.delivered(),
                r.next(),
                r.checkpointed(),
                Some(r.name()),
            ));
        }
        self.cursor_ref().map(|c| {
            (
                c.acked(),
                c.delivered(),
                c.next(),
                c.checkpointed(),
                c.name(),
            )
        })
    }

    /// Cursor: marks everything up to `seq` as handled. `seq` must lie between the current
    /// acknowledged position and the highest delivered sequence (acking the same position
    /// again is a no-op), else `InvalidArgument`; subscriptions: `InvalidArgument`; after
    /// [`Canal::close`]: `Closed`.
    pub fn ack(&mut self, seq: u64) -> Result<(), CanalError> {
        #[cfg(feature = "nats")]
        if let Some(r) = self.remote_mut()? {
            return r.ack(seq);
        }
        self.cursor_mut()?.ack(seq)
    }

    /// Cursor: persists the acknowledged position under the cursor's name (see the
    /// `checkpoint` module for the file format; durable on return for on-disk stores, kept in
    /// memory for the store's lifetime otherwise). `InvalidArgument` for unnamed cursors and
    /// subscriptions; `Io` if writing failed (the previous checkpoint is intact); `Closed`
    /// after [`Canal::close`].
    pub fn checkpoint(&mut self) -> Result<(), CanalError> {
        #[cfg(feature = "nats")]
        if let Some(r) = self.remote_mut()? {
            return r.checkpoint();
        }
        self.cursor_mut()?.checkpoint()
    }

    /// The worker's exit checkpoint: saves what it acknowledged also when its canal was
    /// closed (closing stops the consumer; it does not disown its acknowledgements).
    pub(crate) fn checkpoint_at_exit(&mut self) -> Result<(), CanalError> {
        match &mut self.inner {
            Inner::Cursor(c) => c.checkpoint(),
            Inner::Subscription(_) => Ok(()),
            #[cfg(feature = "nats")]
            Inner::Remote(r) => r.checkpoint(),
        }
    }

    /// Cursor: moves the read position back to `acked + 1`, so the next pulls deliver every
    /// unacknowledged event again. Subscriptions: `InvalidArgument`; after [`Canal::close`]:
    /// `Closed`.
    pub fn rewind(&mut self) -> Result<(), CanalError> {
        #[cfg(feature = "nats")]
        if let Some(r) = self.remote_mut()? {
            r.rewind();
            return Ok(());
        }
        let cursor = self.cursor_mut()?;
        cursor.rewind();
        cursor.settle_fd();
        Ok(())
    }

    /// A pollable descriptor (Linux eventfd, non-blocking, close-on-exec), created on the
    /// first call and owned by the canal: closed when the canal is dropped.
    ///
    /// Level-triggered: readable exactly while a [`Canal::pull_batch`] would not wait — items
    /// are ready, the canal or its store is closed (or the store is gone), or an interrupt is
    /// pending — and not readable again once a pull has taken everything (no spurious readiness
    /// after a draining pull). For a cursor with a filter "items are ready" means committed
    /// events it has not examined yet; if the filter skips all of them, a non-blocking pull
    /// returns [`Pulled::TimedOut`] and the descriptor becomes unreadable. Safe with `poll`,
    /// `epoll` and `select`; never read or write it yourself. Errors: `Io` if the OS refused
    /// a descriptor.
    pub fn fd(&self) -> Result<RawFd, CanalError> {
        let fd = match &self.inner {
            Inner::Cursor(c) => c.fd(),
            Inner::Subscription(s) => s.buffer().fd(),
            #[cfg(feature = "nats")]
            Inner::Remote(r) => r.fd(),
        };
        fd.map_err(|e| CanalError::io("creating the canal's descriptor", e))
    }

    /// Puts back a descriptor [`Canal::take_fd`] took (a worker refused the canal).
    pub(crate) fn restore_fd(&self, fd: ReadyFd) {
        match &self.inner {
            Inner::Cursor(c) => c.restore_fd(fd),
            Inner::Subscription(s) => s.buffer().restore_fd(fd),
            #[cfg(feature = "nats")]
            Inner::Remote(r) => r.restore_fd(fd),
        }
    }

    /// Takes the descriptor out of the canal (None if it was never created): the C handle
    /// keeps it when a worker takes the canal.
    pub(crate) fn take_fd(&self) -> Option<ReadyFd> {
        match &self.inner {
            Inner::Cursor(c) => c.wake().take_fd(),
            Inner::Subscription(s) => s.buffer().take_fd(),
            #[cfg(feature = "nats")]
            Inner::Remote(r) => r.inbox().take_fd(),
        }
    }

    /// Cursor: the acknowledged position (0 = nothing yet). `None` for subscriptions.
    pub fn acked(&self) -> Option<u64> {
        self.positions().map(|p| p.0)
    }

    /// Cursor: the highest delivered sequence. `None` for subscriptions.
    pub fn delivered(&self) -> Option<u64> {
        self.positions().map(|p| p.1)
    }

    /// Cursor: the next sequence it will read. `None` for subscriptions.
    pub fn position(&self) -> Option<u64> {
        self.positions().map(|p| p.2)
    }

    /// Cursor: the last persisted (or loaded) checkpoint. `None` for subscriptions and unnamed
    /// cursors.
    pub fn checkpointed(&self) -> Option<u64> {
        self.positions().filter(|p| p.4.is_some()).map(|p| p.3)
    }

    /// Cursor: the checkpoint name, if opened with one.
    pub fn name(&self) -> Option<&str> {
        self.positions().and_then(|p| p.4)
    }

    /// Subscription: events dropped by the overflow policy so far. `None` for cursors.
    pub fn dropped(&self) -> Option<u64> {
        match &self.inner {
            Inner::Subscription(s) => Some(s.buffer().dropped()),
            _ => None,
        }
    }
}

impl Drop for Canal {
    /// Closes the descriptor now: the listener, closers and interrupters that share its state
    /// may outlive the canal.
    fn drop(&mut self) {
        drop(self.take_fd());
    }
}
