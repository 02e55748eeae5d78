//! The C types of conversations (handles, configs, reports, the participants' request view,
//! the typedef'd enum values) and their conversions from the Rust API's values.
//!
//! Invariant: every field a C caller reads is written from one Rust value by one function here,
//! so the C view and the Rust API cannot drift apart.

use std::ffi::{c_char, c_void};

use super::super::actor::{transom_behaviour_callback, transom_exit_reason, transom_pid};
use super::super::args::{copy_c_str, Handle};
use super::super::closure::Closure;
use crate::actor::{ExitReason, Pid};
use crate::conversation::{
    Compensation, Conversation, CrashInfo, CrashPolicy, Health, InFlight, OnCrash,
    ParticipantState, Phase,
};

/// A crash policy: one of the TRANSOM_ON_CRASH_* values.
pub type transom_on_crash = u32;
/// Crash policy: the conversation fails; buffered replies are still received, then
/// TRANSOM_ERR_PARTICIPANT_CRASHED.
pub const TRANSOM_ON_CRASH_FAIL: transom_on_crash = 1;
/// Crash policy: the dead participant's in-flight requests are re-sent to the next live
/// participant; the conversation fails only when none is left.
pub const TRANSOM_ON_CRASH_ROUTE_TO_NEXT: transom_on_crash = 2;
/// Crash policy: a compensation callback gets the in-flight requests and decides. A CONTINUE
/// with no live participant left keeps the phase; later sends return TRANSOM_ERR_NOPROC.
pub const TRANSOM_ON_CRASH_COMPENSATE: transom_on_crash = 3;

/// A compensation's decision: one of the TRANSOM_COMPENSATE_* values.
pub type transom_compensate_decision = i32;
/// Compensation decision: carry on without the dead participant.
pub const TRANSOM_COMPENSATE_CONTINUE: transom_compensate_decision = 0;
/// Compensation decision: fail the conversation.
pub const TRANSOM_COMPENSATE_FAIL: transom_compensate_decision = 1;

/// A conversation mode: one of the TRANSOM_MODE_* values.
pub type transom_mode = u32;
/// Conversation mode: nothing is kept beyond the conversation's life.
pub const TRANSOM_MODE_EPHEMERAL: transom_mode = 0;
/// Conversation mode: journal into a store — refused with TRANSOM_ERR_UNSUPPORTED for now.
pub const TRANSOM_MODE_DURABLE: transom_mode = 1;

/// A conversation phase: one of the TRANSOM_PHASE_* values.
pub type transom_phase = i32;
/// Phase: opened, nothing sent or received yet.
pub const TRANSOM_PHASE_CREATED: transom_phase = 0;
/// Phase: at least one send or receive happened.
pub const TRANSOM_PHASE_ACTIVE: transom_phase = 1;
/// Phase: no more sends; replies can still be received.
pub const TRANSOM_PHASE_COMPLETING: transom_phase = 2;
/// Phase: closed (final).
pub const TRANSOM_PHASE_CLOSED: transom_phase = 3;
/// Phase: failed by a crash policy.
pub const TRANSOM_PHASE_FAILED: transom_phase = 4;
/// Phase: the configured deadline passed.
pub const TRANSOM_PHASE_DEADLINE_EXCEEDED: transom_phase = 5;

/// A participant's health: one of the TRANSOM_HEALTH_* values.
pub type transom_health = i32;
/// Participant health: alive.
pub const TRANSOM_HEALTH_ALIVE: transom_health = 0;
/// Participant health: exited without crashing (TRANSOM_EXIT_NORMAL or TRANSOM_EXIT_SHUTDOWN).
pub const TRANSOM_HEALTH_EXITED: transom_health = 1;
/// Participant health: crashed (exited with any other kind); the crash policy was applied.
pub const TRANSOM_HEALTH_CRASHED: transom_health = 2;

/// A supervised conversation.
///
/// Thread safety: every function may be called from any number of threads at once —
/// transom_conversation_close included, which is meant to race the others — except
/// transom_conversation_free, which must not race other calls on the same handle.
pub struct transom_conversation {
    pub(super) conversation: Conversation,
}

impl Handle for transom_conversation {}

/// One participant of `transom_conversation_open`.
#[repr(C)]
pub struct transom_participant {
    /// An existing process (linked at open, unlinked at close), or 0 to spawn `behaviour`.
    pub pid: transom_pid,
    /// With `pid` 0: a callback process the conversation spawns (linked atomically) and stops
    /// at close. Ignored (and not dropped) when `pid` is set.
    pub behaviour: transom_behaviour_callback,
}

