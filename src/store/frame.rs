//! The journal's frame format (v2): one event per frame, self-checking, compact.
//!
//! ```text
//! offset  size  field
//! 0       4     body_len        u32 LE: bytes after this 8-byte prefix
//! 4       4     crc             u32 LE: CRC-32C of bytes [0..4] ++ body (covers body_len too)
//! -- body --
//! 8       8     sequence        u64 LE, assigned at commit, never rewritten
//! 16      8     timestamp_ns    u64 LE
//! 24      16    id              u128 LE
//! 40      1     flags           bit 0 MORE_IN_BATCH (another frame of the batch follows)
//!                               bit 1 HAS_CORRELATION, bit 2 HAS_CAUSATION, bit 3 HAS_KEY,
//!                               bit 4 DEFINES_STREAM; other bits must be 0
//! 41      2     kind            u16 LE
//! 43      1..5  stream_ref      LEB128 varint: the stream's number in this segment's table
//! ..      1..10 stream_version  LEB128 varint
//! ..      16    correlation_id  u128 LE, if HAS_CORRELATION
//! ..      16    causation_id    u128 LE, if HAS_CAUSATION
//! ..      1..2+ key             varint length (1..=1024) + bytes, if HAS_KEY
//! ..      1+    stream name     varint length (1..=255) + UTF-8, if DEFINES_STREAM
//! ..      rest  payload         (its length is what the body has left)
//! ```
//!
//! Streams are numbered per segment: the first frame of a segment that uses a stream defines
//! it inline (DEFINES_STREAM, `stream_ref` = the next free number), later frames of the same
//! segment only carry the number, so every segment is self-describing. Without correlation,
//! causation or key the overhead is 43 bytes + the two varints: 45 bytes for a stream number
//! below 128 and a version below 128, at most 48 while the number is below 128 and the version
//! below 2^21 (see `overhead_of_a_plain_event_is_at_most_48_bytes`).
//!
//! Invariant: a frame is accepted only when its CRC matches and every length inside the body
//! is consistent with `body_len`; decoding never trusts a length it has not checked against
//! the buffer.

use super::event::{EventId, MAX_IDEMPOTENCY_KEY_LEN, MAX_STREAM_LEN};

/// `body_len` + `crc`.
pub(crate) const PREFIX_LEN: usize = 8;
/// The fixed part of the body: sequence, timestamp, id, flags, kind.
pub(crate) const FIXED_LEN: usize = 35;
/// Hard ceiling on `Config::max_payload` (frames must stay well inside u32).
pub const MAX_PAYLOAD_LIMIT: usize = 1 << 30;
/// The largest body a valid frame can have.
pub(crate) const MAX_BODY_LEN: usize =
    FIXED_LEN + 5 + 10 + 32 + 2 + MAX_IDEMPOTENCY_KEY_LEN + 2 + MAX_STREAM_LEN + MAX_PAYLOAD_LIMIT;

const FLAG_MORE: u8 = 1;
const FLAG_CORRELATION: u8 = 2;
const FLAG_CAUSATION: u8 = 4;
const FLAG_KEY: u8 = 8;
const FLAG_DEFINES: u8 = 16;
const KNOWN_FLAGS: u8 = 31;

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

/// What the writer puts into one frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameFields<'a> {
    pub sequence: u64,
    pub timestamp_ns: u64,
    pub id: u128,
    pub kind: u16,
    pub stream_ref: u32,
    pub stream_version: u64,
    pub correlation_id: Option<EventId>,
    pub causation_id: Option<EventId>,
    pub key: Option<&'a [u8]>,
    /// The stream's name when this frame defines `stream_ref` in its segment.
    pub defines: Option<&'a str>,
    pub payload: &'a [u8],
    pub more_in_batch: bool,
}

/// A decoded frame, borrowing the bytes it was decoded from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameRef<'a> {
    pub sequence: u64,
    pub timestamp_ns: u64,
    pub id: EventId,
    pub kind: u16,
    pub stream_ref: u32,
    pub stream_version: u64,
    pub correlation_id: Option<EventId>,
    pub causation_id: Option<EventId>,
    pub key: Option<&'a [u8]>,
    pub defines: Option<&'a str>,
    pub payload: &'a [u8],
    pub more_in_batch: bool,
    /// Total bytes of the frame, prefix included.
    pub len: usize,
}

