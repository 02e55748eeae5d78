//! C ABI of supervised conversations: open with participants and a required crash policy,
//! send/receive with request ids, crash callbacks, await_crash, state snapshots, close.
//!
//! Invariant: only conversion, checks and ownership here. Crash callbacks are registrations
//! (`ffi/closure.rs`): freeing the conversation waits for their calls in flight on other
//! threads, and each callback's `drop` runs exactly once after its last call.

use crate::sync::{Mutex, MutexGuard};
use std::ffi::{c_char, c_void};
use std::time::Instant;

use super::actor::{
    behaviour_arg, bytes, pid_arg, runtime_handle, timeout, transom_behaviour_callback,
    transom_exit_reason, transom_pid,
};
use super::closure::{Closure, Registration};
use super::status::{
    guard, transom_status, Failure, TRANSOM_ERR_BUFFER_TOO_SMALL, TRANSOM_OK, TRANSOM_TIMEOUT,
};
use crate::actor::{ExitReason, Pid};
use crate::conversation::{
    monotonic_ns, Compensation, Conversation, ConversationConfig, ConversationError, CrashInfo,
    CrashPolicy, Health, InFlight, Mode, OnCrash, Participant, Reply,
};

/// Crash policy: the conversation fails; buffered replies are still received, then
/// TRANSOM_ERR_PARTICIPANT_CRASHED.
pub const TRANSOM_ON_CRASH_FAIL: u32 = 1;
/// Crash policy: the dead participant's in-flight requests are re-sent to the next live
/// participant; the conversation fails only when none is left.
pub const TRANSOM_ON_CRASH_ROUTE_TO_NEXT: u32 = 2;
/// Crash policy: a compensation callback gets the in-flight requests and decides. A CONTINUE
/// with no live participant left keeps the phase; later sends return TRANSOM_ERR_NOPROC.
pub const TRANSOM_ON_CRASH_COMPENSATE: u32 = 3;

/// Compensation decision: carry on without the dead participant.
pub const TRANSOM_COMPENSATE_CONTINUE: i32 = 0;
/// Compensation decision: fail the conversation.
pub const TRANSOM_COMPENSATE_FAIL: i32 = 1;

/// Conversation mode: nothing is kept beyond the conversation's life.
pub const TRANSOM_MODE_EPHEMERAL: u32 = 0;
/// Conversation mode: journal into a store — refused with TRANSOM_ERR_UNSUPPORTED for now.
pub const TRANSOM_MODE_DURABLE: u32 = 1;

/// Phase: opened, nothing sent or received yet.
pub const TRANSOM_PHASE_CREATED: i32 = 0;
/// Phase: at least one send or receive happened.
pub const TRANSOM_PHASE_ACTIVE: i32 = 1;
/// Phase: no more sends; replies can still be received.
pub const TRANSOM_PHASE_COMPLETING: i32 = 2;
/// Phase: closed (final).
pub const TRANSOM_PHASE_CLOSED: i32 = 3;
/// Phase: failed by a crash policy.
pub const TRANSOM_PHASE_FAILED: i32 = 4;
/// Phase: the configured timeout expired.
pub const TRANSOM_PHASE_DEADLINE_EXCEEDED: i32 = 5;

/// Participant health: alive.
pub const TRANSOM_HEALTH_ALIVE: i32 = 0;
/// Participant health: exited normally.
pub const TRANSOM_HEALTH_EXITED: i32 = 1;
/// Participant health: crashed (exited abnormally).
pub const TRANSOM_HEALTH_CRASHED: i32 = 2;

