//! The envelope: how one transom event travels as one JetStream message (subject, headers,
//! payload), and back. Pure functions, no client and no I/O.
//!
//! Invariant: the headers are authoritative, the subject is only for routing and filtering —
//! [`decode`] never reads the subject, and every field of the event is in a header, so an
//! event decoded from its message is equal to the event that was encoded (the payload travels
//! unchanged as the message body).
//!
//! | header | value | |
//! |---|---|---|
//! | `Nats-Expected-Last-Sequence` | `n − 1` | publish only: JetStream's sequence stays the transom sequence |
//! | `Nats-Msg-Id` | 32 lowercase hex of the id | JetStream de-duplicates a retried publish |
//! | `Transom-Sequence` | decimal | equals the JetStream stream sequence |
//! | `Transom-Id` | 32 lowercase hex | |
//! | `Transom-Stream` | the name, `%XX`-encoded like the subject, dots always kept | |
//! | `Transom-Version` | decimal stream version | |
//! | `Transom-Kind` | decimal `u16` | |
//! | `Transom-Timestamp` | decimal Unix nanoseconds | |
//! | `Transom-Correlation`, `Transom-Causation` | 32 lowercase hex | only when present |
//! | `Transom-Key` | lowercase hex of the idempotency key | only when present |
//!
//! The subject is `<prefix>.<encoded stream name>`: bytes `[A-Za-z0-9_-]` and `.` are kept
//! (`orders.eu` → `transom.orders.eu`), every other byte is `%XX` (uppercase hex), and an
//! empty token (from a leading, trailing or doubled dot) is written `%00` (stream names never
//! contain NUL). Every dot of the name stays a subject dot, so every stream whose name starts
//! with `orders.` has a subject under `<prefix>.orders.>` (a remote cursor's server-side filter
//! relies on it).

use std::fmt::Write as _;

use crate::store::{Event, EventId, EventView, MAX_IDEMPOTENCY_KEY_LEN, MAX_STREAM_LEN};

/// Publish only: the stream's last sequence JetStream must have before storing this message.
pub const EXPECTED_LAST_SEQUENCE: &str = "Nats-Expected-Last-Sequence";
/// Publish only: JetStream's de-duplication id (the event id), so a retried publish is stored
/// once.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// The transom sequence (equal to the JetStream stream sequence).
pub const SEQUENCE: &str = "Transom-Sequence";
/// The event id, 32 lowercase hex digits.
pub const ID: &str = "Transom-Id";
/// The stream name, `%XX`-encoded (dots kept).
pub const STREAM: &str = "Transom-Stream";
/// The stream version, decimal.
pub const VERSION: &str = "Transom-Version";
/// The kind, decimal `u16`.
pub const KIND: &str = "Transom-Kind";
/// The commit time, decimal Unix nanoseconds.
pub const TIMESTAMP: &str = "Transom-Timestamp";
/// The correlation id, 32 lowercase hex digits (only when present).
pub const CORRELATION: &str = "Transom-Correlation";
/// The causation id, 32 lowercase hex digits (only when present).
pub const CAUSATION: &str = "Transom-Causation";
/// The idempotency key, lowercase hex (only when present).
pub const KEY: &str = "Transom-Key";

/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "transom";

/// A message that is not a transom event: a required header is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// A required header is absent.
    #[error("header {0} is missing")]
    Missing(&'static str),
    /// A header's value does not parse.
    #[error("header {header} is malformed ({reason}): {value:?}")]
    Malformed {
        /// The header's name.
        header: &'static str,
        /// Its value as received.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The subject and headers of one event's message (the payload is the event's payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `<prefix>.<encoded stream name>`.
    pub subject: String,
    /// `(name, value)` pairs, the publish-only ones first.
    pub headers: Vec<(&'static str, String)>,
}

/// Whether a byte stands for itself in a subject token.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn push_escaped(out: &mut String, b: u8) {
    let _ = write!(out, "%{b:02X}");
}

/// The subject token(s) of a stream name (see the module table): every dot kept, an empty
/// token written `%00`.
pub fn encode_subject_stream(stream: &str) -> String {
    let mut out = String::with_capacity(stream.len() + 8);
    for (i, token) in stream.as_bytes().split(|&b| b == b'.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if token.is_empty() {
            // Stream names never contain NUL: `%00` cannot stand for a real byte.
            out.push_str("%00");
        }
        for &b in token {
            if plain(b) {
                out.push(b as char);
            } else {
                push_escaped(&mut out, b);
            }
        }
    }
    out
}

