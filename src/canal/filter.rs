//! Which events a canal delivers: a byte prefix of the stream name and a set of kinds.
//!
//! Invariant: a filter is a pure function of one event, so a cursor that re-reads a range after
//! a restart or a rollback selects exactly the events it selected the first time.

use crate::store::{Event, EventView, MAX_STREAM_LEN};

use super::CanalError;

/// The refusal of a stream prefix longer than [`MAX_STREAM_LEN`] (the C API gives it before
/// reading a byte of the prefix).
pub(crate) const PREFIX_TOO_LONG: CanalError =
    CanalError::InvalidArgument("stream prefix is longer than the longest stream name");

/// Selects events by stream prefix and kind. The default selects every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Byte prefix of the stream name (empty = every stream). At most
    /// [`MAX_STREAM_LEN`] bytes; it need not end on a UTF-8 character boundary.
    stream_prefix: Vec<u8>,
    /// Sorted, deduplicated kinds (empty = every kind).
    kinds: Vec<u16>,
}

impl Filter {
    /// Every event.
    pub fn all() -> Filter {
        Filter::default()
    }

    /// Only events whose stream name starts with `prefix` (bytes). `InvalidArgument` if the
    /// prefix is longer than a stream name can be.
    pub fn with_stream_prefix(mut self, prefix: impl AsRef<[u8]>) -> Result<Filter, CanalError> {
        let prefix = prefix.as_ref();
        if prefix.len() > MAX_STREAM_LEN {
            return Err(PREFIX_TOO_LONG);
        }
        self.stream_prefix = prefix.to_vec();
        Ok(self)
    }

    /// Only events of one of these kinds (an empty set keeps every kind).
    pub fn with_kinds(mut self, kinds: impl IntoIterator<Item = u16>) -> Filter {
        let mut kinds: Vec<u16> = kinds.into_iter().collect();
        kinds.sort_unstable();
        kinds.dedup();
        self.kinds = kinds;
        self
    }

    /// The stream prefix (empty = all streams).
    pub fn stream_prefix(&self) -> &[u8] {
        &self.stream_prefix
    }

    /// The kinds, sorted (empty = all kinds).
    pub fn kinds(&self) -> &[u16] {
        &self.kinds
    }

    /// Whether every event matches (lets a cursor read exactly as many events as it needs).
    pub fn is_all(&self) -> bool {
        self.stream_prefix.is_empty() && self.kinds.is_empty()
    }

    /// Whether `event` is selected.
    pub fn matches(&self, event: &Event) -> bool {
        self.selects(&event.stream, event.kind)
    }

    /// Whether the viewed event is selected.
    pub fn matches_view(&self, event: &EventView<'_>) -> bool {
        self.selects(event.stream, event.kind)
    }

    fn selects(&self, stream: &str, kind: u16) -> bool {
        // The empty-prefix test first: `starts_with(&[])` still calls memcmp, which costs more
        // than the rest of a cursor's per-event work.
        (self.stream_prefix.is_empty() || stream.as_bytes().starts_with(&self.stream_prefix))
            && (self.kinds.is_empty() || self.kinds.binary_search(&kind).is_ok())
    }
}
