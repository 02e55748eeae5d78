//! C ABI of the actor runtime: runtimes, callback processes, mailboxes owned by C threads,
//! sends, exits, links and monitors (plus, until they move to `ffi/conversation.rs`, the
//! conversation request/reply helpers participants use).
//!
//! Invariant: only conversion, checks and ownership here. Every C closure handed in is owned by
//! transom from the call on (also when the call fails: its `drop` has then run), and its `drop`
//! runs exactly once, after its last call.

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::args::{self, bytes, closure, handle, handle_mut, input, out, Handle, Out};
use super::closure::Closure;
use super::log::{self, TRANSOM_LOG_INFO};
use super::status::{
    guard, transom_status, Failure, TRANSOM_ERR_NOT_FOUND, TRANSOM_ERR_WRONG_STATE, TRANSOM_OK,
    TRANSOM_TIMEOUT,
};
use crate::actor::{
    Behaviour, ExitKind, ExitReason, Mailbox, Message, MonitorRef, Pid, ProcessContext, Runtime,
    RuntimeHandle, SpawnOptions,
};

/// A process id: never reused within a runtime. 0 names no process: given as the target of a
/// call (send, exit, link, unlink, add_monitor, a reply) it gives TRANSOM_ERR_NOPROC and
/// nothing else happens.
pub type transom_pid = u64;

/// Why a process exited: one of the TRANSOM_EXIT_* values. NORMAL and SHUTDOWN are orderly
/// exits that kill no linked process; every other kind is abnormal (a crash) and kills linked
/// processes that do not trap exits.
pub type transom_exit_kind = i32;
/// Exit kind: a normal exit (does not kill linked processes).
pub const TRANSOM_EXIT_NORMAL: transom_exit_kind = 0;
/// Exit kind: an orderly stop, not a crash, whoever asked for it (transom_runtime_close, a
/// supervisor, or transom_runtime_exit with this kind): linked processes are not killed (those
/// trapping exits get a TRANSOM_MESSAGE_EXIT message).
pub const TRANSOM_EXIT_SHUTDOWN: transom_exit_kind = 1;
/// Exit kind: an error (a C behaviour's non-zero status is the code, unless the behaviour set
/// its reason with transom_behaviour_set_exit_reason).
pub const TRANSOM_EXIT_ERROR: transom_exit_kind = 2;
/// Exit kind: a Rust behaviour panicked (the message is the panic text).
pub const TRANSOM_EXIT_PANIC: transom_exit_kind = 3;
/// Exit kind: killed with TRANSOM_EXIT_KILLED (untrappable when sent with transom_runtime_exit).
pub const TRANSOM_EXIT_KILLED: transom_exit_kind = 4;
/// Exit kind: a mailbox handle was freed without a prior exit.
pub const TRANSOM_EXIT_DROPPED: transom_exit_kind = 5;
/// Exit kind: the linked or monitored process did not exist.
pub const TRANSOM_EXIT_NOPROC: transom_exit_kind = 6;
/// Exit kind: a configured deadline passed.
pub const TRANSOM_EXIT_DEADLINE_EXCEEDED: transom_exit_kind = 7;

/// What a received message carries: one of the TRANSOM_MESSAGE_* values.
pub type transom_message_kind = i32;
/// Message kind: bytes sent with a send function.
pub const TRANSOM_MESSAGE_USER: transom_message_kind = 0;
/// Message kind: an exit signal received while trapping exits.
pub const TRANSOM_MESSAGE_EXIT: transom_message_kind = 1;

/// Why a process exited: data that reaches links, monitors and conversations unchanged.
/// Initialise inputs like `transom_exit_reason r = {TRANSOM_EXIT_ERROR, 42, "boom"};`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_exit_reason {
    /// One of the TRANSOM_EXIT_* kinds.
    pub kind: transom_exit_kind,
    /// A caller-defined code (a C behaviour's status for TRANSOM_EXIT_ERROR).
    pub code: i32,
    /// A NUL-terminated UTF-8 message of at most 255 bytes.
    pub message: [c_char; 256],
}

impl transom_exit_reason {
    pub(crate) fn of(r: &ExitReason) -> Self {
        let mut out = transom_exit_reason {
            kind: r.kind().as_raw(),
            code: r.code(),
            message: [0; 256],
        };
        args::copy_c_str(&mut out.message, r.message());
        out
    }

