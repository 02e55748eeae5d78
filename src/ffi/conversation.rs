//! C ABI of supervised conversations: open with participants and a required crash policy,
//! send/receive with request ids, crash callbacks (add/remove), await_crash, state snapshots,
//! close; and the participants' side: parsing a request, replying to it.
//!
//! Invariant: only conversion, checks and ownership here; the logic (parked replies, the
//! crash-callback registry, the reply checks, deadlines on the monotonic clock) is the Rust
//! API's. Every C closure handed in is owned by transom from the call on, also when the call
//! fails (its `drop` has then run).

use std::mem::MaybeUninit;

use super::actor::{
    behaviour_arg, transom_behaviour_callback, transom_mailbox, transom_message, transom_pid,
    transom_runtime, TRANSOM_MESSAGE_USER,
};
use super::args::{self, array_out, bytes, closure, copy_c_str, handle, input, out, slice, Handle};
use super::closure::Closure;
use super::status::{
    guard, transom_status, Failure, TRANSOM_ERR_BUFFER_TOO_SMALL, TRANSOM_OK, TRANSOM_TIMEOUT,
};
use crate::actor::Pid;
use crate::conversation::{
    self as conv, monotonic_ns, wire, Conversation, ConversationConfig, ConversationError,
    CrashCallbackId, CrashInfo, Mode, OnCrash, Participant,
};

mod types;

pub use types::*;
use types::{compensate_fn, crash_info, participant_state, phase_raw, CrashCall};

/// Takes ownership of every closure in the config (participants' behaviours, compensate) and
/// builds the Rust config; on error everything taken has been dropped.
fn config_arg(config: &transom_conversation_config) -> Result<ConversationConfig, Failure> {
    // Err: a NULL call, whose drop has run (no compensation, unless the policy needs one).
    let compensate = closure!(config.compensate);
    let entries = slice!(config.participants, config.participant_count)?;
    // Take every entry's behaviour before reporting any error, so that all their drops run.
    let taken: Vec<Result<Participant, Failure>> = entries
        .iter()
        .map(|p| {
            if p.pid != 0 {
                Ok(Participant::External(Pid::from_raw(p.pid)))
            } else {
                let b = &p.behaviour;
                behaviour_arg(transom_behaviour_callback {
                    ctx: b.ctx,
                    call: b.call,
                    drop: b.drop,
                })
                .map(Participant::Spawn)
            }
        })
        .collect();
    let participants = taken.into_iter().collect::<Result<Vec<_>, _>>()?;
    let on_crash = match (config.on_crash, compensate) {
        (TRANSOM_ON_CRASH_FAIL, Err(_)) => OnCrash::Fail,
        (TRANSOM_ON_CRASH_ROUTE_TO_NEXT, Err(_)) => OnCrash::RouteToNext,
        (TRANSOM_ON_CRASH_COMPENSATE, Ok(cb)) => compensate_fn(cb),
        (TRANSOM_ON_CRASH_COMPENSATE, Err(null)) => return Err(null),
        (TRANSOM_ON_CRASH_FAIL | TRANSOM_ON_CRASH_ROUTE_TO_NEXT, Ok(_)) => {
            return Err(Failure::invalid(
                "config->compensate is only for TRANSOM_ON_CRASH_COMPENSATE",
            ))
        }
        _ => {
            return Err(Failure::invalid(
                "config->on_crash is required: TRANSOM_ON_CRASH_FAIL, _ROUTE_TO_NEXT or \
                 _COMPENSATE",
            ))
        }
    };
    let mode = match config.mode {
        TRANSOM_MODE_EPHEMERAL => Mode::Ephemeral,
        TRANSOM_MODE_DURABLE => Mode::Durable,
        _ => {
            return Err(Failure::invalid(
                "config->mode is not a TRANSOM_MODE_* value",
            ))
        }
    };
    let mut c = ConversationConfig::new(participants, on_crash).mode(mode);
    if config.timeout_ns != 0 {
        if let Some(t) = args::timeout(config.timeout_ns) {
            c = c.timeout(t);
        }
    }
    Ok(c)
}

