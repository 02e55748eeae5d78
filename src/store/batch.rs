//! Zero-copy batch reads: [`EventView`], a borrowed event, and [`EventBatch`], a reusable batch
//! of them filled by [`Store::read_batch`](super::Store::read_batch).
//!
//! Invariant: a view only points into memory its batch keeps alive — the memory map of a
//! sealed segment (an `Arc` of it), a chunk of the batch's own heap (the bytes of the active
//! segment, copied once), or an in-memory store's `Arc<Event>` — and that memory is released or
//! reused only by the batch's next fill (or its drop), which takes `&mut` and so cannot run
//! while a view is borrowed. Views are stored with a `'static` lifetime inside the batch (a
//! private lie) and handed out only with the lifetime of a borrow of the batch.
//!
//! Cost per event read from a sealed segment: one frame decode (its CRC-32C checked) and one
//! view written into the batch; no allocation, no copy of the payload or of the stream name.
//! Reading the active segment copies each payload (and key and stream name) once into a
//! per-batch buffer that is reused from fill to fill.

use std::sync::Arc;

use super::disk::SegmentMap;
use super::event::{Event, EventId};

/// A borrowed event: the same fields as [`Event`], with the stream name, payload and key
/// borrowed from the batch (or canal pull) it came from. `Copy`; valid for as long as the
/// borrow it came from ([`EventBatch::events`], `Canal::pull_batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView<'a> {
    /// Unique, time-ordered, increasing in commit order.
    pub id: EventId,
    /// Position in the store's total order.
    pub sequence: u64,
    /// The stream the event belongs to.
    pub stream: &'a str,
    /// Position within its stream: dense from 1.
    pub stream_version: u64,
    /// Caller-defined kind.
    pub kind: u16,
    /// The conversation / workflow the event belongs to.
    pub correlation_id: Option<EventId>,
    /// The event that caused this one.
    pub causation_id: Option<EventId>,
    /// Wall-clock commit time in Unix nanoseconds.
    pub timestamp_ns: u64,
    /// Opaque bytes.
    pub payload: &'a [u8],
    /// The key the event was appended with, if any.
    pub idempotency_key: Option<&'a [u8]>,
}

impl<'a> EventView<'a> {
    /// A view of an owned event.
    pub fn of(e: &'a Event) -> EventView<'a> {
        EventView {
            id: e.id,
            sequence: e.sequence,
            stream: &e.stream,
            stream_version: e.stream_version,
            kind: e.kind,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            timestamp_ns: e.timestamp_ns,
            payload: &e.payload,
            idempotency_key: e.idempotency_key.as_deref(),
        }
    }

    /// An owned copy (allocates the stream name, payload and key).
    pub fn to_event(&self) -> Event {
        Event {
            id: self.id,
            sequence: self.sequence,
            stream: self.stream.to_owned(),
            stream_version: self.stream_version,
            kind: self.kind,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            timestamp_ns: self.timestamp_ns,
            payload: self.payload.to_vec(),
            idempotency_key: self.idempotency_key.map(<[u8]>::to_vec),
        }
    }

    /// [`Event::correlation_key`].
    pub fn correlation_key(&self) -> EventId {
        self.correlation_id.unwrap_or(self.id)
    }
}

impl PartialEq<Event> for EventView<'_> {
    fn eq(&self, other: &Event) -> bool {
        *self == EventView::of(other)
    }
}

impl PartialEq<EventView<'_>> for Event {
    fn eq(&self, other: &EventView<'_>) -> bool {
        EventView::of(self) == *other
    }
}

/// Extends a borrow to `'static`.
///
/// # Safety
/// The caller keeps what `b` points into alive, at the same address, for as long as the result
/// is reachable (see the module invariant: a [`Keep`] holds it until the views are cleared).
pub(crate) unsafe fn forever<T: ?Sized>(b: &T) -> &'static T {
    // SAFETY: forwarded to the caller.
    unsafe { &*(b as *const T) }
}

/// A view before its bytes have a final address (active segment: offsets into a heap chunk).
pub(crate) struct Pending {
    pub view: EventView<'static>,
    pub stream: (usize, usize),
    pub payload: (usize, usize),
    pub key: Option<(usize, usize)>,
}

/// What keeps the views of one fill alive: segment maps, heap chunks, `Arc<Event>`s.
#[derive(Default)]
pub(crate) struct Keep {
    maps: Vec<Arc<SegmentMap>>,
    /// Chunks of copied bytes. A chunk is never grown after views point into it: each fill of
    /// active-segment bytes takes a fresh (recycled) chunk, and moving a `Vec` into this list
    /// does not move its buffer.
    chunks: Vec<Vec<u8>>,
    used_chunks: usize,
    arcs: Vec<Arc<Event>>,
    pub(crate) pending: Vec<Pending>,
}

impl Keep {
    /// Releases everything. Only call once every view into this keep was dropped.
    pub(crate) fn clear(&mut self) {
        self.maps.clear();
        self.arcs.clear();
        self.used_chunks = 0;
        self.pending.clear();
        // Chunks keep their allocations (bounded: a chunk holds at most one read's bytes).
        for c in &mut self.chunks {
            c.clear();
        }
        // Don't hoard a huge chunk after a read of a huge payload.
        self.chunks.retain(|c| c.capacity() <= 4 << 20);
    }

    /// Keeps `map` alive (once per map and fill).
    pub(crate) fn map(&mut self, map: &Arc<SegmentMap>) {
        if !self.maps.last().is_some_and(|m| Arc::ptr_eq(m, map)) {
            self.maps.push(Arc::clone(map));
        }
    }