    pub(crate) fn parse(&self) -> Result<ExitReason, Failure> {
        let invalid = |what| Failure::fixed(super::status::TRANSOM_ERR_INVALID_ARGUMENT, what);
        let kind = ExitKind::from_raw(self.kind)
            .ok_or_else(|| invalid("reason->kind is not a TRANSOM_EXIT_* kind"))?;
        let bytes = self.message.map(|c| c as u8);
        let end = bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| invalid("reason->message is not NUL-terminated"))?;
        let message = std::str::from_utf8(&bytes[..end])
            .map_err(|_| invalid("reason->message is not valid UTF-8"))?;
        Ok(ExitReason::new(kind, self.code, message))
    }
}

/// A message as a behaviour or mailbox sees it. For TRANSOM_MESSAGE_USER: `from` sent `bytes`
/// (`from` is 0 when a plain thread sent it through the runtime). For TRANSOM_MESSAGE_EXIT:
/// linked process `from` exited with `*reason`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_message {
    /// TRANSOM_MESSAGE_USER or TRANSOM_MESSAGE_EXIT.
    pub kind: transom_message_kind,
    /// The sender, or the exited process.
    pub from: transom_pid,
    /// The payload (USER); NULL for EXIT.
    pub bytes: *const u8,
    /// Payload length (USER); 0 for EXIT.
    pub len: usize,
    /// The exit reason (EXIT); NULL for USER.
    pub reason: *const transom_exit_reason,
}

/// A callback process's code: `call` is called for one message at a time, on a runtime
/// worker thread; return 0 to continue, non-zero to end the process: with the reason the call
/// set with transom_behaviour_set_exit_reason, or else TRANSOM_EXIT_ERROR whose code is that
/// status and whose message is "the C behaviour returned a non-zero status". `drop` (may be NULL) runs exactly once after
/// the process has exited and its last `call` returned.
#[repr(C)]
pub struct transom_behaviour_callback {
    /// Passed to `call` and `drop`.
    pub ctx: *mut c_void,
    /// Handles one message; the message and its bytes are valid during the call only.
    pub call: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            self_pid: transom_pid,
            message: *const transom_message,
        ) -> i32,
    >,
    /// Releases `ctx`; may be NULL.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// A monitor callback: `call` runs at most once, on a runtime worker thread, with the monitored
/// pid and its exit reason; `drop` (may be NULL) runs exactly once afterwards, or when the
/// monitor is removed (or refused) without firing.
#[repr(C)]
pub struct transom_monitor_callback {
    /// Passed to `call` and `drop`.
    pub ctx: *mut c_void,
    /// Called once when the monitored process exits (NULL: no monitor, where optional).
    pub call: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            pid: transom_pid,
            reason: *const transom_exit_reason,
        ),
    >,
    /// Releases `ctx`; may be NULL.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// Options applied atomically with the creation of a process. Zero-initialise for none.
#[repr(C)]
pub struct transom_spawn_options {
    /// Link the new process to this pid (0: no link). When that process is already dead the
    /// new one receives the NOPROC exit signal at once.
    pub link: transom_pid,
    /// Start trapping exits (exit signals arrive as TRANSOM_MESSAGE_EXIT messages).
    pub trap_exit: bool,
    /// Monitor the new process with this callback (`monitor.call` NULL: no monitor); its id is
    /// written to the spawn's `out_monitor_id`.
    pub monitor: transom_monitor_callback,
}

/// An actor runtime: a process table and a pool of worker threads.
///
/// Thread safety: every function taking a runtime may be called from any number of threads at
/// once, including from inside transom callbacks and concurrently with transom_runtime_close;
/// only transom_runtime_free must not race other calls on the same handle.
pub struct transom_runtime {
    runtime: Runtime,
}

impl Handle for transom_runtime {}

impl transom_runtime {
    /// The runtime's handle, for the other subsystems' entry points.
    pub(crate) fn handle(&self) -> &RuntimeHandle {
        &self.runtime
    }
}