/// Opens a conversation on `runtime`: returns once its actor traps exits and is linked to every
/// participant. A dead participant fails the open with TRANSOM_ERR_NOPROC and leaves nothing
/// behind. The conversation owns every behaviour and the compensate callback of `*config` from
/// the call on, also when it fails (the compensate callback's drop has then run; spawned
/// participants' behaviours are dropped once their processes have exited).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_open(
    runtime: *const transom_runtime,
    config: *const transom_conversation_config,
    out_conversation: *mut *mut transom_conversation,
) -> transom_status {
    guard(|| {
        let config = config_arg(input!(config)?)?;
        let rt = handle!(runtime)?.handle();
        let o = out!(out_conversation)?;
        let conversation = Conversation::open(rt, config)?;
        transom_conversation { conversation }.publish(o);
        Ok(TRANSOM_OK)
    })
}

/// Sends `len` payload bytes as a new request to participant `to` (0: the next live one,
/// round-robin), writing its request id to `*out_request_id` (may be NULL). Requests carry the
/// id and a child span of the conversation's trace. TRANSOM_ERR_NOPROC when no live participant
/// can take it; TRANSOM_ERR_PARTICIPANT_CRASHED, _DEADLINE_EXCEEDED, _CLOSED or _WRONG_STATE
/// (COMPLETING) when the phase refuses sends; TRANSOM_ERR_INVALID_ARGUMENT for a pid that is
/// not a participant.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_send(
    conversation: *const transom_conversation,
    to: transom_pid,
    payload: *const u8,
    len: usize,
    out_request_id: *mut u64,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        let payload = bytes!(payload, len)?;
        let to = (to != 0).then_some(Pid::from_raw(to));
        let id = c.conversation.send(to, payload)?;
        // Optional output: written when given.
        if let Ok(o) = out!(out_request_id) {
            o.write(id);
        }
        Ok(TRANSOM_OK)
    })
}

/// Receives the oldest reply, waiting up to `timeout_ns` (UINT64_MAX: no limit of its own; 0:
/// do not wait; close, the deadline and the actor's death still end the wait). The payload is
/// copied into `buf` (`cap` bytes; NULL allowed when `cap` is 0, which takes only empty
/// replies), its length to `*out_len`, its request id and sender to `*out_reply`.
///
/// TRANSOM_TIMEOUT when nothing came in time (a later reply is not lost). When the oldest
/// reply does not fit `cap`: TRANSOM_ERR_BUFFER_TOO_SMALL, and — the one exception to the
/// outputs rule — `*out_len` (and transom_last_error_value) receives the capacity it needs;
/// the reply is not taken: it stays first in line ("parked") for the next receive.
///
/// Order: replies are handed out in the order the conversation took them. Once it has ended,
/// the replies it had buffered are still delivered first; then every receive returns the
/// ending: TRANSOM_ERR_PARTICIPANT_CRASHED (FAILED), TRANSOM_ERR_DEADLINE_EXCEEDED (the
/// deadline passed; replies arriving after it are discarded) or TRANSOM_ERR_CLOSED (close or
/// the runtime's shutdown; buffered replies are not delivered after close).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_receive(
    conversation: *const transom_conversation,
    timeout_ns: u64,
    out_reply: *mut transom_reply,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        let o = out!(out_reply)?;
        let n = out!(out_len)?;
        let dst: &mut [MaybeUninit<u8>] = if cap == 0 {
            &mut []
        } else {
            array_out!(buf, cap)?
        };
        let taken = c
            .conversation
            .take_reply(args::timeout(timeout_ns), cap, |reply| {
                for (d, &b) in dst.iter_mut().zip(reply.payload.iter()) {
                    d.write(b);
                }
                (reply.request_id, reply.from, reply.payload.len())
            });
        match taken {
            Ok(Some((request_id, from, len))) => {
                o.write(transom_reply {
                    request_id,
                    from: from.as_raw(),
                });
                n.write(len);
                Ok(TRANSOM_OK)
            }
            Ok(None) => Ok(TRANSOM_TIMEOUT),
            Err(e @ ConversationError::BufferTooSmall { needed }) => {
                n.write(needed);
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// Declares that no more requests will be sent (phase COMPLETING); replies can still be
/// received.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_complete(
    conversation: *const transom_conversation,
) -> transom_status {
    guard(|| {
        handle!(conversation)?.conversation.complete()?;
        Ok(TRANSOM_OK)
    })
}

/// Adds a crash callback (see transom_crash_callback): called exactly once per crashed
/// participant, also for crashes that happened before it was added (then at once, on this
/// thread, before this returns; also after close, which reports no new crashes). `*out_id`
/// names it for transom_conversation_remove_crash_callback. The conversation owns the callback
/// from the call on, also when this fails (its `drop` has then run).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_add_crash_callback(
    conversation: *const transom_conversation,
    callback: transom_crash_callback,
    out_id: *mut u64,
) -> transom_status {
    guard(|| {
        let cb = closure!(callback);
        let c = handle!(conversation)?;
        let o = out!(out_id)?;
        let cb: Closure<CrashCall> = cb?;
        let id = c.conversation.add_crash_callback(move |info: &CrashInfo| {
            let i = crash_info(info);
            // SAFETY: the C callback promised to accept (ctx, info); i lives across the call.
            unsafe { (cb.call())(cb.ctx(), &i) };
        });
        o.write(id.as_u64());
        Ok(TRANSOM_OK)
    })
}

