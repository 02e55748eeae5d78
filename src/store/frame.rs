//! The journal's frame format: one event per frame, self-checking.
//!
//! ```text
//! offset  size  field
//! 0       4     body_len        u32 LE: bytes after this 8-byte prefix
//! 4       4     crc             u32 LE: CRC-32C of bytes [0..4] ++ body (covers body_len too)
//! -- body: fixed header, 88 bytes --
//! 8       1     format          = 1
//! 9       1     flags           bit 0: MORE_IN_BATCH (another frame of the same batch follows)
//! 10      2     kind            u16 LE
//! 12      2     stream_len      u16 LE (1..=255)
//! 14      2     key_len         u16 LE (0 = no idempotency key)
//! 16      4     payload_len     u32 LE
//! 20      4     reserved        = 0
//! 24      8     sequence        u64 LE, assigned at commit, never rewritten
//! 32      8     stream_version  u64 LE
//! 40      8     timestamp_ns    u64 LE
//! 48      16    id              u128 LE
//! 64      16    correlation_id  u128 LE (0 = none)
//! 80      16    causation_id    u128 LE (0 = none)
//! -- variable part --
//! 96      stream_len   stream (UTF-8)
//! ...     key_len      idempotency key
//! ...     payload_len  payload
//! ```
//!
//! Invariant: a frame is accepted only when its CRC matches and its header's lengths add up to
//! `body_len`; decoding never trusts a length it has not checked against the buffer.

use super::event::{Event, EventId, MAX_IDEMPOTENCY_KEY_LEN, MAX_STREAM_LEN};

/// `body_len` + `crc`.
pub(crate) const PREFIX_LEN: usize = 8;
/// The fixed part of the body.
pub(crate) const HEADER_LEN: usize = 88;
/// Hard ceiling on `Config::max_payload` (frames must stay well inside u32).
pub const MAX_PAYLOAD_LIMIT: usize = 1 << 30;
/// The largest body a valid frame can have.
pub(crate) const MAX_BODY_LEN: usize =
    HEADER_LEN + MAX_STREAM_LEN + MAX_IDEMPOTENCY_KEY_LEN + MAX_PAYLOAD_LIMIT;

const FORMAT: u8 = 1;
const FLAG_MORE_IN_BATCH: u8 = 1;

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The buffer ends before the frame does (a torn write, if at the end of the journal).
    Incomplete,
    /// `body_len` is impossible.
    BadLength(u32),
    /// The CRC does not match.
    BadChecksum { stored: u32, computed: u32 },
    /// CRC-valid bytes that do not describe an event.
    BadHeader(&'static str),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete => write!(f, "frame extends past the end of the file"),
            FrameError::BadLength(n) => write!(f, "impossible frame length {n}"),
            FrameError::BadChecksum { stored, computed } => {
                write!(
                    f,
                    "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            FrameError::BadHeader(why) => write!(f, "bad frame header: {why}"),
        }
    }
}

/// A decoded frame.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub event: Event,
    pub more_in_batch: bool,
    /// Total bytes of the frame, prefix included.
    pub len: usize,
}

/// Bytes `event` takes as a frame.
pub(crate) fn encoded_len(event: &Event) -> usize {
    PREFIX_LEN
        + HEADER_LEN
        + event.stream.len()
        + event.idempotency_key.as_ref().map_or(0, Vec::len)
        + event.payload.len()
}