/// A mailbox process owned by C code: it receives with a timeout.
///
/// Thread safety: one thread at a time (the view a receive returns belongs to the handle); the
/// handle may move between threads.
pub struct transom_mailbox {
    mailbox: Mailbox,
    /// The message the last successful receive described (its bytes back the view).
    last: Option<Message>,
    /// That message's exit reason in C form, when it is an EXIT message.
    last_reason: Option<transom_exit_reason>,
}

impl Handle for transom_mailbox {}

impl transom_mailbox {
    /// The mailbox, for the other subsystems' entry points (every call that acts as its process
    /// returns `Closed` once the process exited).
    pub(crate) fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }
}

type BehaviourFn = unsafe extern "C" fn(*mut c_void, transom_pid, *const transom_message) -> i32;
type MonitorFn = unsafe extern "C" fn(*mut c_void, transom_pid, *const transom_exit_reason);

/// Adapts a C behaviour to the runtime's `Behaviour`.
struct CBehaviour(Closure<BehaviourFn>);

thread_local! {
    /// `Some` while a C behaviour's call runs on this thread: the exit reason it set with
    /// transom_behaviour_set_exit_reason, if any (saved and restored around each call).
    static BEHAVIOUR_EXIT: RefCell<Option<Option<ExitReason>>> = const { RefCell::new(None) };
}

/// Restores the enclosing state of [`BEHAVIOUR_EXIT`] when a call ends; yields the reason set.
struct BehaviourCall(Option<Option<ExitReason>>);

impl BehaviourCall {
    fn enter() -> Self {
        BehaviourCall(BEHAVIOUR_EXIT.with(|r| r.replace(Some(None))))
    }
    fn leave(mut self) -> Option<ExitReason> {
        let outer = self.0.take();
        BEHAVIOUR_EXIT.with(|r| r.replace(outer)).flatten()
    }
}

impl Drop for BehaviourCall {
    fn drop(&mut self) {
        if let Some(outer) = self.0.take() {
            let _ = BEHAVIOUR_EXIT.try_with(|r| r.replace(Some(outer)));
        }
    }
}

impl Behaviour for CBehaviour {
    fn handle(&mut self, ctx: &ProcessContext, msg: Message) -> Result<(), ExitReason> {
        let mut reason = None;
        let view = message_view(&msg, &mut reason);
        let call = BehaviourCall::enter();
        // SAFETY: the C behaviour promised to accept (ctx, pid, message); `view` and what it
        // points to (msg, reason) live across the call.
        let status = unsafe { (self.0.call())(self.0.ctx(), ctx.pid().as_raw(), &view) };
        let set = call.leave();
        if status == 0 {
            return Ok(());
        }
        let reason = set.unwrap_or_else(|| {
            ExitReason::error(status, "the C behaviour returned a non-zero status")
        });
        log::log(
            TRANSOM_LOG_INFO,
            format_args!(
                "process {} ended by its behaviour (status {status}): {reason}",
                ctx.pid().as_raw()
            ),
        );
        Err(reason)
    }
}

/// Sets the exit reason of the behaviour call running on this thread: when that call returns
/// non-zero, its process exits with `*reason` (any TRANSOM_EXIT_* kind; copied now) instead of
/// {TRANSOM_EXIT_ERROR, status, "the C behaviour returned a non-zero status"}; when it returns 0
/// the reason is discarded. A later call in the same behaviour call replaces it. This is how
/// the C++ and Python bindings turn an exception into a reason carrying its type and message
/// (truncated to 255 bytes). Valid only inside a behaviour's `call`, on its thread:
/// TRANSOM_ERR_WRONG_STATE anywhere else (a monitor, a gate, a plain thread);
/// TRANSOM_ERR_INVALID_ARGUMENT for an unknown kind or a message that is not NUL-terminated
/// UTF-8.
#[no_mangle]
pub unsafe extern "C" fn transom_behaviour_set_exit_reason(
    reason: *const transom_exit_reason,
) -> transom_status {
    guard(|| {
        let parsed = input!(reason)?.parse()?;
        BEHAVIOUR_EXIT.with(|r| match &mut *r.borrow_mut() {
            Some(slot) => {
                *slot = Some(parsed);
                Ok(TRANSOM_OK)
            }
            None => Err(Failure::fixed(
                TRANSOM_ERR_WRONG_STATE,
                "transom_behaviour_set_exit_reason is valid only inside a behaviour's call, on its thread",
            )),
        })
    })
}

