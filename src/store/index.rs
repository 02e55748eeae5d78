//! In-memory indexes over committed events: by sequence, id, stream, correlation group and
//! idempotency key.
//!
//! Invariant: the index holds every event written to the journal, in sequence order
//! (`events[sequence - 1]`), including events not yet visible; every read takes the caller's
//! visibility watermark and never returns an event above it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::event::{Event, EventId};

#[derive(Debug, Default)]
pub(crate) struct Index {
    events: Vec<Arc<Event>>,
    by_id: HashMap<EventId, u64>,
    streams: HashMap<String, Vec<u64>>,
    by_correlation: HashMap<EventId, Vec<u64>>,
    by_key: HashMap<Vec<u8>, u64>,
}

impl Index {
    /// Last sequence held (visible or not); 0 when empty.
    pub(crate) fn last_sequence(&self) -> u64 {
        self.events.len() as u64
    }

    /// Adds the next event. Its sequence and stream version must follow on densely.
    pub(crate) fn insert(&mut self, event: Arc<Event>) {
        debug_assert_eq!(event.sequence, self.last_sequence() + 1);
        debug_assert_eq!(event.stream_version, self.stream_version(&event.stream) + 1);
        let seq = event.sequence;
        self.by_id.insert(event.id, seq);
        self.streams
            .entry(event.stream.clone())
            .or_default()
            .push(seq);
        self.by_correlation
            .entry(event.correlation_key())
            .or_default()
            .push(seq);
        if let Some(key) = &event.idempotency_key {
            self.by_key.insert(key.clone(), seq);
        }
        self.events.push(event);
    }

    /// Rough heap held: the events (payloads included) and the maps.
    pub(crate) fn heap_bytes(&self) -> usize {
        let events: usize = self
            .events
            .iter()
            .map(|e| {
                std::mem::size_of::<Event>()
                    + 16
                    + e.payload.capacity()
                    + e.stream.capacity()
                    + e.idempotency_key.as_ref().map_or(0, Vec::capacity)
            })
            .sum();
        events
            + self.events.capacity() * 8
            + self.by_id.capacity() * 32
            + self.streams.capacity() * 56
            + self
                .streams
                .values()
                .map(|v| v.capacity() * 8)
                .sum::<usize>()
            + self.by_correlation.capacity() * 48
            + self.by_key.capacity() * 40
    }

    /// Number of events in `stream` (visible or not).
    pub(crate) fn stream_version(&self, stream: &str) -> u64 {
        self.streams.get(stream).map_or(0, |s| s.len() as u64)
    }

    /// Number of events in `stream` at or below `visible`.
    pub(crate) fn visible_stream_version(&self, stream: &str, visible: u64) -> u64 {
        self.streams
            .get(stream)
            .map_or(0, |s| s.partition_point(|&seq| seq <= visible) as u64)
    }

    /// The event appended with `key` (visible or not).
    pub(crate) fn by_key(&self, key: &[u8]) -> Option<&Arc<Event>> {
        self.by_key.get(key).map(|&seq| self.at(seq))
    }

    fn at(&self, seq: u64) -> &Arc<Event> {
        &self.events[(seq - 1) as usize]
    }

    pub(crate) fn get(&self, id: EventId, visible: u64) -> Option<Arc<Event>> {
        let seq = *self.by_id.get(&id)?;
        (seq <= visible).then(|| self.at(seq).clone())
    }

    /// Up to `max` events of `stream` from version `from` (1-based, inclusive).
    pub(crate) fn read_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
        visible: u64,
    ) -> Vec<Arc<Event>> {
        let Some(seqs) = self.streams.get(stream) else {
            return Vec::new();
        };
        let skip = from.saturating_sub(1).min(seqs.len() as u64) as usize;
        seqs[skip..]
            .iter()
            .take_while(|&&s| s <= visible)
            .take(max)
            .map(|&s| self.at(s).clone())
            .collect()
    }

    /// Up to `max` events from global sequence `from` (inclusive).
    /// The visible events from `from` (at least 1), at most `max`, borrowed.
    pub(crate) fn slice_from(&self, from: u64, max: usize, visible: u64) -> &[Arc<Event>] {
        let end = visible.min(self.last_sequence());
        let start = from.max(1);
        if start > end {
            return &[];
        }
        let n = ((end - start + 1) as usize).min(max);
        &self.events[(start - 1) as usize..(start - 1) as usize + n]
    }

    pub(crate) fn read_from_sequence(
        &self,
        from: u64,
        max: usize,
        visible: u64,
    ) -> Vec<Arc<Event>> {
        let end = visible.min(self.last_sequence());
        let start = from.max(1);
        if start > end {
            return Vec::new();
        }
        let n = ((end - start + 1) as usize).min(max);
        self.events[(start - 1) as usize..(start - 1) as usize + n].to_vec()
    }

    /// The causation chain above `id`, nearest cause first, stopping at the first cause that is
    /// not a visible event of this store. `None` when `id` itself is not visible.
    pub(crate) fn ancestors(&self, id: EventId, visible: u64) -> Option<Vec<Arc<Event>>> {
        let mut event = self.get(id, visible)?;
        let mut seen = HashSet::from([id]);
        let mut out = Vec::new();
        while let Some(cause) = event.causation_id {
            if !seen.insert(cause) {
                break; // a forged cycle; ids are caller-supplied in causation_id
            }
            match self.get(cause, visible) {
                Some(parent) => {
                    out.push(parent.clone());
                    event = parent;
                }
                None => break,
            }
        }
        Some(out)
    }

    /// Every visible event of `id`'s correlation group, in sequence order, `id` included.
    /// `None` when `id` is not visible.
    pub(crate) fn correlated(&self, id: EventId, visible: u64) -> Option<Vec<Arc<Event>>> {
        let event = self.get(id, visible)?;
        let seqs = self.by_correlation.get(&event.correlation_key())?;
        Some(
            seqs.iter()
                .take_while(|&&s| s <= visible)
                .map(|&s| self.at(s).clone())
                .collect(),
        )
    }
}
