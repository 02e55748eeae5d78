//! Events as stored, the append request a caller builds, and the receipt it gets back.
//!
//! Invariant: `id`, `sequence`, `stream_version` and `timestamp_ns` are assigned by the store at
//! commit, under the writer lock, so all four grow with commit order: ids and sequences strictly
//! (sequences densely, from 1), timestamps never decrease.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::StoreError;

/// Longest stream name, in bytes of UTF-8.
pub const MAX_STREAM_LEN: usize = 255;
/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 1024;

/// A 128-bit event id: the upper 48 bits are the commit time in Unix milliseconds, the lower 80
/// bits start random (64 random bits) and are incremented when the clock has not moved on, so
/// ids sort in commit order within a store and are unlikely to collide across stores.
/// `0` is never an id; the C API uses it for "none".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId(u128);

impl EventId {
    /// Wraps a raw value (for example one read back from C). `None` for 0.
    pub fn from_u128(raw: u128) -> Option<EventId> {
        (raw != 0).then_some(EventId(raw))
    }

    /// The raw value.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// The commit time encoded in the id, in Unix milliseconds.
    pub fn timestamp_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }

    /// The id to give the next committed event: time-ordered, and strictly greater than `last`
    /// whatever the wall clock does.
    #[cfg(test)]
    pub(crate) fn next_after(last: u128) -> EventId {
        Self::next_after_at(last, unix_nanos())
    }

    /// [`EventId::next_after`] with the clock already read (`now_ns`, Unix nanoseconds).
    pub(crate) fn next_after_at(last: u128, now_ns: u64) -> EventId {
        let ms = now_ns / 1_000_000;
        let random = RandomState::new().build_hasher().finish() as u128;
        let candidate = ((ms as u128) << 80) | random;
        EventId(if candidate > last {
            candidate
        } else {
            last + 1
        })
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({:032x})", self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A committed event. Shared as `Arc<Event>`: reads never copy payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique, time-ordered, increasing in commit order.
    pub id: EventId,
    /// Position in the store's total order: dense from 1, written into the event's frame and
    /// never renumbered, so it is a stable cursor position across restarts.
    pub sequence: u64,
    /// The stream the event belongs to.
    pub stream: String,
    /// Position within its stream: dense from 1.
    pub stream_version: u64,
    /// Caller-defined kind.
    pub kind: u16,
    /// The conversation / workflow the event belongs to (None = it starts its own).
    pub correlation_id: Option<EventId>,
    /// The event that caused this one (None = no cause recorded).
    pub causation_id: Option<EventId>,
    /// Wall-clock commit time in Unix nanoseconds, clamped so it never decreases.
    pub timestamp_ns: u64,
    /// Opaque bytes.
    pub payload: Vec<u8>,
    /// The key the event was appended with, if any.
    pub idempotency_key: Option<Vec<u8>>,
}

impl Event {
    /// The id of the correlation group: `correlation_id`, or the event's own id when it has
    /// none (it is then the root of its group).
    pub fn correlation_key(&self) -> EventId {
        self.correlation_id.unwrap_or(self.id)
    }
}

/// The optimistic-concurrency check of one event against its stream's current version
/// (the number of events in the stream; 0 when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpectedVersion {
    /// No check.
    #[default]
    Any,
    /// The stream must have no events yet.
    NoStream,
    /// The stream's current version must be exactly this (`Exact(0)` is the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    pub(crate) fn check(self, stream: &str, current: u64) -> Result<(), StoreError> {
        let ok = match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exact(v) => current == v,
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "stream {stream:?} is at version {current}, expected {self:?}"
            )))
        }
    }
}

/// What a caller asks to append. Build with [`AppendRequest::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// Target stream (see [`validate_stream`]).
    pub stream: String,
    /// Caller-defined kind.
    pub kind: u16,
    /// Opaque bytes, at most `Config::max_payload`.
    pub payload: Vec<u8>,
    /// Correlation group, if any.
    pub correlation_id: Option<EventId>,
    /// Cause, if any. Not required to be an event of this store.
    pub causation_id: Option<EventId>,
    /// A retry with the same key and the same stream, kind and payload returns the original
    /// receipt; the same key with anything else different is a `Conflict`. Keys are global to
    /// the store and never expire.
    pub idempotency_key: Option<Vec<u8>>,
    /// Checked against the stream's version at commit.
    pub expected: ExpectedVersion,
}