/// A view of `msg` for C. An exit message's reason is stored in `reason`, which the view points
/// to: keep both alive as long as the view.
fn message_view(msg: &Message, reason: &mut Option<transom_exit_reason>) -> transom_message {
    match msg {
        Message::User { from, bytes } => transom_message {
            kind: TRANSOM_MESSAGE_USER,
            from: from.as_raw(),
            bytes: bytes.as_ptr(),
            len: bytes.len(),
            reason: std::ptr::null(),
        },
        Message::Exit { pid, reason: r } => transom_message {
            kind: TRANSOM_MESSAGE_EXIT,
            from: pid.as_raw(),
            bytes: std::ptr::null(),
            len: 0,
            reason: reason.insert(transom_exit_reason::of(r)),
        },
    }
}

/// Turns a C monitor callback into the runtime's one-shot closure. The closure owns the C
/// triple: calling consumes it (drop runs after the call), dropping it uncalled runs drop.
fn monitor_fn(cb: Closure<MonitorFn>) -> impl FnOnce(Pid, &ExitReason) + Send + 'static {
    move |pid: Pid, reason: &ExitReason| {
        let r = transom_exit_reason::of(reason);
        // SAFETY: the C callback promised to accept (ctx, pid, reason); r lives across the call.
        unsafe { (cb.call())(cb.ctx(), pid.as_raw(), &r) };
        drop(cb);
    }
}

/// Takes ownership of a C behaviour (its drop runs when the returned value is dropped; at once,
/// with NULL_ARGUMENT naming `behaviour.call`, when `call` is NULL).
pub(crate) fn behaviour_arg(
    behaviour: transom_behaviour_callback,
) -> Result<Box<dyn Behaviour>, Failure> {
    Ok(Box::new(CBehaviour(closure!(behaviour)?)))
}

/// Reads spawn options (NULL: none), taking ownership of the monitor callback (a NULL
/// `monitor.call` means no monitor: its drop runs now).
fn options_arg(options: *const transom_spawn_options) -> SpawnOptions {
    let Ok(o) = args::as_ref(options, "options") else {
        return SpawnOptions::new();
    };
    let monitor = Closure::new(o.monitor.ctx, o.monitor.call, o.monitor.drop).try_map(|f| f);
    let opts = SpawnOptions::new()
        .link(Pid::from_raw(o.link))
        .trap_exit(o.trap_exit);
    match monitor {
        Some(cb) => opts.monitor(monitor_fn(cb)),
        None => opts,
    }
}

/// Creates a runtime with `workers` worker threads (0: the available parallelism; at most
/// 1024). Idle workers spin briefly, then park (no CPU while idle).
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_new(
    workers: usize,
    out_runtime: *mut *mut transom_runtime,
) -> transom_status {
    guard(|| {
        let out_runtime = out!(out_runtime)?;
        transom_runtime {
            runtime: Runtime::new(workers)?,
        }
        .publish(out_runtime);
        Ok(TRANSOM_OK)
    })
}

/// Shuts the runtime down: every live process exits with TRANSOM_EXIT_SHUTDOWN (monitors see
/// it; an orderly stop, not a crash: conversations end without crash reports), every blocked
/// call on its mailboxes and conversations returns TRANSOM_ERR_CLOSED, the workers are joined,
/// and every behaviour's and monitor's drop has run when this returns. Idempotent (a second
/// call returns TRANSOM_OK); the handle stays valid and every later call on it returns
/// TRANSOM_ERR_CLOSED (transom_runtime_remove_monitor too). Called from inside a transom
/// callback (on a worker) it does the same but cannot join the calling worker, which stops as
/// soon as the callback returns; callbacks running on other workers may then still finish
/// after it returns (a later transom_runtime_free from another thread waits for them). Mailbox
/// and conversation handles stay valid to use (TRANSOM_ERR_CLOSED) and to free.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_close(runtime: *const transom_runtime) -> transom_status {
    guard(|| {
        handle!(runtime)?.runtime.close();
        Ok(TRANSOM_OK)
    })
}