/// An upper bound of the bytes a frame with these parts takes (exact up to the varints).
pub(crate) fn max_encoded_len(stream_len: usize, key_len: usize, payload_len: usize) -> usize {
    PREFIX_LEN + FIXED_LEN + 5 + 10 + 32 + 2 + key_len + 2 + stream_len + payload_len
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint at `*at`, advancing it. `None` if it runs past `b` or overflows.
fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            if shift == 63 && byte > 1 {
                return None;
            }
            return Some(v);
        }
    }
    None
}

/// The longest part of a frame before its key: prefix, fixed fields, two varints, two ids.
const HEAD_MAX: usize = PREFIX_LEN + FIXED_LEN + 5 + 10 + 32;

/// Writes `v` as a LEB128 varint at `head[*at..]`, advancing `at`.
#[inline]
fn put_varint_at(head: &mut [u8; HEAD_MAX], at: &mut usize, mut v: u64) {
    while v >= 0x80 {
        head[*at] = (v as u8) | 0x80;
        *at += 1;
        v >>= 7;
    }
    head[*at] = v as u8;
    *at += 1;
}

/// Appends the frame to `out` (no allocation when `out` has the capacity). The part before
/// the key is assembled on the stack and appended with one copy.
pub(crate) fn encode(f: &FrameFields<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    let mut head = [0u8; HEAD_MAX];
    head[8..16].copy_from_slice(&f.sequence.to_le_bytes());
    head[16..24].copy_from_slice(&f.timestamp_ns.to_le_bytes());
    head[24..40].copy_from_slice(&f.id.to_le_bytes());
    let mut flags = if f.more_in_batch { FLAG_MORE } else { 0 };
    if f.correlation_id.is_some() {
        flags |= FLAG_CORRELATION;
    }
    if f.causation_id.is_some() {
        flags |= FLAG_CAUSATION;
    }
    if f.key.is_some() {
        flags |= FLAG_KEY;
    }
    if f.defines.is_some() {
        flags |= FLAG_DEFINES;
    }
    head[40] = flags;
    head[41..43].copy_from_slice(&f.kind.to_le_bytes());
    let mut at = PREFIX_LEN + FIXED_LEN;
    put_varint_at(&mut head, &mut at, u64::from(f.stream_ref));
    put_varint_at(&mut head, &mut at, f.stream_version);
    for id in [f.correlation_id, f.causation_id].into_iter().flatten() {
        head[at..at + 16].copy_from_slice(&id.as_u128().to_le_bytes());
        at += 16;
    }
    let tail = f.key.map_or(0, |k| k.len() + 10) + f.defines.map_or(0, |d| d.len() + 10);
    out.reserve(at + tail + f.payload.len());
    out.extend_from_slice(&head[..at]);
    if let Some(k) = f.key {
        put_varint(out, k.len() as u64);
        out.extend_from_slice(k);
    }
    if let Some(name) = f.defines {
        put_varint(out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(f.payload);
    let body_len = (out.len() - start - PREFIX_LEN) as u32;
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    let crc = checksum(&out[start..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn checksum(frame: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if frame.len() <= SMALL_FRAME && std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU has SSE4.2 (checked just above).
        return unsafe { checksum_sse42(frame) };
    }
    let crc = crc32c::crc32c(&frame[..4]);
    crc32c::crc32c_append(crc, &frame[PREFIX_LEN..])
}

/// Frames up to this size are checksummed inline with the CRC32 instruction (one 8-byte step
/// after another); larger ones by the `crc32c` crate's three-way interleaved loop, which wins
/// once there is enough data to hide the instruction's latency.
#[cfg(target_arch = "x86_64")]
const SMALL_FRAME: usize = 512;

/// [`checksum`] for a small frame: the same CRC-32C (initial and final inversion) of bytes
/// `[0..4] ++ [8..]`, without the crate's per-call dispatch and setup.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn checksum_sse42(frame: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u32, _mm_crc32_u64, _mm_crc32_u8};
    let mut crc = _mm_crc32_u32(!0, u32_at(frame, 0));
    let body = &frame[PREFIX_LEN..];
    let mut words = body.chunks_exact(8);
    let mut wide = u64::from(crc);
    for w in &mut words {
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    crc = wide as u32;
    for &b in words.remainder() {
        crc = _mm_crc32_u8(crc, b);
    }
    !crc
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
pub(crate) fn u128_at(b: &[u8], at: usize) -> u128 {
    u128::from_le_bytes(b[at..at + 16].try_into().expect("16 bytes"))
}

/// The total length (prefix included) the frame at the start of `buf` claims, if `buf` holds
/// at least its prefix.
pub(crate) fn claimed_len(buf: &[u8]) -> Option<usize> {
    (buf.len() >= PREFIX_LEN).then(|| PREFIX_LEN + u32_at(buf, 0) as usize)
}

/// The sequence a frame at the start of `buf` claims (unchecked), if its bytes are there.
pub(crate) fn claimed_sequence(buf: &[u8]) -> Option<u64> {
    (buf.len() >= PREFIX_LEN + 8).then(|| u64_at(buf, PREFIX_LEN))
}

/// Decodes the frame at the start of `buf`.
pub(crate) fn decode(buf: &[u8]) -> Result<FrameRef<'_>, FrameError> {
    decode_frame(buf, true)
}

/// [`decode`] without the CRC check, for bytes whose checksum this process already verified
/// and that cannot have changed since (a sealed segment's read-only map). Every length and
/// field is still checked: bad bytes give an error, never a wrong slice.
#[inline]
pub(crate) fn decode_verified(buf: &[u8]) -> Result<FrameRef<'_>, FrameError> {
    decode_frame(buf, false)
}

#[inline(always)]
fn decode_frame(buf: &[u8], check_crc: bool) -> Result<FrameRef<'_>, FrameError> {
    if buf.len() < PREFIX_LEN {
        return Err(FrameError::Incomplete);
    }
    let body_len = u32_at(buf, 0);
    if (body_len as usize) < FIXED_LEN + 2 || body_len as usize > MAX_BODY_LEN {
        return Err(FrameError::BadLength(body_len));
    }
    let len = PREFIX_LEN + body_len as usize;
    if buf.len() < len {
        return Err(FrameError::Incomplete);
    }
    let frame = &buf[..len];
    if check_crc {
        let stored = u32_at(frame, 4);
        let computed = checksum(frame);
        if stored != computed {
            return Err(FrameError::BadChecksum { stored, computed });
        }
    }
    let b = &frame[PREFIX_LEN..];
    let flags = b[32];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(FrameError::BadHeader("unknown flags"));
    }
    let id = EventId::from_u128(u128_at(b, 16)).ok_or(FrameError::BadHeader("zero id"))?;
    let mut at = FIXED_LEN;
    let bad_varint = FrameError::BadHeader("varint runs past the frame");
    let stream_ref = get_varint(b, &mut at).ok_or(bad_varint.clone())?;
    let stream_ref =
        u32::try_from(stream_ref).map_err(|_| FrameError::BadHeader("stream number too large"))?;
    let stream_version = get_varint(b, &mut at).ok_or(bad_varint.clone())?;
    let mut id_field = |present: bool| -> Result<Option<EventId>, FrameError> {
        if !present {
            return Ok(None);
        }
        if at + 16 > b.len() {
            return Err(FrameError::BadHeader("id field runs past the frame"));
        }
        let v = u128_at(b, at);
        at += 16;
        EventId::from_u128(v)
            .map(Some)
            .ok_or(FrameError::BadHeader("zero correlation or causation id"))
    };
    let correlation_id = id_field(flags & FLAG_CORRELATION != 0)?;
    let causation_id = id_field(flags & FLAG_CAUSATION != 0)?;
    let mut bytes_field = |present: bool, max: usize| -> Result<Option<&[u8]>, FrameError> {
        if !present {
            return Ok(None);
        }
        let n = get_varint(b, &mut at).ok_or(bad_varint.clone())?;
        if n == 0 || n > max as u64 || at + n as usize > b.len() {
            return Err(FrameError::BadHeader(
                "key or stream name length out of range",
            ));
        }
        let s = &b[at..at + n as usize];
        at += n as usize;
        Ok(Some(s))
    };
    let key = bytes_field(flags & FLAG_KEY != 0, MAX_IDEMPOTENCY_KEY_LEN)?;
    let defines = match bytes_field(flags & FLAG_DEFINES != 0, MAX_STREAM_LEN)? {
        None => None,
        Some(name) => {
            let s = std::str::from_utf8(name)
                .map_err(|_| FrameError::BadHeader("stream name is not UTF-8"))?;
            if s.contains('\0') {
                return Err(FrameError::BadHeader("stream name contains NUL"));
            }
            Some(s)
        }
    };
    let payload = &b[at..];
    if payload.len() > MAX_PAYLOAD_LIMIT {
        return Err(FrameError::BadHeader("payload too large"));
    }
    Ok(FrameRef {
        sequence: u64_at(b, 0),
        timestamp_ns: u64_at(b, 8),
        id,
        kind: u16::from_le_bytes([b[33], b[34]]),
        stream_ref,
        stream_version,
        correlation_id,
        causation_id,
        key,
        defines,
        payload,
        more_in_batch: flags & FLAG_MORE != 0,
        len,
    })
}

#[cfg(test)]
pub(crate) fn sample_fields(sequence: u64, payload: &[u8]) -> FrameFields<'_> {
    FrameFields {
        sequence,
        timestamp_ns: 1_700_000_000_000_000_000,
        id: 0x0123_4567_89ab_cdef_0011_2233_4455_6677 + u128::from(sequence),
        kind: 7,
        stream_ref: 0,
        stream_version: sequence,
        correlation_id: EventId::from_u128(99),
        causation_id: None,
        key: Some(b"key-1"),
        defines: Some("orders/42"),
        payload,
        more_in_batch: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: &FrameFields<'_>) -> Vec<u8> {
        let mut buf = Vec::new();
        encode(f, &mut buf);
        buf
    }

    #[test]
    fn frame_round_trips_every_field() {
        let mut f = sample_fields(5, b"hello payload");
        f.more_in_batch = true;
        f.causation_id = EventId::from_u128(1234);
        let buf = enc(&f);
        assert!(buf.len() <= max_encoded_len(9, 5, 13));
        let d = decode(&buf).unwrap();
        assert_eq!(d.sequence, 5);
        assert_eq!(d.timestamp_ns, f.timestamp_ns);
        assert_eq!(d.id.as_u128(), f.id);
        assert_eq!(d.kind, 7);
        assert_eq!((d.stream_ref, d.stream_version), (0, 5));
        assert_eq!(d.correlation_id, f.correlation_id);
        assert_eq!(d.causation_id, f.causation_id);
        assert_eq!(d.key, Some(&b"key-1"[..]));
        assert_eq!(d.defines, Some("orders/42"));
        assert_eq!(d.payload, b"hello payload");
        assert!(d.more_in_batch);
        assert_eq!(d.len, buf.len());
    }

    #[test]
    fn overhead_of_a_plain_event_is_at_most_48_bytes() {
        let payload = [0xabu8; 128];
        for (stream_ref, version) in [(0u32, 1u64), (5, 127), (127, 1 << 20), (127, (1 << 21) - 1)]
        {
            let f = FrameFields {
                sequence: 1 << 40,
                timestamp_ns: u64::MAX,
                id: u128::MAX,
                kind: 1,
                stream_ref,
                stream_version: version,
                correlation_id: None,
                causation_id: None,
                key: None,
                defines: None,
                payload: &payload,
                more_in_batch: true,
            };
            let overhead = enc(&f).len() - payload.len();
            assert!(
                overhead <= 48,
                "{overhead} bytes for ref {stream_ref} v{version}"
            );
        }
        let small = FrameFields {
            stream_ref: 3,
            stream_version: 9,
            correlation_id: None,
            key: None,
            defines: None,
            ..sample_fields(1, &payload)
        };
        assert_eq!(enc(&small).len() - 128, 45);
    }

    #[test]
    fn frame_without_optional_parts_round_trips() {
        let f = FrameFields {
            correlation_id: None,
            key: None,
            defines: None,
            ..sample_fields(1, b"")
        };
        let buf = enc(&f);
        let d = decode(&buf).unwrap();
        assert_eq!(
            (d.key, d.defines, d.correlation_id, d.payload.len()),
            (None, None, None, 0)
        );
        assert!(!d.more_in_batch);
    }

    #[test]
    fn any_flipped_byte_fails_the_crc_or_length_check() {
        let buf = enc(&sample_fields(3, b"abcdef"));
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
    fn inline_checksum_equals_the_crate_s_for_every_length() {
        let mut bytes: Vec<u8> = (0..700u32)
            .map(|i| (i.wrapping_mul(2654435761u32) >> 13) as u8)
            .collect();
        for len in PREFIX_LEN..bytes.len() {
            bytes[len / 2] ^= len as u8;
            let f = &bytes[..len];
            let want = crc32c::crc32c_append(crc32c::crc32c(&f[..4]), &f[PREFIX_LEN..]);
            assert_eq!(checksum(f), want, "length {len}");
        }
    }

    #[test]
    fn truncated_frame_is_incomplete() {
        let buf = enc(&sample_fields(3, b"abcdef"));
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]).unwrap_err(), FrameError::Incomplete);
        }
    }

    #[test]
    fn varints_round_trip_and_refuse_overflow() {
        for v in [0u64, 1, 127, 128, 300, 1 << 21, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut at = 0;
            assert_eq!(get_varint(&b, &mut at), Some(v));
            assert_eq!(at, b.len());
        }
        let mut at = 0;
        assert_eq!(get_varint(&[0xff; 11], &mut at), None);
        let mut at = 0;
        assert_eq!(get_varint(&[0x80], &mut at), None);
    }
}