impl AppendRequest {
    /// A request with no correlation, causation, key or version check.
    pub fn new(stream: impl Into<String>, kind: u16, payload: impl Into<Vec<u8>>) -> Self {
        AppendRequest {
            stream: stream.into(),
            kind,
            payload: payload.into(),
            correlation_id: None,
            causation_id: None,
            idempotency_key: None,
            expected: ExpectedVersion::Any,
        }
    }

    /// Sets the correlation id.
    pub fn with_correlation(mut self, id: EventId) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// Sets the causation id.
    pub fn with_causation(mut self, id: EventId) -> Self {
        self.causation_id = Some(id);
        self
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the expected version.
    pub fn expecting(mut self, expected: ExpectedVersion) -> Self {
        self.expected = expected;
        self
    }

    /// This request, borrowed.
    pub fn as_ref(&self) -> AppendRef<'_> {
        AppendRef {
            stream: &self.stream,
            kind: self.kind,
            payload: &self.payload,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            idempotency_key: self.idempotency_key.as_deref(),
            expected: self.expected,
        }
    }
}

/// [`AppendRequest`] with borrowed stream name, payload and key: what
/// [`Store::append_ref`](super::Store::append_ref) and
/// [`Store::append_batch_refs`](super::Store::append_batch_refs) take, so a caller whose bytes
/// already live somewhere (a C caller's buffers, a reused buffer) builds no `String` or `Vec`
/// per event. Same fields, checks and meaning as [`AppendRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendRef<'a> {
    /// Target stream (see [`validate_stream`]).
    pub stream: &'a str,
    /// Caller-defined kind.
    pub kind: u16,
    /// Opaque bytes, at most `Config::max_payload`.
    pub payload: &'a [u8],
    /// Correlation group, if any.
    pub correlation_id: Option<EventId>,
    /// Cause, if any.
    pub causation_id: Option<EventId>,
    /// See [`AppendRequest::idempotency_key`].
    pub idempotency_key: Option<&'a [u8]>,
    /// Checked against the stream's version at commit.
    pub expected: ExpectedVersion,
}

impl<'a> AppendRef<'a> {
    /// A request with no correlation, causation, key or version check.
    pub fn new(stream: &'a str, kind: u16, payload: &'a [u8]) -> Self {
        AppendRef {
            stream,
            kind,
            payload,
            correlation_id: None,
            causation_id: None,
            idempotency_key: None,
            expected: ExpectedVersion::Any,
        }
    }

    /// Sets the correlation id.
    pub fn with_correlation(mut self, id: EventId) -> Self {
        self.correlation_id = Some(id);
        self
    }

    /// Sets the causation id.
    pub fn with_causation(mut self, id: EventId) -> Self {
        self.causation_id = Some(id);
        self
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: &'a [u8]) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// Sets the expected version.
    pub fn expecting(mut self, expected: ExpectedVersion) -> Self {
        self.expected = expected;
        self
    }

    /// An owned copy.
    pub fn to_request(&self) -> AppendRequest {
        AppendRequest {
            stream: self.stream.to_owned(),
            kind: self.kind,
            payload: self.payload.to_vec(),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            idempotency_key: self.idempotency_key.map(<[u8]>::to_vec),
            expected: self.expected,
        }
    }

    /// Checks lengths (and the stream name unless `stream_checked`: a batch checks a stream
    /// name it repeats, by address, once).
    pub(crate) fn validate(
        &self,
        max_payload: usize,
        stream_checked: bool,
    ) -> Result<(), StoreError> {
        // A `str` is UTF-8 already.
        if !stream_checked {
            check_stream_bytes(self.stream.as_bytes())?;
        }
        if self.payload.len() > max_payload {
            return Err(StoreError::TooLarge {
                len: self.payload.len(),
                max: max_payload,
            });
        }
        if let Some(key) = self.idempotency_key {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(key_length_error(key.len()));
            }
        }
        Ok(())
    }

    /// Whether `event` is what this request would have stored (the idempotent-retry test).
    pub(crate) fn matches(&self, event: &Event) -> bool {
        self.stream == event.stream && self.kind == event.kind && self.payload == event.payload
    }
}