/// Closes the runtime if it is open (see transom_runtime_close; also from inside a callback)
/// and releases the handle. NULL is accepted.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_free(runtime: *mut transom_runtime) {
    // SAFETY: a non-NULL runtime comes from transom_runtime_new and is freed once (the C contract).
    unsafe { transom_runtime::free(runtime) }
}

/// Spawns a callback process running `behaviour` with `options` (NULL: none), writing its pid
/// to `*out_pid` and the id of the options' monitor to `*out_monitor_id` (may be NULL; 0 when
/// `options->monitor.call` is NULL), the id transom_runtime_remove_monitor takes. The runtime
/// owns the behaviour and the monitor callback from now on, also when this fails (their drops
/// have then run).
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_spawn(
    runtime: *const transom_runtime,
    behaviour: transom_behaviour_callback,
    options: *const transom_spawn_options,
    out_pid: *mut transom_pid,
    out_monitor_id: *mut u64,
) -> transom_status {
    // Own every closure before any check can fail.
    let behaviour = behaviour_arg(behaviour);
    let options = options_arg(options);
    guard(move || {
        let rt = &handle!(runtime)?.runtime;
        let out_pid = out!(out_pid)?;
        let out_monitor_id = Out::new(out_monitor_id, "out_monitor_id").ok();
        let spawned = rt.spawn(behaviour?, options)?;
        out_pid.write(spawned.pid.as_raw());
        if let Some(o) = out_monitor_id {
            o.write(spawned.monitor.map_or(0, MonitorRef::as_raw));
        }
        Ok(TRANSOM_OK)
    })
}

/// Sends `len` bytes (NULL allowed when len is 0) to `to`, from no process (the receiver sees
/// from == 0). Delivery is FIFO per sender/receiver pair. TRANSOM_ERR_NOPROC when `to` is dead
/// or 0 (the message is dropped, as in Erlang).
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_send(
    runtime: *const transom_runtime,
    to: transom_pid,
    data: *const u8,
    len: usize,
) -> transom_status {
    guard(|| {
        let rt = &handle!(runtime)?.runtime;
        rt.send(Pid::from_raw(to), bytes!(data, len)?)?;
        Ok(TRANSOM_OK)
    })
}

/// Like transom_runtime_send, labelled as sent by process `from` (e.g. a C behaviour sending
/// as itself: pass its `self_pid`; 0 for no process). The label is not checked against the
/// calling code.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_send_from(
    runtime: *const transom_runtime,
    from: transom_pid,
    to: transom_pid,
    data: *const u8,
    len: usize,
) -> transom_status {
    guard(|| {
        let rt = &handle!(runtime)?.runtime;
        rt.send_from(Pid::from_raw(from), Pid::from_raw(to), bytes!(data, len)?)?;
        Ok(TRANSOM_OK)
    })
}

/// Sends exit signal `*reason` to `pid`: a process that traps exits receives it as a
/// TRANSOM_MESSAGE_EXIT message, unless the kind is TRANSOM_EXIT_KILLED, which is untrappable;
/// any other process exits with that reason (TRANSOM_EXIT_NORMAL and TRANSOM_EXIT_SHUTDOWN
/// included: this is an explicit termination). Its exit then reaches its links by the usual
/// rule: NORMAL and SHUTDOWN kill no linked process, every other kind kills those that do not
/// trap exits. TRANSOM_ERR_NOPROC when `pid` is dead or 0.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_exit(
    runtime: *const transom_runtime,
    pid: transom_pid,
    reason: *const transom_exit_reason,
) -> transom_status {
    guard(|| {
        let rt = &handle!(runtime)?.runtime;
        rt.exit(Pid::from_raw(pid), input!(reason)?.parse()?)?;
        Ok(TRANSOM_OK)
    })
}

/// Links `a` and `b` (bidirectional: an abnormal exit of one kills the other unless it traps
/// exits). When `b` is already dead `a` receives the NOPROC exit signal at once and
/// TRANSOM_ERR_NOPROC is returned. TRANSOM_ERR_NOPROC with no other effect when `a` is dead or
/// either pid is 0.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_link(
    runtime: *const transom_runtime,
    a: transom_pid,
    b: transom_pid,
) -> transom_status {
    guard(|| {
        let rt = &handle!(runtime)?.runtime;
        rt.link(Pid::from_raw(a), Pid::from_raw(b))?;
        Ok(TRANSOM_OK)
    })
}

