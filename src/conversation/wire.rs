//! The bytes exchanged between a conversation and its participants, so participants written
//! in any language can take part.
//!
//! Request (conversation → participant), sent with the conversation's pid as `from`:
//! `"TQ" 0x01 | request id (u64 LE) | traceparent (55 ASCII bytes) | payload`.
//! Reply (participant → conversation, sent to that `from` pid):
//! `"TR" 0x01 | request id (u64 LE) | payload`.
//!
//! Invariant: decoding never panics and never accepts a message of the other kind or another
//! version: anything malformed is `None` (the conversation ignores it).

use super::trace::{TraceContext, TRACEPARENT_LEN};

const REQUEST_TAG: [u8; 3] = *b"TQ\x01";
const REPLY_TAG: [u8; 3] = *b"TR\x01";
/// Bytes before a request's payload.
pub const REQUEST_HEADER_LEN: usize = 3 + 8 + TRACEPARENT_LEN;
/// Bytes before a reply's payload.
pub const REPLY_HEADER_LEN: usize = 3 + 8;

/// A request as a participant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Echo this in the reply.
    pub request_id: u64,
    /// The request's trace context (a child span of the conversation's trace).
    pub trace: TraceContext,
    /// The payload.
    pub payload: &'a [u8],
}

/// Encodes a request.
pub fn encode_request(request_id: u64, trace: &TraceContext, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(REQUEST_HEADER_LEN + payload.len());
    v.extend_from_slice(&REQUEST_TAG);
    v.extend_from_slice(&request_id.to_le_bytes());
    v.extend_from_slice(trace.to_traceparent().as_bytes());
    v.extend_from_slice(payload);
    v
}

/// Decodes a request; `None` when `bytes` is not a well-formed request.
pub fn decode_request(bytes: &[u8]) -> Option<Request<'_>> {
    if bytes.len() < REQUEST_HEADER_LEN || bytes[..3] != REQUEST_TAG {
        return None;
    }
    let request_id = u64::from_le_bytes(bytes[3..11].try_into().ok()?);
    let tp = std::str::from_utf8(&bytes[11..REQUEST_HEADER_LEN]).ok()?;
    let trace = TraceContext::parse(tp).ok()?;
    Some(Request {
        request_id,
        trace,
        payload: &bytes[REQUEST_HEADER_LEN..],
    })
}

/// Encodes a reply to request `request_id`.
pub fn encode_reply(request_id: u64, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(REPLY_HEADER_LEN + payload.len());
    v.extend_from_slice(&REPLY_TAG);
    v.extend_from_slice(&request_id.to_le_bytes());
    v.extend_from_slice(payload);
    v
}

/// Decodes a reply into `(request id, payload)`; `None` when malformed.
pub fn decode_reply(bytes: &[u8]) -> Option<(u64, &[u8])> {
    if bytes.len() < REPLY_HEADER_LEN || bytes[..3] != REPLY_TAG {
        return None;
    }
    let id = u64::from_le_bytes(bytes[3..11].try_into().ok()?);
    Some((id, &bytes[REPLY_HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let t = TraceContext::new_root();
        let bytes = encode_request(7, &t, b"payload");
        let r = decode_request(&bytes).unwrap();
        assert_eq!((r.request_id, r.trace, r.payload), (7, t, &b"payload"[..]));
        let reply = encode_reply(7, b"answer");
        assert_eq!(decode_reply(&reply), Some((7, &b"answer"[..])));
        assert_eq!(
            decode_reply(&encode_reply(u64::MAX, b"")),
            Some((u64::MAX, &b""[..]))
        );
    }

    #[test]
    fn malformed_or_foreign_bytes_are_not_decoded() {
        let t = TraceContext::new_root();
        let req = encode_request(1, &t, b"x");
        let rep = encode_reply(1, b"x");
        assert_eq!(decode_reply(&req), None, "a request is not a reply");
        assert_eq!(decode_request(&rep), None, "a reply is not a request");
        assert_eq!(decode_request(&req[..REQUEST_HEADER_LEN - 1]), None);
        assert_eq!(decode_reply(&rep[..REPLY_HEADER_LEN - 1]), None);
        let mut bad_version = rep.clone();
        bad_version[2] = 2;
        assert_eq!(decode_reply(&bad_version), None);
        let mut bad_trace = req.clone();
        bad_trace[11] = b'X';
        assert_eq!(decode_request(&bad_trace), None);
        assert_eq!(decode_reply(b""), None);
    }
}