/// The `Transom-Stream` value of a stream name: like the subject, but every dot kept.
pub fn encode_stream_header(stream: &str) -> String {
    let mut out = String::with_capacity(stream.len() + 8);
    for &b in stream.as_bytes() {
        if plain(b) || b == b'.' {
            out.push(b as char);
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// Decodes a `%XX`-encoded stream name (subject token or header form); `None` if it is not
/// one (a byte that must have been escaped, a bad escape, invalid UTF-8).
pub fn decode_stream(encoded: &str) -> Option<String> {
    let b = encoded.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                if !hex
                    .iter()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
                {
                    return None;
                }
                let s = std::str::from_utf8(hex).ok()?;
                // `%00` is a subject's empty-token marker, not a byte (names hold no NUL).
                match u8::from_str_radix(s, 16).ok()? {
                    0 => {}
                    byte => out.push(byte),
                }
                i += 3;
            }
            c if plain(c) || c == b'.' => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// The subject for events of `stream` under `prefix`.
pub fn subject(prefix: &str, stream: &str) -> String {
    format!("{prefix}.{}", encode_subject_stream(stream))
}

/// Checks a subject prefix: non-empty dot-separated tokens of `[A-Za-z0-9_-]` (no wildcard,
/// no space), at most 128 bytes. `Err` says what is wrong.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 128 {
        return Err(format!(
            "subject prefix must be 1..=128 bytes, got {}",
            prefix.len()
        ));
    }
    if prefix
        .split('.')
        .any(|t| t.is_empty() || !t.bytes().all(plain))
    {
        return Err(format!(
            "subject prefix {prefix:?} must be dot-separated non-empty tokens of [A-Za-z0-9_-]"
        ));
    }
    Ok(())
}

fn hex_id(id: EventId) -> String {
    format!("{:032x}", id.as_u128())
}

fn hex_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The message of `event` under `prefix` (see the module table).
pub fn encode(event: &EventView<'_>, prefix: &str) -> Envelope {
    let mut headers = Vec::with_capacity(12);
    let id = hex_id(event.id);
    headers.push((
        EXPECTED_LAST_SEQUENCE,
        event.sequence.saturating_sub(1).to_string(),
    ));
    headers.push((MSG_ID, id.clone()));
    headers.push((SEQUENCE, event.sequence.to_string()));
    headers.push((ID, id));
    headers.push((STREAM, encode_stream_header(event.stream)));
    headers.push((VERSION, event.stream_version.to_string()));
    headers.push((KIND, event.kind.to_string()));
    headers.push((TIMESTAMP, event.timestamp_ns.to_string()));
    if let Some(c) = event.correlation_id {
        headers.push((CORRELATION, hex_id(c)));
    }
    if let Some(c) = event.causation_id {
        headers.push((CAUSATION, hex_id(c)));
    }
    if let Some(k) = event.idempotency_key {
        headers.push((KEY, hex_bytes(k)));
    }
    Envelope {
        subject: subject(prefix, event.stream),
        headers,
    }
}

fn malformed(header: &'static str, value: &str, reason: &'static str) -> EnvelopeError {
    EnvelopeError::Malformed {
        header,
        value: value.to_owned(),
        reason,
    }
}

fn required<'h>(
    lookup: &impl Fn(&str) -> Option<&'h str>,
    header: &'static str,
) -> Result<&'h str, EnvelopeError> {
    lookup(header).ok_or(EnvelopeError::Missing(header))
}

fn parse_decimal(header: &'static str, v: &str) -> Result<u64, EnvelopeError> {
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(header, v, "not a decimal number"));
    }
    v.parse().map_err(|_| malformed(header, v, "out of range"))
}

fn parse_id(header: &'static str, v: &str) -> Result<EventId, EnvelopeError> {
    if v.len() != 32
        || !v
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(malformed(header, v, "not 32 lowercase hex digits"));
    }
    let raw = u128::from_str_radix(v, 16).map_err(|_| malformed(header, v, "not hex"))?;
    EventId::from_u128(raw).ok_or_else(|| malformed(header, v, "not a valid event id"))
}

fn parse_key(v: &str) -> Result<Vec<u8>, EnvelopeError> {
    let b = v.as_bytes();
    if b.is_empty() || b.len() % 2 != 0 || b.len() / 2 > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(malformed(
            KEY,
            v,
            "not an even number of hex digits of a valid key",
        ));
    }
    b.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            if !pair
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            {
                return None;
            }
            u8::from_str_radix(s, 16).ok()
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| malformed(KEY, v, "not lowercase hex"))
}