/// A supervised conversation.
///
/// Thread safety: every function may be called from any number of threads at once (receive and
/// await_crash may block several threads), except transom_conversation_free, which must not
/// race other calls on the same handle.
pub struct transom_conversation {
    conversation: Conversation,
    callbacks: Mutex<Vec<Registration<CrashFn>>>,
    /// The COMPENSATE callback, closed (and dropped) by transom_conversation_free.
    compensate: Option<Registration<CompensateCall>>,
    /// A reply that did not fit the caller's buffer: handed out first by the next receive.
    pending: Mutex<Option<Reply>>,
}

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
/// in-flight requests, on the conversation's worker thread; returns
/// TRANSOM_COMPENSATE_CONTINUE or TRANSOM_COMPENSATE_FAIL (any other value fails).
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
        ) -> i32,
    >,
    /// Releases `ctx`; may be NULL. Runs once when the conversation is freed.
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
    pub on_crash: u32,
    /// Required (non-NULL `call`) with TRANSOM_ON_CRASH_COMPENSATE; must have a NULL `call`
    /// otherwise.
    pub compensate: transom_compensate_callback,
    /// The conversation times out this many nanoseconds after open (phase TIMED_OUT, enforced
    /// by its actor); 0 for none.
    pub timeout_ns: u64,
    /// TRANSOM_MODE_EPHEMERAL (0) or TRANSOM_MODE_DURABLE (refused: TRANSOM_ERR_UNSUPPORTED).
    pub mode: u32,
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
    /// The policy applied: TRANSOM_ON_CRASH_*.
    pub policy: u32,
    /// When the conversation observed the exit, on transom_monotonic_ns()'s clock.
    pub observed_at_ns: u64,
}

/// A crash callback: `call` runs exactly once per crashed participant — on the conversation's
/// worker thread, or at once on the registering thread for crashes that already happened —
/// with no transom lock held. `drop` (may be NULL) runs exactly once after the last call.
#[repr(C)]
pub struct transom_crash_callback {
    /// Passed to `call` and `drop`.
    pub ctx: *mut c_void,
    /// Called once per crash; `info` is valid during the call.
    pub call: Option<unsafe extern "C" fn(ctx: *mut c_void, info: *const transom_crash_info)>,
    /// Releases `ctx`; may be NULL.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// A received reply's header (`transom_conversation_receive`); the payload is copied into the
/// caller's buffer.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct transom_reply {
    /// The request it answers.
    pub request_id: u64,
    /// The participant that sent it.
    pub from: transom_pid,
    /// Payload length (the needed capacity on TRANSOM_ERR_BUFFER_TOO_SMALL).
    pub len: usize,
}

/// One participant in a state snapshot.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_participant_state {
    /// Its pid.
    pub pid: transom_pid,
    /// 1 when the conversation spawned it (close stops it).
    pub spawned: u32,
    /// TRANSOM_HEALTH_*.
    pub health: i32,
    /// Its exit reason once exited (kind TRANSOM_EXIT_NORMAL with code 0 while alive).
    pub exit_reason: transom_exit_reason,
    /// When the exit was observed (transom_monotonic_ns clock); 0 while alive.
    pub exited_at_ns: u64,
}

/// A snapshot (`transom_conversation_state`). Set `participants`/`participants_capacity` to
/// receive the participants (may be NULL/0); `participant_count` says how many there are.
#[repr(C)]
pub struct transom_conversation_snapshot {
    /// The conversation actor's pid.
    pub pid: transom_pid,
    /// TRANSOM_PHASE_*.
    pub phase: i32,
    /// When the configured timeout expires (transom_monotonic_ns clock); 0 for none.
    pub deadline_ns: u64,
    /// Requests sent (re-forwards not counted).
    pub sent: u64,
    /// Replies received.
    pub received: u64,
    /// Participants that crashed.
    pub crashed: u64,
    /// Requests without a reply yet.
    pub in_flight: usize,
    /// Replies buffered for receive.
    pub buffered: usize,
    /// The conversation's W3C traceparent, NUL-terminated (requests carry child spans).
    pub traceparent: [c_char; 56],
    /// Caller array for the participants (may be NULL when `participants_capacity` is 0).
    pub participants: *mut transom_participant_state,
    /// Entries in `participants`.
    pub participants_capacity: usize,
    /// Out: the number of participants (more than the capacity: only that many were written).
    pub participant_count: usize,
}

type CrashFn = unsafe extern "C" fn(*mut c_void, *const transom_crash_info);
type CompensateCall = unsafe extern "C" fn(
    *mut c_void,
    transom_pid,
    *const transom_exit_reason,
    *const transom_in_flight,
    usize,
) -> i32;