/// Removes the link between `a` and `b` (no effect when there is none). TRANSOM_ERR_NOPROC when
/// `a` is not a live process or either pid is 0.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_unlink(
    runtime: *const transom_runtime,
    a: transom_pid,
    b: transom_pid,
) -> transom_status {
    guard(|| {
        let rt = &handle!(runtime)?.runtime;
        rt.unlink(Pid::from_raw(a), Pid::from_raw(b))?;
        Ok(TRANSOM_OK)
    })
}

/// Monitors `pid`: `callback.call` runs exactly once, on a worker, with its exit reason (at
/// once with TRANSOM_EXIT_NOPROC when `pid` is already dead or was never spawned). Monitors
/// stack and never kill the watcher. `*out_id` receives the id for
/// transom_runtime_remove_monitor. TRANSOM_ERR_NOPROC when `pid` is 0 (names no process: no
/// monitor, no call). The runtime owns the callback from now on, also on failure (its drop has
/// then run).
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_add_monitor(
    runtime: *const transom_runtime,
    pid: transom_pid,
    callback: transom_monitor_callback,
    out_id: *mut u64,
) -> transom_status {
    let callback = closure!(callback);
    guard(move || {
        let callback = callback?;
        let rt = &handle!(runtime)?.runtime;
        let out_id = out!(out_id)?;
        let id = rt.monitor(Pid::from_raw(pid), monitor_fn(callback))?;
        out_id.write(id.as_raw());
        Ok(TRANSOM_OK)
    })
}

/// Removes monitor `id`: once this returns its callback is not running and will never run
/// (called from inside that very callback it returns at once, and the callback's drop runs when
/// it returns). TRANSOM_OK when this stopped the callback before it ran (its drop has run);
/// TRANSOM_ERR_NOT_FOUND when no monitor with this id is registered — it already fired (a
/// monitor is registered until its callback has run, so this includes a call from inside it),
/// was removed, or never existed; TRANSOM_ERR_CLOSED after transom_runtime_close.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_remove_monitor(
    runtime: *const transom_runtime,
    id: u64,
) -> transom_status {
    guard(|| {
        let rt = &handle!(runtime)?.runtime;
        if rt.demonitor(MonitorRef::from_raw(id))? {
            Ok(TRANSOM_OK)
        } else {
            Err(Failure::new(
                TRANSOM_ERR_NOT_FOUND,
                format!("no monitor with id {id} (it fired, was removed, or never existed)"),
            ))
        }
    })
}

/// Opens a mailbox process owned by the calling C code, with `options` (NULL: none; the monitor
/// callback is owned from now on, also on failure). `*out_pid` (may be NULL) receives its pid.
/// The process ends with transom_mailbox_exit, or with TRANSOM_EXIT_DROPPED when the handle is
/// freed while it is alive.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_open(
    runtime: *const transom_runtime,
    options: *const transom_spawn_options,
    out_mailbox: *mut *mut transom_mailbox,
    out_pid: *mut transom_pid,
) -> transom_status {
    let options = options_arg(options);
    guard(move || {
        let rt = &handle!(runtime)?.runtime;
        let out_mailbox = out!(out_mailbox)?;
        let out_pid = Out::new(out_pid, "out_pid").ok();
        let mailbox = rt.open_mailbox(options)?;
        if let Some(o) = out_pid {
            o.write(mailbox.pid().as_raw());
        }
        transom_mailbox {
            mailbox,
            last: None,
            last_reason: None,
        }
        .publish(out_mailbox);
        Ok(TRANSOM_OK)
    })
}

/// Waits up to `timeout_ns` nanoseconds (UINT64_MAX: no limit of its own; 0: do not block) for
/// the next message and describes it in `*out_message`, whose pointers stay valid until the
/// next successful receive on this mailbox or its free. TRANSOM_TIMEOUT when nothing came (a
/// message arriving later is not lost); TRANSOM_ERR_CLOSED once the process has exited (e.g.
/// killed through a link) or the runtime was closed, also while waiting.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_receive(
    mailbox: *mut transom_mailbox,
    timeout_ns: u64,
    out_message: *mut transom_message,
) -> transom_status {
    guard(|| {
        let mb = handle_mut!(mailbox)?;
        let out_message = out!(out_message)?;
        let timeout = args::timeout(timeout_ns).unwrap_or(Duration::MAX);
        let Some(msg) = mb.mailbox.receive(timeout)? else {
            return Ok(TRANSOM_TIMEOUT);
        };
        let stored = mb.last.insert(msg);
        out_message.write(message_view(stored, &mut mb.last_reason));
        Ok(TRANSOM_OK)
    })
}