/// A request in flight, as a compensation callback sees it (valid during the call).
#[repr(C)]
pub struct transom_in_flight {
    /// The request id.
    pub request_id: u64,
    /// The participant it was sent to.
    pub participant: transom_pid,
    /// Its payload.
    pub payload: *const u8,
    /// Payload length.
    pub payload_len: usize,
    /// Its W3C traceparent, NUL-terminated.
    pub traceparent: [c_char; 56],
}

/// The COMPENSATE policy's callback: gets the crashed participant, its reason and exactly its
/// in-flight requests (`requests`, `count`; those whose reply is already on its way are not
/// included), on the conversation's worker thread; returns TRANSOM_COMPENSATE_CONTINUE or
/// TRANSOM_COMPENSATE_FAIL (any other value fails).
#[repr(C)]
pub struct transom_compensate_callback {
    /// Passed to `call` and `drop`.
    pub ctx: *mut c_void,
    /// The decision function.
    pub call: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            participant: transom_pid,
            reason: *const transom_exit_reason,
            requests: *const transom_in_flight,
            count: usize,
        ) -> transom_compensate_decision,
    >,
    /// Releases `ctx`; may be NULL. Runs once, at the latest when the conversation is freed.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// How to open a conversation. There is no default crash policy: `on_crash` 0 is refused.
#[repr(C)]
pub struct transom_conversation_config {
    /// At least one participant.
    pub participants: *const transom_participant,
    /// Number of participants.
    pub participant_count: usize,
    /// TRANSOM_ON_CRASH_FAIL, _ROUTE_TO_NEXT or _COMPENSATE (required).
    pub on_crash: transom_on_crash,
    /// Required (non-NULL `call`) with TRANSOM_ON_CRASH_COMPENSATE; must have a NULL `call`
    /// otherwise.
    pub compensate: transom_compensate_callback,
    /// The conversation's deadline: this many nanoseconds after open (then phase
    /// DEADLINE_EXCEEDED, enforced by its actor); 0 or UINT64_MAX for none.
    pub timeout_ns: u64,
    /// TRANSOM_MODE_EPHEMERAL (0) or TRANSOM_MODE_DURABLE (refused: TRANSOM_ERR_UNSUPPORTED).
    pub mode: transom_mode,
}

/// A participant crash: given to crash callbacks and by transom_conversation_await_crash.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_crash_info {
    /// The conversation's pid.
    pub conversation: transom_pid,
    /// The participant that crashed.
    pub participant: transom_pid,
    /// Its exit reason, unchanged.
    pub reason: transom_exit_reason,
    /// The policy applied.
    pub policy: transom_on_crash,
    /// When the conversation observed the exit, on transom_monotonic_ns()'s clock
    /// (CLOCK_MONOTONIC: compare it with clock_gettime(CLOCK_MONOTONIC, ...)).
    pub observed_at_ns: u64,
    /// The participant's index in the conversation (the order of
    /// transom_conversation_config.participants and transom_conversation_participants).
    pub participant_index: usize,
}

/// A crash callback: `call` runs exactly once per crashed participant — on the conversation's
/// worker thread, or at once on the registering thread for crashes that happened before it was
/// added — with no transom lock held; a crash observed while the callback is being added may be
/// reported on the worker while that replay runs. `drop` (may be NULL) runs exactly once after
/// the last call.
#[repr(C)]
pub struct transom_crash_callback {
    /// Passed to `call` and `drop`.
    pub ctx: *mut c_void,
    /// Called once per crash; `info` is valid during the call.
    pub call: Option<unsafe extern "C" fn(ctx: *mut c_void, info: *const transom_crash_info)>,
    /// Releases `ctx`; may be NULL.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// A received reply's header (`transom_conversation_receive`); the payload went to the
/// caller's buffer and its length to `*out_len`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct transom_reply {
    /// The request it answers.
    pub request_id: u64,
    /// The participant that sent it.
    pub from: transom_pid,
}

/// One participant (`transom_conversation_participants`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_participant_state {
    /// Its pid.
    pub pid: transom_pid,
    /// True when the conversation spawned it (close stops it).
    pub spawned: bool,
    /// Its health.
    pub health: transom_health,
    /// Its exit reason once exited (kind TRANSOM_EXIT_NORMAL with code 0 while alive).
    pub exit_reason: transom_exit_reason,
    /// When the exit was observed (transom_monotonic_ns clock); 0 while alive.
    pub exited_at_ns: u64,
}