fn policy_raw(p: CrashPolicy) -> u32 {
    match p {
        CrashPolicy::Fail => TRANSOM_ON_CRASH_FAIL,
        CrashPolicy::RouteToNext => TRANSOM_ON_CRASH_ROUTE_TO_NEXT,
        CrashPolicy::Compensate => TRANSOM_ON_CRASH_COMPENSATE,
    }
}

fn crash_info(i: &CrashInfo) -> transom_crash_info {
    transom_crash_info {
        conversation: i.conversation.as_raw(),
        participant: i.participant.as_raw(),
        reason: transom_exit_reason::of(&i.reason),
        policy: policy_raw(i.policy),
        observed_at_ns: i.observed_at_ns,
    }
}

fn traceparent(s: &str) -> [c_char; 56] {
    let mut out = [0 as c_char; 56];
    for (dst, b) in out.iter_mut().zip(s.bytes().take(55)) {
        *dst = b as c_char;
    }
    out
}

fn compensate_fn(
    reg: Registration<CompensateCall>,
) -> impl FnMut(Pid, &ExitReason, &[InFlight]) -> Compensation + Send {
    move |pid: Pid, reason: &ExitReason, requests: &[InFlight]| {
        let r = transom_exit_reason::of(reason);
        let list: Vec<transom_in_flight> = requests
            .iter()
            .map(|f| transom_in_flight {
                request_id: f.request_id,
                participant: f.participant.as_raw(),
                payload: f.payload.as_ptr(),
                payload_len: f.payload.len(),
                traceparent: traceparent(&f.trace.to_traceparent()),
            })
            .collect();
        // SAFETY: the C callback promised to accept these arguments; r and list (and the
        // payloads they point to) live across the call.
        let decision = reg.invoke(|cb| unsafe {
            (cb.call())(cb.ctx(), pid.as_raw(), &r, list.as_ptr(), list.len())
        });
        // A closed registration means the conversation is being freed: fail.
        if decision == Some(TRANSOM_COMPENSATE_CONTINUE) {
            Compensation::Continue
        } else {
            Compensation::Fail
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data behind these locks cannot be left half-updated by a panic: recover.
    m.lock()
}

fn conv_ref<'a>(c: *const transom_conversation) -> Result<&'a transom_conversation, Failure> {
    // SAFETY: non-NULL handles come from transom_conversation_open and stay valid until
    // transom_conversation_free (the documented contract).
    unsafe { c.as_ref() }.ok_or_else(|| Failure::null("conversation"))
}

fn out<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller promises a non-NULL output pointer is writable.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::null(name))
}