    /// Keeps `e` alive; returns its view.
    pub(crate) fn arc(&mut self, e: &Arc<Event>) -> EventView<'static> {
        self.arcs.push(Arc::clone(e));
        // SAFETY: the event lives in an Arc this keep holds until `clear`.
        EventView::of(unsafe { forever(&**e) })
    }

    /// A fresh chunk to copy bytes into (index into `chunks`).
    pub(crate) fn chunk(&mut self) -> &mut Vec<u8> {
        if self.used_chunks == self.chunks.len() {
            self.chunks.push(Vec::new());
        }
        self.used_chunks += 1;
        let c = &mut self.chunks[self.used_chunks - 1];
        c.clear();
        c
    }

    /// The chunk `chunk` returned last, once filled: the bytes views may now point into.
    pub(crate) fn last_chunk(&self) -> &[u8] {
        &self.chunks[self.used_chunks - 1]
    }
}

/// A reusable batch of [`EventView`]s: fill it with
/// [`Store::read_batch`](super::Store::read_batch); its views stay valid until the next fill or
/// its drop (they borrow the batch). Reusing one batch makes reading allocation-free once its
/// buffers have grown.
#[derive(Default)]
pub struct EventBatch {
    views: Vec<EventView<'static>>,
    keep: Keep,
}

impl std::fmt::Debug for EventBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.events()).finish()
    }
}

impl EventBatch {
    /// An empty batch.
    pub fn new() -> EventBatch {
        EventBatch::default()
    }

    /// The events of the last fill, in sequence order.
    pub fn events(&self) -> &[EventView<'_>] {
        &self.views
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.views.len()
    }

    /// True when the last fill found nothing.
    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    /// Drops the views and releases what they kept alive (segment maps, events).
    pub fn clear(&mut self) {
        self.views.clear();
        self.keep.clear();
    }

    pub(crate) fn parts(&mut self) -> (&mut Vec<EventView<'static>>, &mut Keep) {
        (&mut self.views, &mut self.keep)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TestDir;
    use super::super::*;

    fn requests(from: u32, n: u32) -> Vec<AppendRequest> {
        (from..from + n)
            .map(|i| {
                let r =
                    AppendRequest::new(format!("s{}", i % 5), (i % 3) as u16, vec![i as u8; 100]);
                match i % 4 {
                    0 => r.with_idempotency_key(format!("k{i}")),
                    _ => r,
                }
            })
            .collect()
    }

    fn check_same(s: &Store, batch: &mut EventBatch) {
        let head = s.head();
        let first = s.first_sequence();
        for from in [
            first,
            first + 1,
            first + 37,
            head.saturating_sub(3).max(first),
            head,
        ] {
            for max in [1, 7, 100, 1000] {
                let n = s.read_batch(from, max, batch).unwrap();
                let owned = s.read_from_sequence(from, max).unwrap();
                assert_eq!(n, owned.len(), "from {from} max {max}");
                assert_eq!(batch.len(), n);
                for (v, e) in batch.events().iter().zip(&owned) {
                    assert_eq!(*v, **e, "from {from} max {max}");
                }
            }
        }
    }

    #[test]
    fn read_batch_views_equal_the_owned_events_on_disk_and_in_memory() {
        let dir = TestDir::new("batch-views");
        let c = Config {
            sync: SyncPolicy::Never,
            segment_size: MIN_SEGMENT_SIZE,
            ..Config::on_disk(dir.path())
        };
        let mut batch = EventBatch::new();
        {
            let s = Store::open(c.clone()).unwrap();
            for i in (0..300).step_by(10) {
                s.append_batch(requests(i, 10)).unwrap();
            }
            for i in 300..340 {
                // The last ones stay in the write buffer (sync NEVER).
                s.append(requests(i, 1).pop().unwrap()).unwrap();
            }
            assert!(s.stats().segments > 3);
            check_same(&s, &mut batch);
            s.close().unwrap();
        }
        let s = Store::open(c).unwrap();
        check_same(&s, &mut batch);
        assert_eq!(s.read_batch(s.head() + 1, 10, &mut batch).unwrap(), 0);
        assert!(batch.is_empty());

        let m = Store::open(Config::in_memory()).unwrap();
        m.append_batch(requests(0, 300)).unwrap();
        check_same(&m, &mut batch);
    }

    #[test]
    fn views_outlive_the_retention_of_their_segment_and_truncated_is_reported() {
        let dir = TestDir::new("batch-retention");
        let s = Store::open(Config {
            sync: SyncPolicy::Never,
            segment_size: MIN_SEGMENT_SIZE,
            ..Config::on_disk(dir.path())
        })
        .unwrap();
        for i in (0..200).step_by(10) {
            s.append_batch(requests(i, 10)).unwrap();
        }
        let mut batch = EventBatch::new();
        assert_eq!(s.read_batch(1, 50, &mut batch).unwrap(), 50);
        let kept = s.truncate(120).unwrap();
        assert!(kept > 50, "the batch's segments are gone: {kept}");
        // Still readable: the batch keeps the maps of the unlinked files.
        for (i, v) in batch.events().iter().enumerate() {
            assert_eq!(v.sequence, i as u64 + 1);
            assert_eq!(v.payload, &[i as u8; 100][..]);
            assert_eq!(v.stream, format!("s{}", i % 5));
        }
        assert!(matches!(
            s.read_batch(1, 10, &mut batch),
            Err(StoreError::Truncated { first_retained }) if first_retained == kept
        ));
        assert!(batch.is_empty(), "cleared first");
        assert_eq!(s.read_batch(0, 1, &mut batch).unwrap(), 1);
        assert_eq!(batch.events()[0].sequence, kept);
    }
}