/// Appends `event`'s frame to `out`. The event must have passed `AppendRequest::validate`.
pub(crate) fn encode(event: &Event, more_in_batch: bool, out: &mut Vec<u8>) {
    let key: &[u8] = event.idempotency_key.as_deref().unwrap_or(&[]);
    let body_len = HEADER_LEN + event.stream.len() + key.len() + event.payload.len();
    debug_assert!(body_len <= MAX_BODY_LEN);
    let start = out.len();
    out.reserve(PREFIX_LEN + body_len);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.push(FORMAT);
    out.push(if more_in_batch { FLAG_MORE_IN_BATCH } else { 0 });
    out.extend_from_slice(&event.kind.to_le_bytes());
    out.extend_from_slice(&(event.stream.len() as u16).to_le_bytes());
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(&(event.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&event.sequence.to_le_bytes());
    out.extend_from_slice(&event.stream_version.to_le_bytes());
    out.extend_from_slice(&event.timestamp_ns.to_le_bytes());
    out.extend_from_slice(&event.id.as_u128().to_le_bytes());
    out.extend_from_slice(
        &event
            .correlation_id
            .map_or(0, EventId::as_u128)
            .to_le_bytes(),
    );
    out.extend_from_slice(&event.causation_id.map_or(0, EventId::as_u128).to_le_bytes());
    out.extend_from_slice(event.stream.as_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&event.payload);
    let crc = checksum(&out[start..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn checksum(frame: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&frame[..4]);
    crc32c::crc32c_append(crc, &frame[PREFIX_LEN..])
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn u128_at(b: &[u8], at: usize) -> u128 {
    u128::from_le_bytes(b[at..at + 16].try_into().expect("16 bytes"))
}

/// Whether the fixed header at the start of `buf` (a frame) is complete and its lengths add up
/// to its `body_len`. Recovery uses it to tell a torn tail (a prefix of a good frame) from a
/// damaged length field in the middle of a file.
pub(crate) fn header_is_consistent(buf: &[u8]) -> bool {
    if buf.len() < PREFIX_LEN + HEADER_LEN {
        return false;
    }
    let body_len = u32_at(buf, 0) as usize;
    let h = &buf[PREFIX_LEN..];
    h[0] == FORMAT
        && u32_at(h, 12) == 0
        && HEADER_LEN + u16_at(h, 4) as usize + u16_at(h, 6) as usize + u32_at(h, 8) as usize
            == body_len
}

/// Decodes the frame at the start of `buf`.
pub(crate) fn decode(buf: &[u8]) -> Result<Decoded, FrameError> {
    if buf.len() < PREFIX_LEN {
        return Err(FrameError::Incomplete);
    }
    let body_len = u32_at(buf, 0);
    if (body_len as usize) < HEADER_LEN || body_len as usize > MAX_BODY_LEN {
        return Err(FrameError::BadLength(body_len));
    }
    let len = PREFIX_LEN + body_len as usize;
    if buf.len() < len {
        return Err(FrameError::Incomplete);
    }
    let frame = &buf[..len];
    let stored = u32_at(frame, 4);
    let computed = checksum(frame);
    if stored != computed {
        return Err(FrameError::BadChecksum { stored, computed });
    }
    if !header_is_consistent(frame) {
        return Err(FrameError::BadHeader("format, reserved bits or lengths"));
    }
    let h = &frame[PREFIX_LEN..];
    let flags = h[1];
    if flags & !FLAG_MORE_IN_BATCH != 0 {
        return Err(FrameError::BadHeader("unknown flags"));
    }
    let stream_len = u16_at(h, 4) as usize;
    let key_len = u16_at(h, 6) as usize;
    if stream_len == 0 || stream_len > MAX_STREAM_LEN || key_len > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(FrameError::BadHeader("stream or key length out of range"));
    }
    let id = EventId::from_u128(u128_at(h, 40)).ok_or(FrameError::BadHeader("zero id"))?;
    let var = &h[HEADER_LEN..];
    let stream = std::str::from_utf8(&var[..stream_len])
        .map_err(|_| FrameError::BadHeader("stream is not UTF-8"))?
        .to_owned();
    let key = &var[stream_len..stream_len + key_len];
    let event = Event {
        id,
        sequence: u64_at(h, 16),
        stream,
        stream_version: u64_at(h, 24),
        kind: u16_at(h, 2),
        correlation_id: EventId::from_u128(u128_at(h, 56)),
        causation_id: EventId::from_u128(u128_at(h, 72)),
        timestamp_ns: u64_at(h, 32),
        payload: var[stream_len + key_len..].to_vec(),
        idempotency_key: (key_len > 0).then(|| key.to_vec()),
    };
    Ok(Decoded {
        event,
        more_in_batch: flags & FLAG_MORE_IN_BATCH != 0,
        len,
    })
}

#[cfg(test)]
pub(crate) fn sample_event(sequence: u64, payload: &[u8]) -> Event {
    Event {
        id: EventId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677 + sequence as u128)
            .expect("nonzero"),
        sequence,
        stream: "orders/42".into(),
        stream_version: sequence,
        kind: 7,
        correlation_id: EventId::from_u128(99),
        causation_id: None,
        timestamp_ns: 1_700_000_000_000_000_000,
        payload: payload.to_vec(),
        idempotency_key: Some(b"key-1".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_every_field() {
        let e = sample_event(5, b"hello payload");
        let mut buf = Vec::new();
        encode(&e, true, &mut buf);
        assert_eq!(buf.len(), encoded_len(&e));
        let d = decode(&buf).unwrap();
        assert_eq!(d.event, e);
        assert!(d.more_in_batch);
        assert_eq!(d.len, buf.len());
    }

    #[test]
    fn frame_without_key_or_payload_round_trips() {
        let mut e = sample_event(1, b"");
        e.idempotency_key = None;
        e.correlation_id = None;
        let mut buf = Vec::new();
        encode(&e, false, &mut buf);
        let d = decode(&buf).unwrap();
        assert_eq!(d.event, e);
        assert!(!d.more_in_batch);
    }

    #[test]
    fn any_flipped_byte_fails_the_crc_or_length_check() {
        let e = sample_event(3, b"abcdef");
        let mut buf = Vec::new();
        encode(&e, false, &mut buf);
        for i in 0..buf.len() {
            let mut damaged = buf.clone();
            damaged[i] ^= 0x20;
            assert!(decode(&damaged).is_err(), "flip at byte {i} went unnoticed");
        }
        let mut damaged = buf.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(matches!(
            decode(&damaged),
            Err(FrameError::BadChecksum { .. })
        ));
    }

    #[test]
    fn truncated_frame_is_incomplete() {
        let e = sample_event(3, b"abcdef");
        let mut buf = Vec::new();
        encode(&e, false, &mut buf);
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]).unwrap_err(), FrameError::Incomplete);
        }
        assert!(header_is_consistent(&buf[..PREFIX_LEN + HEADER_LEN]));
    }
}