/// Takes ownership of every closure in the config (participants' behaviours, compensate) and
/// builds the Rust config; on error everything taken so far has been dropped.
fn config_arg(
    cfg: &transom_conversation_config,
) -> Result<(ConversationConfig, Option<Registration<CompensateCall>>), Failure> {
    let compensate = Closure::new(cfg.compensate.ctx, cfg.compensate.call, cfg.compensate.drop)
        .try_map(|f| f)
        .map(Registration::new);
    let kept = compensate.clone();
    if cfg.participant_count > 0 && cfg.participants.is_null() {
        return Err(Failure::null("config->participants"));
    }
    // Take every entry's behaviour before reporting any error, so that all their drops run.
    let taken: Vec<Result<Participant, Failure>> = (0..cfg.participant_count)
        .map(|i| {
            // SAFETY: the caller promises participant_count readable entries; i < count. Each
            // entry is read once, taking ownership of its behaviour.
            let p = unsafe { cfg.participants.add(i).read() };
            if p.pid != 0 {
                Ok(Participant::External(Pid::from_raw(p.pid)))
            } else {
                behaviour_arg(p.behaviour).map(Participant::Spawn)
            }
        })
        .collect();
    let participants = taken.into_iter().collect::<Result<Vec<_>, _>>()?;
    if participants.is_empty() {
        return Err(Failure::invalid(
            "a conversation needs at least one participant",
        ));
    }
    let on_crash = match (cfg.on_crash, compensate) {
        (TRANSOM_ON_CRASH_FAIL, None) => OnCrash::Fail,
        (TRANSOM_ON_CRASH_ROUTE_TO_NEXT, None) => OnCrash::RouteToNext,
        (TRANSOM_ON_CRASH_COMPENSATE, Some(reg)) => {
            OnCrash::Compensate(Box::new(compensate_fn(reg)))
        }
        (TRANSOM_ON_CRASH_COMPENSATE, None) => {
            return Err(Failure::null(
                "config->compensate.call (required by COMPENSATE)",
            ))
        }
        (TRANSOM_ON_CRASH_FAIL | TRANSOM_ON_CRASH_ROUTE_TO_NEXT, Some(_)) => {
            return Err(Failure::invalid(
                "config->compensate is only for TRANSOM_ON_CRASH_COMPENSATE",
            ))
        }
        _ => return Err(Failure::invalid(
            "config->on_crash is required: TRANSOM_ON_CRASH_FAIL, _ROUTE_TO_NEXT or _COMPENSATE",
        )),
    };
    let mode = match cfg.mode {
        TRANSOM_MODE_EPHEMERAL => Mode::Ephemeral,
        TRANSOM_MODE_DURABLE => Mode::Durable,
        _ => {
            return Err(Failure::invalid(
                "config->mode is not a TRANSOM_MODE_* value",
            ))
        }
    };
    let mut c = ConversationConfig::new(participants, on_crash).mode(mode);
    if cfg.timeout_ns > 0 {
        c = c.timeout(timeout(cfg.timeout_ns));
    }
    Ok((c, kept))
}

/// Opens a conversation on `runtime`: returns once its actor traps exits and is linked to every
/// participant. A dead participant fails the open with TRANSOM_ERR_NOPROC and leaves nothing
/// behind. The conversation owns every behaviour and the compensate callback of `*config` from
/// the call on, also when it fails (their drops have then run). `*out_conversation` is written
/// only on success.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_open(
    runtime: *const super::actor::transom_runtime,
    config: *const transom_conversation_config,
    out_conversation: *mut *mut transom_conversation,
) -> transom_status {
    guard(|| {
        // SAFETY: the caller promises a non-NULL config is readable.
        let cfg = unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        let (cfg, compensate) = config_arg(cfg)?;
        // A failed open below drops `cfg`; closing the registration then runs its drop now.
        let close_on_error = |e: Failure| {
            if let Some(reg) = &compensate {
                reg.close();
            }
            e
        };
        let rt = runtime_handle(runtime).map_err(close_on_error)?;
        let o = out(out_conversation, "out_conversation").map_err(close_on_error)?;
        let conversation = Conversation::open(rt, cfg).map_err(|e| close_on_error(e.into()))?;
        *o = Box::into_raw(Box::new(transom_conversation {
            conversation,
            compensate,
            callbacks: Mutex::new(Vec::new()),
            pending: Mutex::new(None),
        }));
        Ok(TRANSOM_OK)
    })
}

/// Sends `len` payload bytes as a new request to participant `to` (0: the next live one,
/// round-robin), writing its request id to `*out_request_id` (may be NULL). Requests carry the
/// id and a child span of the conversation's trace. TRANSOM_ERR_NOPROC when no live participant
/// can take it; TRANSOM_ERR_PARTICIPANT_CRASHED, _TIMED_OUT, _CLOSED or _WRONG_STATE
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
        let c = conv_ref(conversation)?;
        let target = if to == 0 {
            None
        } else {
            Some(pid_arg(to, "to")?)
        };
        let id = c
            .conversation
            .send(target, bytes(payload, len, "payload")?)?;
        // SAFETY: the caller promises a non-NULL out_request_id is writable.
        if let Some(o) = unsafe { out_request_id.as_mut() } {
            *o = id;
        }
        Ok(TRANSOM_OK)
    })
}