/// Removes a crash callback: once this returns it is not called again, no call of it is in
/// flight (this waits for one running on another thread) and its `drop` has run. From inside
/// the callback itself this returns at once, and `drop` runs when the callback returns.
/// TRANSOM_ERR_NOT_FOUND for an id that names no added callback (never given, or removed).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_remove_crash_callback(
    conversation: *const transom_conversation,
    id: u64,
) -> transom_status {
    guard(|| {
        handle!(conversation)?
            .conversation
            .remove_crash_callback(CrashCallbackId::from_u64(id))?;
        Ok(TRANSOM_OK)
    })
}

/// Waits up to `timeout_ns` (event-driven, no polling) for the first participant crash and
/// describes it in `*out_info`. TRANSOM_TIMEOUT when none came; TRANSOM_ERR_CLOSED when the
/// conversation closed without one.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_await_crash(
    conversation: *const transom_conversation,
    timeout_ns: u64,
    out_info: *mut transom_crash_info,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        let o = out!(out_info)?;
        match c.conversation.await_crash(args::timeout(timeout_ns))? {
            Some(info) => {
                o.write(crash_info(&info));
                Ok(TRANSOM_OK)
            }
            None => Ok(TRANSOM_TIMEOUT),
        }
    })
}

/// Writes the conversation's pollable descriptor for replies to `*out_fd`: readable while a
/// transom_conversation_receive would not wait — a reply is buffered, or the conversation has
/// ended (FAILED, which is what a crash does under TRANSOM_ON_CRASH_FAIL; DEADLINE_EXCEEDED;
/// CLOSED: the receive reports it) — and unreadable again once a receive took the last reply
/// (a reply too long for the caller's buffer stays, and so does readiness). Under the other
/// crash policies a crash does not end the conversation: watch
/// transom_conversation_crash_fd for it.
///
/// Level-triggered: the descriptor (a Linux eventfd, non-blocking and close-on-exec) is
/// readable exactly while the blocking call named above would return at once, and stops being
/// readable as soon as a call has taken what made it readable: there is no spurious readiness
/// after a draining call, so an event loop can wait on it with poll, select or epoll, call
/// the non-blocking form (timeout 0) when it is readable, and go back to waiting (with
/// EPOLLET, call until it returns TRANSOM_TIMEOUT before waiting again). Only wait on it: never read, write or close it yourself. It is created
/// on the first call (a handle that never asks has none; later calls return the same number),
/// belongs to the handle and is closed by its _free: remove it from an epoll set before the
/// _free, or hold a dup() of it, which then reports readable for good. No thread, no polling:
/// a loop waiting on idle descriptors uses no CPU. `*out_fd` is written on TRANSOM_OK only;
/// TRANSOM_ERR_IO (or TRANSOM_ERR_UNSUPPORTED off Linux) when the OS refused a descriptor.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_fd(
    conversation: *const transom_conversation,
    out_fd: *mut std::ffi::c_int,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        let out = out!(out_fd)?;
        out.write(
            c.conversation
                .fd()
                .map_err(super::status::descriptor_failure)?,
        );
        Ok(TRANSOM_OK)
    })
}