/// Whether two stream names are equal; the same slice (address and length) is answered
/// without comparing bytes (a batch usually repeats one name).
#[inline]
pub(crate) fn same_stream(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// The requests of one append, owned or borrowed: what the store's commit path reads. The
/// in-memory backend keeps each event's bytes: it takes them from owned requests and copies
/// borrowed ones.
pub(crate) trait Requests {
    /// Number of requests.
    fn count(&self) -> usize;
    /// Request `i`, borrowed.
    fn at(&self, i: usize) -> AppendRef<'_>;
    /// Request `i`'s stream, payload and key as owned values (an owned request is left empty).
    fn take(&mut self, i: usize) -> (String, Vec<u8>, Option<Vec<u8>>);
}

impl Requests for [AppendRequest] {
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn at(&self, i: usize) -> AppendRef<'_> {
        self[i].as_ref()
    }
    fn take(&mut self, i: usize) -> (String, Vec<u8>, Option<Vec<u8>>) {
        let r = &mut self[i];
        (
            std::mem::take(&mut r.stream),
            std::mem::take(&mut r.payload),
            r.idempotency_key.take(),
        )
    }
}

impl Requests for &[AppendRef<'_>] {
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn at(&self, i: usize) -> AppendRef<'_> {
        self[i]
    }
    fn take(&mut self, i: usize) -> (String, Vec<u8>, Option<Vec<u8>>) {
        let r = &self[i];
        (
            r.stream.to_owned(),
            r.payload.to_vec(),
            r.idempotency_key.map(<[u8]>::to_vec),
        )
    }
}

/// Checks a stream name given as bytes (as the C API receives it): valid UTF-8, 1 to
/// [`MAX_STREAM_LEN`] bytes, no NUL byte.
pub fn validate_stream(bytes: &[u8]) -> Result<&str, StoreError> {
    check_stream_bytes(bytes)?;
    std::str::from_utf8(bytes)
        .map_err(|_| StoreError::InvalidArgument("stream name is not valid UTF-8".into()))
}

/// [`validate_stream`] without the UTF-8 check: length and NUL byte.
fn check_stream_bytes(bytes: &[u8]) -> Result<(), StoreError> {
    if bytes.is_empty() || bytes.len() > MAX_STREAM_LEN {
        return Err(stream_length_error(bytes.len()));
    }
    if bytes.contains(&0) {
        return Err(StoreError::InvalidArgument(
            "stream name contains a NUL byte".into(),
        ));
    }
    Ok(())
}

/// The refusal of a stream name of `len` bytes (outside 1..=[`MAX_STREAM_LEN`]); the C API
/// gives it before reading a byte of an over-long name.
pub(crate) fn stream_length_error(len: usize) -> StoreError {
    StoreError::InvalidArgument(format!(
        "stream name must be 1..={MAX_STREAM_LEN} bytes, got {len}"
    ))
}

/// The refusal of an idempotency key of `len` bytes (outside 1..=[`MAX_IDEMPOTENCY_KEY_LEN`]).
pub(crate) fn key_length_error(len: usize) -> StoreError {
    StoreError::InvalidArgument(format!(
        "idempotency key must be 1..={MAX_IDEMPOTENCY_KEY_LEN} bytes, got {len}"
    ))
}

/// Proof of a committed append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The event's id.
    pub id: EventId,
    /// The event's global sequence.
    pub sequence: u64,
    /// The event's version within its stream.
    pub stream_version: u64,
}

impl From<&Event> for Receipt {
    fn from(e: &Event) -> Self {
        Receipt {
            id: e.id,
            sequence: e.sequence,
            stream_version: e.stream_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_even_when_the_clock_does_not() {
        let far_future = u128::MAX - 10;
        let a = EventId::next_after(far_future);
        assert_eq!(a.as_u128(), far_future + 1);
        let b = EventId::next_after(0);
        let c = EventId::next_after(b.as_u128());
        assert!(c > b);
        assert!(b.timestamp_ms() > 1_600_000_000_000);
    }

    #[test]
    fn stream_names_are_validated() {
        assert!(validate_stream(b"orders-1").is_ok());
        assert!(validate_stream(b"").is_err());
        assert!(validate_stream(b"a\0b").is_err());
        assert!(validate_stream(&[0xff, 0xfe]).is_err());
        assert!(validate_stream(&[b'x'; MAX_STREAM_LEN]).is_ok());
        assert!(validate_stream(&[b'x'; MAX_STREAM_LEN + 1]).is_err());
    }

    #[test]
    fn expected_version_checks_all_three_forms() {
        assert!(ExpectedVersion::Any.check("s", 7).is_ok());
        assert!(ExpectedVersion::NoStream.check("s", 0).is_ok());
        assert!(matches!(
            ExpectedVersion::NoStream.check("s", 1),
            Err(StoreError::Conflict(_))
        ));
        assert!(ExpectedVersion::Exact(3).check("s", 3).is_ok());
        assert!(matches!(
            ExpectedVersion::Exact(3).check("s", 4),
            Err(StoreError::Conflict(_))
        ));
    }
}