/// A snapshot (`transom_conversation_state`); the participants are read with
/// transom_conversation_participants.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_conversation_snapshot {
    /// The conversation actor's pid.
    pub pid: transom_pid,
    /// The phase.
    pub phase: transom_phase,
    /// When the configured deadline passes (transom_monotonic_ns clock); 0 for none.
    pub deadline_ns: u64,
    /// Requests sent (re-forwards not counted).
    pub sent: u64,
    /// Replies received.
    pub received: u64,
    /// Participants that crashed.
    pub crashed: u64,
    /// Requests without a reply taken by the conversation yet.
    pub in_flight: usize,
    /// Replies buffered for receive.
    pub buffered: usize,
    /// The conversation's W3C traceparent, NUL-terminated (requests carry child spans).
    pub traceparent: [c_char; 56],
    /// The number of participants (fixed at open).
    pub participant_count: usize,
}

/// A request as a participant receives it from a conversation
/// (`transom_conversation_parse_request`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_request {
    /// Echo it in the reply.
    pub request_id: u64,
    /// The request's W3C `traceparent` (55 characters + NUL): a child span of the
    /// conversation's trace.
    pub traceparent: [c_char; 56],
    /// The request payload (points into the message).
    pub payload: *const u8,
    /// Payload length.
    pub payload_len: usize,
}

pub(super) type CrashCall = unsafe extern "C" fn(*mut c_void, *const transom_crash_info);
pub(super) type CompensateCall = unsafe extern "C" fn(
    *mut c_void,
    transom_pid,
    *const transom_exit_reason,
    *const transom_in_flight,
    usize,
) -> transom_compensate_decision;

pub(super) fn policy_raw(p: CrashPolicy) -> transom_on_crash {
    match p {
        CrashPolicy::Fail => TRANSOM_ON_CRASH_FAIL,
        CrashPolicy::RouteToNext => TRANSOM_ON_CRASH_ROUTE_TO_NEXT,
        CrashPolicy::Compensate => TRANSOM_ON_CRASH_COMPENSATE,
    }
}

pub(super) fn crash_info(i: &CrashInfo) -> transom_crash_info {
    transom_crash_info {
        conversation: i.conversation.as_raw(),
        participant: i.participant.as_raw(),
        reason: transom_exit_reason::of(&i.reason),
        policy: policy_raw(i.policy),
        observed_at_ns: i.observed_at_ns,
        participant_index: i.participant_index,
    }
}

pub(super) fn participant_state(p: &ParticipantState) -> transom_participant_state {
    transom_participant_state {
        pid: p.pid.as_raw(),
        spawned: p.spawned,
        health: match p.health {
            Health::Alive => TRANSOM_HEALTH_ALIVE,
            Health::Exited => TRANSOM_HEALTH_EXITED,
            Health::Crashed => TRANSOM_HEALTH_CRASHED,
        },
        exit_reason: transom_exit_reason::of(
            p.exit_reason.as_ref().unwrap_or(&ExitReason::normal()),
        ),
        exited_at_ns: p.exited_at_ns.unwrap_or(0),
    }
}

pub(super) fn phase_raw(p: Phase) -> transom_phase {
    p.as_raw()
}

pub(super) fn in_flight(f: &InFlight) -> transom_in_flight {
    let mut r = transom_in_flight {
        request_id: f.request_id,
        participant: f.participant.as_raw(),
        payload: f.payload.as_ptr(),
        payload_len: f.payload.len(),
        traceparent: [0; 56],
    };
    copy_c_str(&mut r.traceparent, &f.trace.to_traceparent());
    r
}

/// The C compensation as the Rust policy's callback.
pub(super) fn compensate_fn(cb: Closure<CompensateCall>) -> OnCrash {
    OnCrash::Compensate(Box::new(
        move |pid: Pid, reason: &ExitReason, requests: &[InFlight]| {
            let r = transom_exit_reason::of(reason);
            let list: Vec<transom_in_flight> = requests.iter().map(in_flight).collect();
            // SAFETY: the C callback promised to accept these arguments; r and list (and the
            // payloads they point to) live across the call.
            let decision =
                unsafe { (cb.call())(cb.ctx(), pid.as_raw(), &r, list.as_ptr(), list.len()) };
            if decision == TRANSOM_COMPENSATE_CONTINUE {
                Compensation::Continue
            } else {
                Compensation::Fail
            }
        },
    ))
}