/// The event a message carries: `lookup(name)` gives a header's (first) value, `payload` is
/// the message body. The subject is not consulted. A required header that is absent or does
/// not parse is an [`EnvelopeError`] naming it; the publish-only headers are ignored.
pub fn decode<'h>(
    lookup: impl Fn(&str) -> Option<&'h str>,
    payload: &[u8],
) -> Result<Event, EnvelopeError> {
    let sequence = parse_decimal(SEQUENCE, required(&lookup, SEQUENCE)?)?;
    if sequence == 0 {
        return Err(malformed(SEQUENCE, "0", "sequences start at 1"));
    }
    let id = parse_id(ID, required(&lookup, ID)?)?;
    let raw_stream = required(&lookup, STREAM)?;
    let stream = decode_stream(raw_stream)
        .filter(|s| !s.is_empty() && s.len() <= MAX_STREAM_LEN && !s.contains('\0'))
        .ok_or_else(|| malformed(STREAM, raw_stream, "not a %XX-encoded stream name"))?;
    let stream_version = parse_decimal(VERSION, required(&lookup, VERSION)?)?;
    if stream_version == 0 {
        return Err(malformed(VERSION, "0", "stream versions start at 1"));
    }
    let raw_kind = required(&lookup, KIND)?;
    let kind = u16::try_from(parse_decimal(KIND, raw_kind)?)
        .map_err(|_| malformed(KIND, raw_kind, "not a 16-bit kind"))?;
    let timestamp_ns = parse_decimal(TIMESTAMP, required(&lookup, TIMESTAMP)?)?;
    let correlation_id = lookup(CORRELATION)
        .map(|v| parse_id(CORRELATION, v))
        .transpose()?;
    let causation_id = lookup(CAUSATION)
        .map(|v| parse_id(CAUSATION, v))
        .transpose()?;
    let idempotency_key = lookup(KEY).map(parse_key).transpose()?;
    Ok(Event {
        id,
        sequence,
        stream,
        stream_version,
        kind,
        correlation_id,
        causation_id,
        timestamp_ns,
        payload: payload.to_vec(),
        idempotency_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stream: &str, key: Option<&[u8]>, links: bool) -> Event {
        Event {
            id: EventId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677).unwrap(),
            sequence: 42,
            stream: stream.to_owned(),
            stream_version: 7,
            kind: 65535,
            correlation_id: links.then(|| EventId::from_u128(5).unwrap()),
            causation_id: links.then(|| EventId::from_u128(u128::MAX).unwrap()),
            timestamp_ns: 1_700_000_000_123_456_789,
            payload: b"payload \0 bytes \xff".to_vec(),
            idempotency_key: key.map(<[u8]>::to_vec),
        }
    }

    fn round_trip(e: &Event) -> Result<Event, EnvelopeError> {
        let env = encode(&EventView::of(e), DEFAULT_PREFIX);
        let h = env.headers.clone();
        decode(
            |name| h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()),
            &e.payload,
        )
    }

    fn header(e: &Event, name: &str) -> String {
        encode(&EventView::of(e), DEFAULT_PREFIX)
            .headers
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .unwrap()
    }

    #[test]
    fn every_field_survives_the_round_trip() {
        for e in [
            event("orders", None, false),
            event("orders.eu", Some(b"k"), true),
            event("x", Some(&[0u8, 0xff, 0x10][..]), true),
        ] {
            assert_eq!(round_trip(&e).unwrap(), e);
        }
    }

    #[test]
    fn publish_headers_expect_the_previous_sequence_and_dedup_on_the_id() {
        let e = event("orders", None, false);
        assert_eq!(header(&e, EXPECTED_LAST_SEQUENCE), "41");
        assert_eq!(header(&e, MSG_ID), "0123456789abcdef0011223344556677");
        assert_eq!(header(&e, ID), "0123456789abcdef0011223344556677");
        assert_eq!(header(&e, SEQUENCE), "42");
        let mut first = e.clone();
        first.sequence = 1;
        assert_eq!(header(&first, EXPECTED_LAST_SEQUENCE), "0");
    }

    #[test]
    fn odd_stream_names_give_valid_subjects_and_decode_from_the_header() {
        let cases = [
            ("orders.eu", "transom.orders.eu"),
            ("a*b", "transom.a%2Ab"),
            ("a>b", "transom.a%3Eb"),
            ("with space", "transom.with%20space"),
            ("100%", "transom.100%25"),
            ("é", "transom.%C3%A9"),
            (".lead", "transom.%00.lead"),
            ("trail.", "transom.trail.%00"),
            ("a..b", "transom.a.%00.b"),
            ("..", "transom.%00.%00.%00"),
            ("a/b:c", "transom.a%2Fb%3Ac"),
            ("tab\there", "transom.tab%09here"),
        ];
        for (name, subj) in cases {
            let e = event(name, None, false);
            let env = encode(&EventView::of(&e), DEFAULT_PREFIX);
            assert_eq!(env.subject, subj, "{name:?}");
            // Every token non-empty, no wildcard, no whitespace.
            assert!(env.subject.split('.').all(|t| !t.is_empty()), "{subj}");
            assert!(!env.subject.contains(['*', '>', ' ', '\t']));
            assert_eq!(
                decode_stream(&env.subject["transom.".len()..]).unwrap(),
                name
            );
            assert_eq!(round_trip(&e).unwrap(), e, "{name:?}");
        }
        // The header keeps every dot.
        assert_eq!(header(&event(".lead..x", None, false), STREAM), ".lead..x");
        assert_eq!(header(&event("a b", None, false), STREAM), "a%20b");
    }

    #[test]
    fn keys_are_lowercase_hex_and_only_present_when_the_event_has_one() {
        let e = event("s", Some(b"\x00\xABkey"), false);
        assert_eq!(header(&e, KEY), "00ab6b6579");
        let env = encode(&EventView::of(&event("s", None, false)), DEFAULT_PREFIX);
        for absent in [KEY, CORRELATION, CAUSATION] {
            assert!(env.headers.iter().all(|(n, _)| *n != absent), "{absent}");
        }
    }

    fn decode_with(
        edit: impl Fn(&mut Vec<(&'static str, String)>),
    ) -> Result<Event, EnvelopeError> {
        let e = event("orders", Some(b"k"), true);
        let mut h = encode(&EventView::of(&e), DEFAULT_PREFIX).headers;
        edit(&mut h);
        decode(
            |name| h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()),
            &e.payload,
        )
    }

    fn set(h: &mut [(&'static str, String)], name: &str, v: &str) {
        h.iter_mut().find(|(n, _)| *n == name).unwrap().1 = v.to_owned();
    }

    #[test]
    fn a_missing_required_header_is_named() {
        for name in [SEQUENCE, ID, STREAM, VERSION, KIND, TIMESTAMP] {
            let err = decode_with(|h| h.retain(|(n, _)| *n != name)).unwrap_err();
            assert_eq!(err, EnvelopeError::Missing(name));
            assert!(err.to_string().contains(name));
        }
        // The publish-only headers are not needed to decode.
        assert!(
            decode_with(|h| h.retain(|(n, _)| *n != MSG_ID && *n != EXPECTED_LAST_SEQUENCE))
                .is_ok()
        );
    }

    #[test]
    fn a_malformed_header_is_named() {
        let cases: &[(&str, &str)] = &[
            (SEQUENCE, "x1"),
            (SEQUENCE, "0"),
            (SEQUENCE, "-1"),
            (SEQUENCE, "99999999999999999999"),
            (ID, "0123"),
            (ID, "0123456789ABCDEF0011223344556677"),
            (ID, "00000000000000000000000000000000"),
            (STREAM, ""),
            (STREAM, "a%2"),
            (STREAM, "a%zz"),
            (STREAM, "a b"),
            (STREAM, "%FF"),
            (STREAM, "%00"),
            (VERSION, "0"),
            (VERSION, ""),
            (KIND, "65536"),
            (TIMESTAMP, "1.5"),
            (CORRELATION, "xyz"),
            (CAUSATION, ""),
            (KEY, "abc"),
            (KEY, ""),
            (KEY, "AB"),
            (KEY, "zz"),
        ];
        for &(name, value) in cases {
            let err = decode_with(|h| set(h, name, value)).unwrap_err();
            match &err {
                EnvelopeError::Malformed {
                    header, value: v, ..
                } => {
                    assert_eq!((*header, v.as_str()), (name, value), "{err}");
                }
                other => panic!("{name}={value:?}: {other}"),
            }
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(validate_prefix("transom").is_ok());
        assert!(validate_prefix("acme.events-1").is_ok());
        for bad in ["", ".", "a.", ".a", "a..b", "a*", "a>", "a b", "é"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
        assert_eq!(subject("acme.ev", "o.eu"), "acme.ev.o.eu");
    }
}