/// Writes the conversation's pollable descriptor for crashes to `*out_fd`: readable once a
/// transom_conversation_await_crash would not wait — a participant crashed, or the
/// conversation closed — and from then on (await_crash reports the first crash every time; it
/// consumes nothing). Otherwise as transom_conversation_fd.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_crash_fd(
    conversation: *const transom_conversation,
    out_fd: *mut std::ffi::c_int,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        let out = out!(out_fd)?;
        out.write(
            c.conversation
                .crash_fd()
                .map_err(super::status::descriptor_failure)?,
        );
        Ok(TRANSOM_OK)
    })
}

/// Writes whether a participant has crashed to `*out_crashed` (never blocks).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_has_crashed(
    conversation: *const transom_conversation,
    out_crashed: *mut bool,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        out!(out_crashed)?.write(c.conversation.has_crashed());
        Ok(TRANSOM_OK)
    })
}

/// Fills `*out_state` with a snapshot (also after close).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_state(
    conversation: *const transom_conversation,
    out_state: *mut transom_conversation_snapshot,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        let o = out!(out_state)?;
        let st = c.conversation.state();
        let mut snap = transom_conversation_snapshot {
            pid: st.pid.as_raw(),
            phase: phase_raw(st.phase),
            deadline_ns: st.deadline_ns.unwrap_or(0),
            sent: st.sent,
            received: st.received,
            crashed: st.crashed,
            in_flight: st.in_flight,
            buffered: st.buffered,
            traceparent: [0; 56],
            participant_count: st.participants.len(),
        };
        copy_c_str(&mut snap.traceparent, &st.trace.to_traceparent());
        o.write(snap);
        Ok(TRANSOM_OK)
    })
}

/// Copies the participants, in open order, into `items` (`cap` entries; 0 is
/// TRANSOM_ERR_INVALID_ARGUMENT) and their number to `*out_count` (also after close). When
/// `cap` is smaller than the number of participants: TRANSOM_ERR_BUFFER_TOO_SMALL, nothing is
/// written to `items`, and — the exception to the outputs rule — `*out_count` receives the
/// number needed (it never changes after open).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_participants(
    conversation: *const transom_conversation,
    items: *mut transom_participant_state,
    cap: usize,
    out_count: *mut usize,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        let items = array_out!(items, cap)?;
        let n = out!(out_count)?;
        let ps = c.conversation.participants();
        if ps.len() > items.len() {
            n.write(ps.len());
            return Err(Failure::new(
                TRANSOM_ERR_BUFFER_TOO_SMALL,
                format!(
                    "the conversation has {} participants; cap is {cap}",
                    ps.len()
                ),
            )
            .with_value(ps.len() as i64));
        }
        for (d, p) in items.iter_mut().zip(&ps) {
            d.write(participant_state(p));
        }
        n.write(ps.len());
        Ok(TRANSOM_OK)
    })
}

/// Writes the conversation actor's pid to `*out_pid` (participants reply to it).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_pid(
    conversation: *const transom_conversation,
    out_pid: *mut transom_pid,
) -> transom_status {
    guard(|| {
        let c = handle!(conversation)?;
        out!(out_pid)?.write(c.conversation.pid().as_raw());
        Ok(TRANSOM_OK)
    })
}

/// Closes the conversation: idempotent (a second close returns TRANSOM_OK), valid in every
/// phase (FAILED and DEADLINE_EXCEEDED included); the handle stays valid until
/// transom_conversation_free. Spawned participants are stopped, external ones unlinked; the
/// actor stops. Close may race every other call on the handle, by design: receives and crash
/// waits blocked on other threads return TRANSOM_ERR_CLOSED, and so does every later call that
/// needs a live conversation (send, receive, complete, await_crash without a crash, replies
/// to it), while the queries (state, participants, pid, has_crashed, a crash callback's replay)
/// keep answering. Never waits for a callback, so it may be called from inside one.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_close(
    conversation: *const transom_conversation,
) -> transom_status {
    guard(|| {
        handle!(conversation)?.conversation.close();
        Ok(TRANSOM_OK)
    })
}