/// Receives the oldest reply, waiting up to `timeout_ns` (UINT64_MAX: no limit of its own; the
/// conversation's timeout, close and death still end the wait). The payload is copied into
/// `buf` (`cap` bytes; NULL allowed when cap is 0); `*out_reply` gets its request id, sender
/// and length. When `cap` is too small: TRANSOM_ERR_BUFFER_TOO_SMALL with `out_reply->len` set,
/// and the reply is kept for the next receive. TRANSOM_TIMEOUT when nothing came (a later reply
/// is not lost). After a FAIL-policy crash buffered replies come first, then
/// TRANSOM_ERR_PARTICIPANT_CRASHED; after the conversation's own timeout TRANSOM_ERR_DEADLINE_EXCEEDED;
/// after close TRANSOM_ERR_CLOSED.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_receive(
    conversation: *const transom_conversation,
    timeout_ns: u64,
    out_reply: *mut transom_reply,
    buf: *mut u8,
    cap: usize,
) -> transom_status {
    guard(|| {
        let c = conv_ref(conversation)?;
        let o = out(out_reply, "out_reply")?;
        if cap > 0 && buf.is_null() {
            return Err(Failure::null("buf"));
        }
        let mut pending = lock(&c.pending).take();
        // After close every receive is CLOSED, a reply kept from a too-small buffer included.
        if pending.is_some() && c.conversation.state().phase == crate::conversation::Phase::Closed {
            pending = None;
        }
        let reply = match pending {
            Some(r) => r,
            None => match c.conversation.receive(timeout(timeout_ns)) {
                Ok(r) => r,
                Err(ConversationError::Timeout) => return Ok(TRANSOM_TIMEOUT),
                Err(e) => return Err(e.into()),
            },
        };
        *o = transom_reply {
            request_id: reply.request_id,
            from: reply.from.as_raw(),
            len: reply.payload.len(),
        };
        if reply.payload.len() > cap {
            let needed = reply.payload.len();
            *lock(&c.pending) = Some(reply);
            return Err(Failure::new(
                TRANSOM_ERR_BUFFER_TOO_SMALL,
                format!("the reply has {needed} bytes; it is kept for the next receive"),
            ));
        }
        if !reply.payload.is_empty() {
            // SAFETY: buf has cap >= len writable bytes (checked non-NULL above when cap > 0).
            unsafe {
                std::ptr::copy_nonoverlapping(reply.payload.as_ptr(), buf, reply.payload.len())
            };
        }
        Ok(TRANSOM_OK)
    })
}

/// Declares that no more requests will be sent (phase COMPLETING); replies can still be
/// received.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_complete(
    conversation: *const transom_conversation,
) -> transom_status {
    guard(|| {
        conv_ref(conversation)?.conversation.complete()?;
        Ok(TRANSOM_OK)
    })
}

/// Registers a crash callback (see transom_crash_callback): called exactly once per crashed
/// participant, also for crashes that happened before it was registered (then at once, on this
/// thread; also after close, which reports no new crashes). The conversation owns the callback
/// from now on, also on failure.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_on_crash(
    conversation: *const transom_conversation,
    callback: transom_crash_callback,
) -> transom_status {
    let cb = Closure::new(callback.ctx, callback.call, callback.drop).try_map(|f| f);
    guard(move || {
        let cb = cb.ok_or_else(|| Failure::null("callback.call"))?;
        let c = conv_ref(conversation)?;
        let reg = Registration::new(cb);
        lock(&c.callbacks).push(reg.clone());
        c.conversation.on_crash(move |info: &CrashInfo| {
            let i = crash_info(info);
            // SAFETY: the C callback promised to accept (ctx, info); i lives across the call.
            reg.invoke(|cb| unsafe { (cb.call())(cb.ctx(), &i) });
        });
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
        let c = conv_ref(conversation)?;
        let o = out(out_info, "out_info")?;
        match c.conversation.await_crash(timeout(timeout_ns)) {
            Ok(info) => {
                *o = crash_info(&info);
                Ok(TRANSOM_OK)
            }
            Err(ConversationError::Timeout) => Ok(TRANSOM_TIMEOUT),
            Err(e) => Err(e.into()),
        }
    })
}

