//! W3C trace context (`traceparent`) carried by every conversation request.
//!
//! Invariant: a [`TraceContext`] is always valid: trace id and span id are never zero, so
//! anything this module formats, [`TraceContext::parse`] accepts again unchanged. Parsing is
//! strict (version `00` only, exact length, lowercase hex, non-zero ids): a malformed header is
//! an error, never a silently "fixed" context.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Why a `traceparent` string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TraceParseError {
    /// Not exactly 55 bytes (`00-` + 32 + `-` + 16 + `-` + 2).
    #[error("traceparent must be 55 characters long")]
    Length,
    /// A version other than `00`.
    #[error("traceparent version must be 00")]
    Version,
    /// A separator is not `-`.
    #[error("traceparent fields must be separated by '-'")]
    Separator,
    /// A field has a character other than lowercase hex.
    #[error("traceparent fields must be lowercase hexadecimal")]
    Hex,
    /// The trace id is all zeros.
    #[error("traceparent trace id must not be zero")]
    ZeroTraceId,
    /// The parent (span) id is all zeros.
    #[error("traceparent parent id must not be zero")]
    ZeroSpanId,
}

/// Trace flag: the caller sampled this trace.
pub const TRACE_FLAG_SAMPLED: u8 = 0x01;

/// A W3C trace context: 128-bit trace id, 64-bit span (parent) id, 8 flag bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    flags: u8,
}

fn random_u64() -> u64 {
    // Trace ids need uniqueness, not secrecy: a per-process random key (std's hasher seed)
    // mixed with a counter gives distinct, unpredictable-enough ids without a dependency.
    static SEED: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = SEED.get_or_init(RandomState::new).build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

fn nonzero_u64() -> u64 {
    loop {
        let v = random_u64();
        if v != 0 {
            return v;
        }
    }
}

impl TraceContext {
    /// A new trace: fresh random trace id and span id, sampled.
    pub fn new_root() -> Self {
        let trace_id = (u128::from(random_u64()) << 64) | u128::from(nonzero_u64());
        TraceContext {
            trace_id,
            span_id: nonzero_u64(),
            flags: TRACE_FLAG_SAMPLED,
        }
    }

    /// A context from its parts; `None` when either id is zero.
    pub fn from_parts(trace_id: u128, span_id: u64, flags: u8) -> Option<Self> {
        (trace_id != 0 && span_id != 0).then_some(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A child span: same trace id and flags, new span id.
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: nonzero_u64(),
            ..*self
        }
    }

    /// The 128-bit trace id.
    pub fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The 64-bit span id (the `parent-id` field of `traceparent`).
    pub fn span_id(&self) -> u64 {
        self.span_id
    }

    /// The trace flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Parses a `traceparent` header value, strictly.
    pub fn parse(s: &str) -> Result<Self, TraceParseError> {
        let b = s.as_bytes();
        if b.len() != 55 {
            return Err(TraceParseError::Length);
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(TraceParseError::Separator);
        }
        let version = hex(&b[0..2])?;
        if version != 0 {
            return Err(TraceParseError::Version);
        }
        let trace_id = hex(&b[3..35])?;
        let span_id = hex(&b[36..52])? as u64;
        let flags = hex(&b[53..55])? as u8;
        if trace_id == 0 {
            return Err(TraceParseError::ZeroTraceId);
        }
        if span_id == 0 {
            return Err(TraceParseError::ZeroSpanId);
        }
        Ok(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }
}

fn hex(digits: &[u8]) -> Result<u128, TraceParseError> {
    digits.iter().try_fold(0u128, |acc, &c| {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return Err(TraceParseError::Hex),
        };
        Ok((acc << 4) | u128::from(v))
    })
}

impl fmt::Display for TraceContext {
    /// The `traceparent` header value: `00-<trace id>-<span id>-<flags>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trips() {
        let t = TraceContext::parse(SAMPLE).unwrap();
        assert_eq!(t.trace_id(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(t.span_id(), 0x00f067aa0ba902b7);
        assert_eq!(t.flags(), TRACE_FLAG_SAMPLED);
        assert_eq!(t.to_string(), SAMPLE);
        let root = TraceContext::new_root();
        assert_eq!(TraceContext::parse(&root.to_string()).unwrap(), root);
    }

    #[test]
    fn children_keep_the_trace_id_and_get_a_new_span() {
        let root = TraceContext::new_root();
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_eq!(child.flags(), root.flags());
        assert_ne!(child.span_id(), root.span_id());
        assert_ne!(TraceContext::new_root().trace_id(), root.trace_id());
    }

    #[test]
    fn parsing_is_strict() {
        use TraceParseError::*;
        let cases = [
            ("", Length),
            (&SAMPLE[..54], Length),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Separator,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
                Separator,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                Hex,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
                Hex,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                ZeroTraceId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                ZeroSpanId,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(TraceContext::parse(input), Err(want), "{input:?}");
        }
        assert_eq!(TraceContext::from_parts(0, 1, 0), None);
        assert_eq!(TraceContext::from_parts(1, 0, 0), None);
    }
}