/// Closes (if needed) and frees the conversation (NULL is accepted). Waits for crash callbacks
/// and the compensation running on other threads; from inside one of this conversation's
/// callbacks it does not wait (that callback's drop then runs when it returns). Every crash and
/// compensate callback's drop has run (or runs right after the callback in progress) when this
/// returns; spawned participants' behaviours are dropped once their processes have exited (at
/// the latest by transom_runtime_free).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_free(conversation: *mut transom_conversation) {
    // SAFETY: a non-NULL conversation comes from transom_conversation_open and is freed once
    // (the C contract).
    unsafe { transom_conversation::free(conversation) }
}

/// Nanoseconds on CLOCK_MONOTONIC, the clock of crash, exit and deadline timestamps: the
/// value clock_gettime(CLOCK_MONOTONIC, ...) gives (seconds * 1e9 + nanoseconds), so the
/// library's timestamps compare directly with the caller's own readings.
#[no_mangle]
pub extern "C" fn transom_monotonic_ns() -> u64 {
    monotonic_ns()
}

/// Parses a conversation request out of a received message: TRANSOM_ERR_INVALID_ARGUMENT when
/// the message is not one. The payload points into the message (same lifetime).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_parse_request(
    message: *const transom_message,
    out_request: *mut transom_request,
) -> transom_status {
    guard(|| {
        let message = input!(message)?;
        let o = out!(out_request)?;
        if message.kind != TRANSOM_MESSAGE_USER {
            return Err(Failure::invalid("an exit message is not a request"));
        }
        let data = bytes!(message.bytes, message.len)?;
        let req = wire::decode_request(data)
            .ok_or_else(|| Failure::invalid("the message is not a conversation request"))?;
        let mut r = transom_request {
            request_id: req.request_id,
            traceparent: [0; 56],
            payload: req.payload.as_ptr(),
            payload_len: req.payload.len(),
        };
        copy_c_str(&mut r.traceparent, &req.trace.to_traceparent());
        o.write(r);
        Ok(TRANSOM_OK)
    })
}

/// Replies to request `request_id` of conversation `conversation` (the `from` of the request
/// message), as process `from` — how a C behaviour replies (pass its `self_pid`).
///
/// Checked before anything is sent, so a reply never vanishes silently: TRANSOM_ERR_NOPROC when
/// `conversation` names no conversation of `runtime` (0, unknown, or freed);
/// TRANSOM_ERR_CLOSED, _PARTICIPANT_CRASHED or _DEADLINE_EXCEEDED when the conversation has
/// ended (it takes no more replies); TRANSOM_ERR_NOT_FOUND when it awaits no request with that
/// id (never sent, already answered, or given up after its participant crashed). A reply that
/// passes is delivered in order with the sender's other messages to the conversation.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_reply(
    runtime: *const transom_runtime,
    from: transom_pid,
    conversation: transom_pid,
    request_id: u64,
    payload: *const u8,
    len: usize,
) -> transom_status {
    guard(|| {
        let rt = handle!(runtime)?.handle();
        let payload = bytes!(payload, len)?;
        conv::reply(
            rt,
            Pid::from_raw(from),
            Pid::from_raw(conversation),
            request_id,
            payload,
        )?;
        Ok(TRANSOM_OK)
    })
}

/// Replies to request `request_id` of conversation `conversation` from this mailbox's process
/// — how a C thread owning a mailbox replies. TRANSOM_ERR_CLOSED once the mailbox has exited;
/// otherwise the checks and statuses of transom_conversation_reply.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_reply_from_mailbox(
    mailbox: *mut transom_mailbox,
    conversation: transom_pid,
    request_id: u64,
    payload: *const u8,
    len: usize,
) -> transom_status {
    guard(|| {
        let mb = handle!(mailbox)?.mailbox();
        let payload = bytes!(payload, len)?;
        conv::reply_from_mailbox(mb, Pid::from_raw(conversation), request_id, payload)?;
        Ok(TRANSOM_OK)
    })
}
