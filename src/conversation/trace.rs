//! W3C Trace Context (`traceparent`) for conversations: parse strictly, format canonically,
//! derive children that keep the trace id.
//!
//! Invariant: a [`TraceContext`] always holds a non-zero trace id and a non-zero span id, so
//! formatting it always yields a `traceparent` that [`TraceContext::parse`] accepts back
//! unchanged.
//!
//! Parsing follows the W3C Trace Context recommendation (level 1) to the letter: lowercase hex
//! only, exact field lengths, `-` delimiters, version `ff` and all-zero ids refused. Version
//! `00` must be exactly 55 characters; a higher (future) version is read by its first four
//! fields and may carry more after a `-`, as the recommendation asks of version-00 parsers.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// The length of a version-00 `traceparent`.
pub const TRACEPARENT_LEN: usize = 55;

/// The `sampled` bit of the trace flags.
pub const FLAG_SAMPLED: u8 = 0x01;

/// Why a `traceparent` string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TraceparentError {
    /// Too short, or (version 00) not exactly 55 characters, or a future version whose extra
    /// part does not start with `-`.
    #[error("traceparent has the wrong length")]
    Length,
    /// A field separator is not `-`.
    #[error("traceparent fields must be separated by '-'")]
    Delimiter,
    /// A character is not a lowercase hex digit.
    #[error("traceparent fields must be lowercase hex")]
    NotLowercaseHex,
    /// Version `ff` is forbidden.
    #[error("traceparent version ff is invalid")]
    Version,
    /// The trace id is all zeros.
    #[error("traceparent trace-id is all zeros")]
    ZeroTraceId,
    /// The parent (span) id is all zeros.
    #[error("traceparent parent-id is all zeros")]
    ZeroSpanId,
}

/// A trace context: 128-bit trace id, 64-bit span (parent) id and the trace flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// A non-zero pseudo-random number, unique enough for ids (not for cryptography): SipHash with
/// the process's random keys over a counter and the clock.
fn random_nonzero_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.write_u128(nanos);
        let v = h.finish();
        if v != 0 {
            return v;
        }
    }
}

fn hex_value(c: u8) -> Result<u8, TraceparentError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(TraceparentError::NotLowercaseHex),
    }
}

fn parse_hex<const N: usize>(s: &[u8]) -> Result<[u8; N], TraceparentError> {
    debug_assert_eq!(s.len(), 2 * N);
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Ok(out)
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

impl TraceContext {
    /// A context from its parts; `None` when either id is all zeros.
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Option<TraceContext> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A new trace: random trace id and span id, sampled.
    pub fn new_root() -> TraceContext {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&random_nonzero_u64().to_be_bytes());
        trace_id[8..].copy_from_slice(&random_nonzero_u64().to_be_bytes());
        TraceContext {
            trace_id,
            span_id: random_nonzero_u64().to_be_bytes(),
            flags: FLAG_SAMPLED,
        }
    }

    /// A child span: same trace id and flags, a new random span id.
    pub fn child(&self) -> TraceContext {
        let mut span_id = random_nonzero_u64().to_be_bytes();
        while span_id == self.span_id {
            span_id = random_nonzero_u64().to_be_bytes();
        }
        TraceContext { span_id, ..*self }
    }

    /// Parses a `traceparent` header value (strictly; see the module docs).
    pub fn parse(s: &str) -> Result<TraceContext, TraceparentError> {
        let b = s.as_bytes();
        if b.len() < TRACEPARENT_LEN {
            return Err(TraceparentError::Length);
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(TraceparentError::Delimiter);
        }
        let version = parse_hex::<1>(&b[0..2])?[0];
        if version == 0xff {
            return Err(TraceparentError::Version);
        }
        if version == 0 && b.len() != TRACEPARENT_LEN {
            return Err(TraceparentError::Length);
        }
        if b.len() > TRACEPARENT_LEN && b[TRACEPARENT_LEN] != b'-' {
            return Err(TraceparentError::Length);
        }
        let trace_id = parse_hex::<16>(&b[3..35])?;
        let span_id = parse_hex::<8>(&b[36..52])?;
        let flags = parse_hex::<1>(&b[53..55])?[0];
        if trace_id == [0; 16] {
            return Err(TraceparentError::ZeroTraceId);
        }
        if span_id == [0; 8] {
            return Err(TraceparentError::ZeroSpanId);
        }
        Ok(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The version-00 `traceparent`: `00-<trace id>-<span id>-<flags>`, lowercase.
    pub fn to_traceparent(&self) -> String {
        let mut s = String::with_capacity(TRACEPARENT_LEN);
        s.push_str("00-");
        push_hex(&mut s, &self.trace_id);
        s.push('-');
        push_hex(&mut s, &self.span_id);
        s.push('-');
        push_hex(&mut s, &[self.flags]);
        s
    }

    /// The 128-bit trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The 64-bit span (parent) id.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace flags byte.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the `sampled` flag is set.
    pub fn sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_traceparent())
    }
}

impl std::str::FromStr for TraceContext {
    type Err = TraceparentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceContext::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_w3c_example_round_trips() {
        let t = TraceContext::parse(EXAMPLE).unwrap();
        assert_eq!(
            t.trace_id(),
            [
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36
            ]
        );
        assert_eq!(
            t.span_id(),
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert!(t.sampled());
        assert_eq!(t.to_traceparent(), EXAMPLE);
        assert_eq!(t.to_string().parse::<TraceContext>(), Ok(t));
    }

    #[test]
    fn malformed_traceparents_are_refused_with_the_reason() {
        use TraceparentError::*;
        let cases = [
            ("", Length),
            (&EXAMPLE[..54], Length),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                Length,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
                Length,
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Delimiter,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
                Delimiter,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                NotLowercaseHex,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
                NotLowercaseHex,
            ),
            (
                "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                NotLowercaseHex,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473 -00f067aa0ba902b7-01",
                NotLowercaseHex,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                ZeroTraceId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                ZeroSpanId,
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                Length,
            ),
        ];
        for (input, err) in cases {
            assert_eq!(TraceContext::parse(input), Err(err), "input {input:?}");
        }
    }

    #[test]
    fn a_future_version_is_read_by_its_first_four_fields() {
        let future =
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
        let t = TraceContext::parse(future).unwrap();
        assert_eq!(t, TraceContext::parse(EXAMPLE).unwrap());
        assert_eq!(
            TraceContext::parse(&future[..TRACEPARENT_LEN]).unwrap(),
            t,
            "a future version may also be exactly 55 characters"
        );
    }

    #[test]
    fn children_keep_the_trace_id_and_get_a_new_span_id() {
        let root = TraceContext::new_root();
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.span_id(), root.span_id());
        assert_eq!(child.flags(), root.flags());
        assert_ne!(TraceContext::new_root().trace_id(), root.trace_id());
        assert_eq!(TraceContext::parse(&child.to_traceparent()), Ok(child));
    }

    #[test]
    fn zero_ids_cannot_be_constructed() {
        assert!(TraceContext::new([0; 16], [1; 8], 0).is_none());
        assert!(TraceContext::new([1; 16], [0; 8], 0).is_none());
        assert!(TraceContext::new([1; 16], [1; 8], 0).is_some());
    }
}