/// Writes 1 to `*out_crashed` when a participant has crashed, 0 otherwise (never blocks).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_has_crashed(
    conversation: *const transom_conversation,
    out_crashed: *mut u32,
) -> transom_status {
    guard(|| {
        let c = conv_ref(conversation)?;
        *out(out_crashed, "out_crashed")? = u32::from(c.conversation.has_crashed());
        Ok(TRANSOM_OK)
    })
}

/// Fills `*out_state` with a snapshot (see transom_conversation_snapshot for the participants
/// array). TRANSOM_ERR_NULL_ARGUMENT when `participants` is NULL with a non-zero capacity.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_state(
    conversation: *const transom_conversation,
    out_state: *mut transom_conversation_snapshot,
) -> transom_status {
    guard(|| {
        let c = conv_ref(conversation)?;
        let o = out(out_state, "out_state")?;
        if o.participants_capacity > 0 && o.participants.is_null() {
            return Err(Failure::null("out_state->participants"));
        }
        let st = c.conversation.state();
        let now = Instant::now();
        o.pid = c.conversation.pid().as_raw();
        o.phase = st.phase.as_raw();
        o.deadline_ns = st.deadline.map_or(0, |d| {
            monotonic_ns().saturating_add(d.saturating_duration_since(now).as_nanos() as u64)
        });
        o.sent = st.sent;
        o.received = st.received;
        o.crashed = st.crashed;
        o.in_flight = st.in_flight;
        o.buffered = st.buffered;
        o.traceparent = traceparent(&st.trace.to_traceparent());
        o.participant_count = st.participants.len();
        for (i, p) in st
            .participants
            .iter()
            .take(o.participants_capacity)
            .enumerate()
        {
            let entry = transom_participant_state {
                pid: p.pid.as_raw(),
                spawned: u32::from(p.spawned),
                health: match p.health {
                    Health::Alive => TRANSOM_HEALTH_ALIVE,
                    Health::Exited => TRANSOM_HEALTH_EXITED,
                    Health::Crashed => TRANSOM_HEALTH_CRASHED,
                },
                exit_reason: transom_exit_reason::of(
                    p.exit_reason.as_ref().unwrap_or(&ExitReason::normal()),
                ),
                exited_at_ns: p.exited_at_ns.unwrap_or(0),
            };
            // SAFETY: the caller promises participants_capacity writable entries; i < capacity.
            unsafe { o.participants.add(i).write(entry) };
        }
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
        let c = conv_ref(conversation)?;
        *out(out_pid, "out_pid")? = c.conversation.pid().as_raw();
        Ok(TRANSOM_OK)
    })
}

/// Closes the conversation: idempotent, valid in every phase (FAILED and TIMED_OUT included).
/// Pending receives and crash waits return TRANSOM_ERR_CLOSED; spawned participants are
/// stopped, external ones unlinked; the actor stops. Never waits for a callback, so it may be
/// called from inside one.
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_close(
    conversation: *const transom_conversation,
) -> transom_status {
    guard(|| {
        conv_ref(conversation)?.conversation.close();
        Ok(TRANSOM_OK)
    })
}

/// Closes (if needed) and frees the conversation (NULL is accepted). Waits for crash callbacks
/// running on other threads; from inside one of this conversation's crash callbacks it does not
/// wait (that callback's drop then runs when it returns). Every crash and compensate
/// callback's drop has run (or runs right after the callback in progress) when this returns;
/// spawned participants' behaviours are dropped once their processes have exited (at the
/// latest by transom_runtime_free).
#[no_mangle]
pub unsafe extern "C" fn transom_conversation_free(conversation: *mut transom_conversation) {
    if conversation.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: a non-NULL conversation comes from transom_conversation_open, freed once.
        let c = unsafe { Box::from_raw(conversation) };
        c.conversation.close();
        for reg in lock(&c.callbacks).iter() {
            reg.close();
        }
        if let Some(reg) = &c.compensate {
            reg.close();
        }
        drop(c);
        Ok(TRANSOM_OK)
    });
}

/// Nanoseconds on transom's monotonic clock (the clock of crash and state timestamps).
#[no_mangle]
pub extern "C" fn transom_monotonic_ns() -> u64 {
    monotonic_ns()
}