/// Sends bytes from this mailbox's process to `to` (see transom_runtime_send).
/// TRANSOM_ERR_CLOSED once this mailbox's process has exited.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_send(
    mailbox: *mut transom_mailbox,
    to: transom_pid,
    data: *const u8,
    len: usize,
) -> transom_status {
    guard(|| {
        let mb = handle!(mailbox)?;
        mb.mailbox.send(Pid::from_raw(to), bytes!(data, len)?)?;
        Ok(TRANSOM_OK)
    })
}

/// Writes the mailbox's pollable descriptor to `*out_fd`: readable while a
/// transom_mailbox_receive would not wait — a message is queued, or the process has exited
/// (the receive then returns TRANSOM_ERR_CLOSED) — and unreadable again once a receive took the
/// last message. Succeeds after the process exited too.
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
pub unsafe extern "C" fn transom_mailbox_fd(
    mailbox: *const transom_mailbox,
    out_fd: *mut std::ffi::c_int,
) -> transom_status {
    guard(|| {
        let mb = handle!(mailbox)?;
        let out = out!(out_fd)?;
        out.write(mb.mailbox.fd().map_err(super::status::descriptor_failure)?);
        Ok(TRANSOM_OK)
    })
}

/// Writes this mailbox's pid to `*out_pid` — the one mailbox call that still succeeds after its
/// process exited.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_pid(
    mailbox: *const transom_mailbox,
    out_pid: *mut transom_pid,
) -> transom_status {
    guard(|| {
        let mb = handle!(mailbox)?;
        out!(out_pid)?.write(mb.mailbox.pid().as_raw());
        Ok(TRANSOM_OK)
    })
}

/// Ends this mailbox's process with `*reason` (TRANSOM_EXIT_NORMAL for a clean exit: linked
/// processes survive). TRANSOM_ERR_CLOSED when the process had already exited (through an
/// earlier exit, a link, a kill or transom_runtime_close; its first reason stands), like every
/// other call on a mailbox whose process exited. Free the handle as usual afterwards.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_exit(
    mailbox: *mut transom_mailbox,
    reason: *const transom_exit_reason,
) -> transom_status {
    guard(|| {
        let mb = handle!(mailbox)?;
        mb.mailbox.exit(input!(reason)?.parse()?)?;
        Ok(TRANSOM_OK)
    })
}

/// Frees the handle (NULL is accepted). If its process is still alive it exits now with
/// TRANSOM_EXIT_DROPPED and the message "mailbox freed without exit" (abnormal: linked
/// processes and conversations see a crash; logged at TRANSOM_LOG_INFO), so a C thread that
/// dies holding a mailbox crashes cleanly.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_free(mailbox: *mut transom_mailbox) {
    if !mailbox.is_null() && log::enabled(TRANSOM_LOG_INFO) {
        // SAFETY: a non-NULL mailbox comes from transom_mailbox_open and is not freed yet.
        let mb = unsafe { &*mailbox };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // The exit the handle's drop would do, done here to know whether it happened.
            if mb.mailbox.exit(ExitReason::dropped()).is_ok() {
                log::log(
                    TRANSOM_LOG_INFO,
                    format_args!(
                        "mailbox {} freed without exit: its process exited DROPPED",
                        mb.mailbox.pid().as_raw()
                    ),
                );
            }
        }));
    }
    // SAFETY: a non-NULL mailbox comes from transom_mailbox_open and is freed once (the C contract).
    unsafe { transom_mailbox::free(mailbox) }
}

// `transom_runtime` is used from many threads through `*const`: Runtime must be Sync.
const _: fn() = || {
    fn assert_sync<T: Sync>() {}
    assert_sync::<Runtime>();
};
