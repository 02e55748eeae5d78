//! The subscription: live push of newly committed events into a bounded [`LiveBuffer`].
//!
//! Invariant: the commit listener hands every event committed after the subscription was
//! opened to the buffer exactly once and in sequence order (a mutex over the next sequence to
//! feed serialises overlapping listener calls), so what a consumer sees is the committed order
//! with every drop reported in-band as a gap; the buffer is closed only after the store's final
//! head was fed.

use crate::sync::Mutex;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::store::{ListenerId, Store, WaitOutcome};

use super::{CanalError, Filter, LiveBuffer, Overflow};

/// How to open a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOptions {
    /// Which events to deliver.
    pub filter: Filter,
    /// Events buffered at most (gaps take no room); at least 1.
    pub capacity: usize,
    /// What to do when the buffer is full.
    pub overflow: Overflow,
}

impl SubscriptionOptions {
    /// Every event, `capacity` buffered, `overflow` when full.
    pub fn new(capacity: usize, overflow: Overflow) -> SubscriptionOptions {
        SubscriptionOptions {
            filter: Filter::all(),
            capacity,
            overflow,
        }
    }

    /// Replaces the filter.
    pub fn with_filter(mut self, filter: Filter) -> SubscriptionOptions {
        self.filter = filter;
        self
    }
}

/// Events read per store read while feeding.
const FEED_CHUNK: usize = 1024;

pub(crate) type EventBuffer = LiveBuffer<Arc<crate::store::Event>>;

struct Feed {
    buffer: Arc<EventBuffer>,
    filter: Filter,
    /// The next sequence to feed; the lock serialises listener calls.
    next: Mutex<u64>,
}

impl Feed {
    /// Pushes every committed event from `next` up to the head; closes the buffer once the
    /// store is closed and everything was fed (or the store is being dropped).
    fn run(&self, store: Option<&Store>) {
        let mut next = self.next.lock();
        if self.buffer.is_closed() {
            // Disconnected (or already closed): it takes nothing more, don't read for it.
            return;
        }
        let Some(store) = store else {
            // Only reachable from the store's own drop: no append can be in flight, and every
            // earlier commit already ran this listener to completion.
            self.buffer.close();
            return;
        };
        // A read error cannot happen today (reads never fail); if one did, the events stay
        // unfed until the next commit retries from `next`.
        while let Ok(events) = store.read_from_sequence(*next, FEED_CHUNK) {
            let caught_up = events.len() < FEED_CHUNK;
            for e in events {
                *next = e.sequence + 1;
                if self.filter.matches(&e) {
                    self.buffer.push(e.sequence, e);
                }
            }
            // A short read reached the head it saw; a commit after it runs this listener
            // again (serialised by `next`), so there is no need to read once more for it.
            if caught_up {
                break;
            }
        }
        // The store's flag is set before its notifier closes: while it is clear (always, but
        // for the last calls) no lock of the store's is taken here.
        if store.is_closed()
            && store.wait_for_sequence(*next - 1, Some(Duration::ZERO)) == WaitOutcome::Closed
        {
            self.buffer.close();
        }
    }
}

pub(crate) struct Subscription {
    store: Weak<Store>,
    listener: ListenerId,
    buffer: Arc<EventBuffer>,
}

impl Subscription {
    pub(crate) fn open(
        store: &Arc<Store>,
        options: SubscriptionOptions,
    ) -> Result<Subscription, CanalError> {
        let buffer = Arc::new(LiveBuffer::new(options.capacity, options.overflow)?);
        let feed = Arc::new(Feed {
            buffer: Arc::clone(&buffer),
            filter: options.filter,
            next: Mutex::new(store.head() + 1),
        });
        let listener = {
            let feed = Arc::clone(&feed);
            let weak = Arc::downgrade(store);
            store.on_commit(move |_| feed.run(weak.upgrade().as_deref()))
        };
        // Catch up with commits that became visible between reading the head and registering,
        // and with a store that was closed before we registered.
        feed.run(Some(store));
        Ok(Subscription {
            store: Arc::downgrade(store),
            listener,
            buffer,
        })
    }

    pub(crate) fn buffer(&self) -> &Arc<EventBuffer> {
        &self.buffer
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(store) = self.store.upgrade() {
            let _ = store.remove_listener(self.listener);
        }
    }
}
