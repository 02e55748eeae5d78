//! C ABI of the actor runtime: runtimes, callback processes, mailboxes owned by C threads,
//! sends, exits, links and monitors.
//!
//! Invariant: only conversion, checks and ownership here. Every C closure handed in is owned by
//! transom from the call on (also when the call fails: its `drop` has then run), and its `drop`
//! runs exactly once, after its last call.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::closure::Closure;
use super::status::{free_handle, guard, transom_status, Failure, TRANSOM_OK, TRANSOM_TIMEOUT};
use crate::actor::{
    ActorError, Behaviour, ExitKind, ExitReason, Mailbox, Message, MonitorRef, Pid, ProcessContext,
    Runtime, RuntimeHandle, SpawnOptions,
};

/// A process id: never reused within a runtime; 0 names no process.
pub type transom_pid = u64;

/// Exit kind: a normal exit (does not kill linked processes).
pub const TRANSOM_EXIT_NORMAL: i32 = 0;
/// Exit kind: the runtime or a supervisor shut the process down.
pub const TRANSOM_EXIT_SHUTDOWN: i32 = 1;
/// Exit kind: an error (a C behaviour's non-zero status is the code).
pub const TRANSOM_EXIT_ERROR: i32 = 2;
/// Exit kind: a Rust behaviour panicked (the message is the panic text).
pub const TRANSOM_EXIT_PANIC: i32 = 3;
/// Exit kind: killed with TRANSOM_EXIT_KILLED (untrappable when sent with transom_runtime_exit).
pub const TRANSOM_EXIT_KILLED: i32 = 4;
/// Exit kind: a mailbox handle was freed without a prior exit.
pub const TRANSOM_EXIT_DROPPED: i32 = 5;
/// Exit kind: the linked or monitored process did not exist.
pub const TRANSOM_EXIT_NOPROC: i32 = 6;
/// Exit kind: a deadline expired.
pub const TRANSOM_EXIT_DEADLINE_EXCEEDED: i32 = 7;

/// Message kind: bytes sent with a send function.
pub const TRANSOM_MESSAGE_USER: i32 = 0;
/// Message kind: an exit signal received while trapping exits.
pub const TRANSOM_MESSAGE_EXIT: i32 = 1;

/// Why a process exited: data that reaches links, monitors and conversations unchanged.
/// Initialise inputs like `transom_exit_reason r = {TRANSOM_EXIT_ERROR, 42, "boom"};`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct transom_exit_reason {
    /// One of the TRANSOM_EXIT_* kinds.
    pub kind: i32,
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
        for (dst, &b) in out
            .message
            .iter_mut()
            .zip(r.message().as_bytes().iter().take(255))
        {
            *dst = b as c_char;
        }
        out
    }

    pub(crate) fn parse(&self) -> Result<ExitReason, Failure> {
        let kind = ExitKind::from_raw(self.kind)
            .ok_or_else(|| Failure::invalid("reason->kind is not a TRANSOM_EXIT_* kind"))?;
        let bytes: Vec<u8> = self.message.iter().map(|&c| c as u8).collect();
        let end = bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Failure::invalid("reason->message is not NUL-terminated"))?;
        let message = std::str::from_utf8(&bytes[..end])
            .map_err(|_| Failure::invalid("reason->message is not valid UTF-8"))?;
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
    pub kind: i32,
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
/// worker thread; return 0 to continue, non-zero to end the process with reason
/// TRANSOM_EXIT_ERROR whose code is that status. `drop` (may be NULL) runs exactly once after
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
/// monitor is removed without firing.
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
    /// Non-zero: start trapping exits (exit signals arrive as TRANSOM_MESSAGE_EXIT messages).
    pub trap_exit: u32,
    /// Monitor the new process with this callback (`monitor.call` NULL: no monitor).
    pub monitor: transom_monitor_callback,
}

/// An actor runtime: a process table and a pool of worker threads.
///
/// Thread safety: every function taking a runtime may be called from any number of threads at
/// once, including from inside transom callbacks, except transom_runtime_free, which must not
/// race other calls on the same handle.
pub struct transom_runtime {
    runtime: Runtime,
}

/// A mailbox process owned by a C thread: it receives with a timeout.
///
/// Thread safety: one thread at a time (the view a receive returns belongs to the handle); the
/// handle may move between threads.
pub struct transom_mailbox {
    mailbox: Option<Mailbox>,
    pid: Pid,
    last: Option<Message>,
    last_reason: transom_exit_reason,
}

type HandleFn = unsafe extern "C" fn(*mut c_void, transom_pid, *const transom_message) -> i32;
type MonitorFn = unsafe extern "C" fn(*mut c_void, transom_pid, *const transom_exit_reason);

/// Adapts a C behaviour to the runtime's `Behaviour`.
struct CBehaviour(Closure<HandleFn>);

impl Behaviour for CBehaviour {
    fn handle(&mut self, ctx: &ProcessContext, msg: Message) -> Result<(), ExitReason> {
        let (view, _reason) = message_view(&msg);
        // SAFETY: the C behaviour promised to accept (ctx, pid, message); `view` and the data it
        // points to (msg, _reason) live across the call.
        let status = unsafe { (self.0.call())(self.0.ctx(), ctx.pid().as_raw(), &view) };
        if status == 0 {
            Ok(())
        } else {
            Err(ExitReason::error(
                status,
                "the C behaviour returned a non-zero status",
            ))
        }
    }
}

/// A view of `msg` for C, with the exit reason it may point to.
fn message_view(msg: &Message) -> (transom_message, Box<transom_exit_reason>) {
    match msg {
        Message::User { from, bytes } => (
            transom_message {
                kind: TRANSOM_MESSAGE_USER,
                from: from.as_raw(),
                bytes: bytes.as_ptr(),
                len: bytes.len(),
                reason: std::ptr::null(),
            },
            Box::new(transom_exit_reason::of(&ExitReason::normal())),
        ),
        Message::Exit { pid, reason } => {
            let r = Box::new(transom_exit_reason::of(reason));
            (
                transom_message {
                    kind: TRANSOM_MESSAGE_EXIT,
                    from: pid.as_raw(),
                    bytes: std::ptr::null(),
                    len: 0,
                    reason: &*r,
                },
                r,
            )
        }
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

pub(crate) fn runtime_handle<'a>(rt: *const transom_runtime) -> Result<&'a RuntimeHandle, Failure> {
    // SAFETY: non-NULL handles come from transom_runtime_new and stay valid until
    // transom_runtime_free (the documented contract).
    unsafe { rt.as_ref() }
        .map(|r| &*r.runtime)
        .ok_or_else(|| Failure::null("runtime"))
}

fn out<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller promises a non-NULL output pointer is writable.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::null(name))
}

pub(crate) fn bytes<'a>(p: *const u8, len: usize, name: &'static str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: non-NULL and the caller promises len readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

pub(crate) fn pid_arg(pid: transom_pid, name: &'static str) -> Result<Pid, Failure> {
    if pid == 0 {
        return Err(Failure::invalid(format!(
            "{name} is 0, which names no process"
        )));
    }
    Ok(Pid::from_raw(pid))
}

/// Converts a timeout in nanoseconds (UINT64_MAX: as long as it takes).
pub(crate) fn timeout(ns: u64) -> Duration {
    if ns == u64::MAX {
        Duration::MAX
    } else {
        Duration::from_nanos(ns)
    }
}

fn reason_arg(r: *const transom_exit_reason) -> Result<ExitReason, Failure> {
    // SAFETY: the caller promises a non-NULL reason is readable.
    unsafe { r.as_ref() }
        .ok_or_else(|| Failure::null("reason"))?
        .parse()
}

/// Takes ownership of a C behaviour (its drop runs when the returned value is dropped).
pub(crate) fn behaviour_arg(b: transom_behaviour_callback) -> Result<Box<dyn Behaviour>, Failure> {
    Closure::new(b.ctx, b.call, b.drop)
        .try_map(|h| h)
        .map(|c| Box::new(CBehaviour(c)) as Box<dyn Behaviour>)
        .ok_or_else(|| Failure::null("behaviour.call"))
}

/// Reads spawn options (NULL = none), taking ownership of the monitor callback.
fn options_arg(o: *const transom_spawn_options) -> Result<SpawnOptions, Failure> {
    let mut opts = SpawnOptions::new();
    // SAFETY: the caller promises a non-NULL options pointer is readable.
    let Some(o) = (unsafe { o.as_ref() }) else {
        return Ok(opts);
    };
    // A NULL monitor.call means "no monitor": its drop (if any) runs now.
    let monitor = Closure::new(o.monitor.ctx, o.monitor.call, o.monitor.drop).try_map(|f| f);
    if o.link != 0 {
        opts = opts.link(Pid::from_raw(o.link));
    }
    opts = opts.trap_exit(o.trap_exit != 0);
    if let Some(cb) = monitor {
        opts = opts.monitor(monitor_fn(cb));
    }
    Ok(opts)
}

/// Creates a runtime with `workers` worker threads (0: the available parallelism; at most
/// 1024). Idle workers spin briefly, then park (no CPU while idle). `*out_runtime` is written
/// only on success.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_new(
    workers: usize,
    out_runtime: *mut *mut transom_runtime,
) -> transom_status {
    guard(|| {
        let o = out(out_runtime, "out_runtime")?;
        let runtime = Runtime::new(workers)?;
        *o = Box::into_raw(Box::new(transom_runtime { runtime }));
        Ok(TRANSOM_OK)
    })
}

/// Shuts the runtime down and frees it (NULL is accepted): every live process exits with
/// TRANSOM_EXIT_SHUTDOWN (monitors see it), every blocked call on its mailboxes and
/// conversations returns TRANSOM_ERR_CLOSED, the workers are joined, and every behaviour's and
/// monitor's drop has run when this returns. An orderly shutdown is not a crash: conversations
/// end without crash reports (their later calls return TRANSOM_ERR_CLOSED). Called from inside a transom
/// callback (on a worker) it does the same but cannot join the calling worker, which exits as
/// soon as the callback returns. Mailbox and conversation handles stay valid to free.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_free(runtime: *mut transom_runtime) {
    // SAFETY: a non-NULL runtime comes from transom_runtime_new and is freed once (the C contract).
    unsafe { free_handle(runtime) }
}

/// Spawns a callback process running `behaviour` with `options` (NULL: none), writing its pid
/// to `*out_pid` and the monitor's reference to `*out_monitor` (may be NULL; 0 when
/// `options->monitor.call` is NULL). The runtime owns the behaviour and the monitor callback from
/// now on, also when this fails (their drops have then run).
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_spawn(
    runtime: *const transom_runtime,
    behaviour: transom_behaviour_callback,
    options: *const transom_spawn_options,
    out_pid: *mut transom_pid,
    out_monitor: *mut u64,
) -> transom_status {
    // Own every closure before any check can fail.
    let b = behaviour_arg(behaviour);
    let opts = options_arg(options);
    guard(move || {
        let rt = runtime_handle(runtime)?;
        let o = out(out_pid, "out_pid")?;
        let spawned = rt.spawn(b?, opts?)?;
        *o = spawned.pid.as_raw();
        // SAFETY: the caller promises a non-NULL out_monitor is writable.
        if let Some(m) = unsafe { out_monitor.as_mut() } {
            *m = spawned.monitor.map_or(0, MonitorRef::as_raw);
        }
        Ok(TRANSOM_OK)
    })
}

/// Sends `len` bytes (NULL allowed when len is 0) to `to`, from no process (the receiver sees
/// from == 0). Delivery is FIFO per sender/receiver pair. TRANSOM_ERR_NOPROC when `to` is dead
/// (the message is dropped, as in Erlang).
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_send(
    runtime: *const transom_runtime,
    to: transom_pid,
    data: *const u8,
    len: usize,
) -> transom_status {
    guard(|| {
        let rt = runtime_handle(runtime)?;
        let to = pid_arg(to, "to")?;
        rt.send(to, bytes(data, len, "data")?)?;
        Ok(TRANSOM_OK)
    })
}

/// Like transom_runtime_send, labelled as sent by process `from` (e.g. a C behaviour sending
/// as itself: pass its `self_pid`). The label is not checked against the calling code.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_send_from(
    runtime: *const transom_runtime,
    from: transom_pid,
    to: transom_pid,
    data: *const u8,
    len: usize,
) -> transom_status {
    guard(|| {
        let rt = runtime_handle(runtime)?;
        let to = pid_arg(to, "to")?;
        rt.send_from(Pid::from_raw(from), to, bytes(data, len, "data")?)?;
        Ok(TRANSOM_OK)
    })
}

/// Sends exit signal `*reason` to `pid`: a process that traps exits receives it as a
/// TRANSOM_MESSAGE_EXIT message, unless the kind is TRANSOM_EXIT_KILLED, which is untrappable;
/// any other process exits with that reason (TRANSOM_EXIT_NORMAL included: this is an explicit
/// termination). TRANSOM_ERR_NOPROC when `pid` is dead.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_exit(
    runtime: *const transom_runtime,
    pid: transom_pid,
    reason: *const transom_exit_reason,
) -> transom_status {
    guard(|| {
        let rt = runtime_handle(runtime)?;
        let pid = pid_arg(pid, "pid")?;
        rt.exit(pid, reason_arg(reason)?)?;
        Ok(TRANSOM_OK)
    })
}

/// Links `a` and `b` (bidirectional: an abnormal exit of one kills the other unless it traps
/// exits). When one is already dead the other receives the NOPROC exit signal at once and
/// TRANSOM_ERR_NOPROC is returned.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_link(
    runtime: *const transom_runtime,
    a: transom_pid,
    b: transom_pid,
) -> transom_status {
    guard(|| {
        let rt = runtime_handle(runtime)?;
        rt.link(pid_arg(a, "a")?, pid_arg(b, "b")?)?;
        Ok(TRANSOM_OK)
    })
}

/// Removes the link between `a` and `b` (no effect when there is none). TRANSOM_ERR_NOPROC when
/// `a` is not a live process.
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_unlink(
    runtime: *const transom_runtime,
    a: transom_pid,
    b: transom_pid,
) -> transom_status {
    guard(|| {
        let rt = runtime_handle(runtime)?;
        rt.unlink(pid_arg(a, "a")?, pid_arg(b, "b")?)?;
        Ok(TRANSOM_OK)
    })
}

/// Monitors `pid`: `callback.call` runs exactly once with its exit reason (at once, on a
/// worker, with TRANSOM_EXIT_NOPROC when `pid` is already dead). Monitors stack and never kill
/// the watcher. `*out_monitor` receives the reference for transom_runtime_demonitor. The
/// runtime owns the callback from now on, also on failure (its drop has then run).
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_monitor(
    runtime: *const transom_runtime,
    pid: transom_pid,
    callback: transom_monitor_callback,
    out_monitor: *mut u64,
) -> transom_status {
    let cb = Closure::new(callback.ctx, callback.call, callback.drop).try_map(|f| f);
    guard(move || {
        let cb = cb.ok_or_else(|| Failure::null("callback.call"))?;
        let rt = runtime_handle(runtime)?;
        let o = out(out_monitor, "out_monitor")?;
        let pid = pid_arg(pid, "pid")?;
        *o = rt.monitor(pid, monitor_fn(cb))?.as_raw();
        Ok(TRANSOM_OK)
    })
}

/// Removes a monitor: once this returns its callback is not running and will never run (from
/// inside that very callback it returns at once). TRANSOM_OK when this stopped the callback,
/// TRANSOM_ERR_NOT_FOUND when it already ran (or the reference is unknown).
#[no_mangle]
pub unsafe extern "C" fn transom_runtime_demonitor(
    runtime: *const transom_runtime,
    monitor: u64,
) -> transom_status {
    guard(|| {
        let rt = runtime_handle(runtime)?;
        if rt.demonitor(MonitorRef::from_raw(monitor)) {
            Ok(TRANSOM_OK)
        } else {
            Err(Failure::new(
                super::status::TRANSOM_ERR_NOT_FOUND,
                "the monitor already fired or does not exist",
            ))
        }
    })
}

/// Opens a mailbox process owned by the calling C code, with `options` (NULL: none; the monitor
/// callback is owned from now on, also on failure). `*out_mailbox` is written only on success;
/// `*out_pid` (may be NULL) receives its pid.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_open(
    runtime: *const transom_runtime,
    options: *const transom_spawn_options,
    out_mailbox: *mut *mut transom_mailbox,
    out_pid: *mut transom_pid,
) -> transom_status {
    let opts = options_arg(options);
    guard(move || {
        let rt = runtime_handle(runtime)?;
        let o = out(out_mailbox, "out_mailbox")?;
        let mailbox = rt.open_mailbox(opts?)?;
        let pid = mailbox.pid();
        // SAFETY: the caller promises a non-NULL out_pid is writable.
        if let Some(p) = unsafe { out_pid.as_mut() } {
            *p = pid.as_raw();
        }
        *o = Box::into_raw(Box::new(transom_mailbox {
            mailbox: Some(mailbox),
            pid,
            last: None,
            last_reason: transom_exit_reason::of(&ExitReason::normal()),
        }));
        Ok(TRANSOM_OK)
    })
}

fn mailbox_mut<'a>(mb: *mut transom_mailbox) -> Result<&'a mut transom_mailbox, Failure> {
    // SAFETY: non-NULL handles come from transom_mailbox_open, used by one thread at a time.
    unsafe { mb.as_mut() }.ok_or_else(|| Failure::null("mailbox"))
}

pub(crate) fn live(mb: &transom_mailbox) -> Result<&Mailbox, Failure> {
    mb.mailbox
        .as_ref()
        .ok_or_else(|| Failure::from(ActorError::Closed))
}

/// Waits up to `timeout_ns` nanoseconds (UINT64_MAX: no limit of its own) for the next message
/// and describes it in `*out_message`, whose pointers stay valid until the next receive on this
/// mailbox or its free. TRANSOM_TIMEOUT when nothing came (a message arriving later is not
/// lost); TRANSOM_ERR_CLOSED once the process has exited (e.g. killed through a link) or the
/// runtime shut down.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_receive(
    mailbox: *mut transom_mailbox,
    timeout_ns: u64,
    out_message: *mut transom_message,
) -> transom_status {
    guard(|| {
        let mb = mailbox_mut(mailbox)?;
        let o = out(out_message, "out_message")?;
        let msg = match live(mb)?.receive(timeout(timeout_ns)) {
            Ok(m) => m,
            Err(ActorError::Timeout) => return Ok(TRANSOM_TIMEOUT),
            Err(e) => return Err(e.into()),
        };
        if let Message::Exit { reason, .. } = &msg {
            mb.last_reason = transom_exit_reason::of(reason);
        }
        let stored = mb.last.insert(msg);
        let (mut view, _) = message_view(stored);
        if view.kind == TRANSOM_MESSAGE_EXIT {
            view.reason = &mb.last_reason;
        }
        *o = view;
        Ok(TRANSOM_OK)
    })
}

/// Sends bytes from this mailbox's process to `to` (see transom_runtime_send).
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_send(
    mailbox: *mut transom_mailbox,
    to: transom_pid,
    data: *const u8,
    len: usize,
) -> transom_status {
    guard(|| {
        let mb = mailbox_mut(mailbox)?;
        let to = pid_arg(to, "to")?;
        live(mb)?.send(to, bytes(data, len, "data")?)?;
        Ok(TRANSOM_OK)
    })
}

/// Writes this mailbox's pid to `*out_pid` (also after it exited).
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_pid(
    mailbox: *const transom_mailbox,
    out_pid: *mut transom_pid,
) -> transom_status {
    guard(|| {
        // SAFETY: non-NULL handles come from transom_mailbox_open.
        let mb = unsafe { mailbox.as_ref() }.ok_or_else(|| Failure::null("mailbox"))?;
        *out(out_pid, "out_pid")? = mb.pid.as_raw();
        Ok(TRANSOM_OK)
    })
}

/// Ends this mailbox's process with `*reason` (TRANSOM_EXIT_NORMAL for a clean exit: linked
/// processes survive). Later receives return TRANSOM_ERR_CLOSED; free the handle as usual.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_exit(
    mailbox: *mut transom_mailbox,
    reason: *const transom_exit_reason,
) -> transom_status {
    guard(|| {
        let mb = mailbox_mut(mailbox)?;
        let r = reason_arg(reason)?;
        let m = mb
            .mailbox
            .take()
            .ok_or_else(|| Failure::from(ActorError::Closed))?;
        m.exit(r)?;
        Ok(TRANSOM_OK)
    })
}

/// Frees the handle (NULL is accepted). If its process has not exited through
/// transom_mailbox_exit, it exits now with TRANSOM_EXIT_DROPPED (abnormal: linked processes and
/// conversations see a crash), so a C thread that dies holding a mailbox crashes cleanly.
#[no_mangle]
pub unsafe extern "C" fn transom_mailbox_free(mailbox: *mut transom_mailbox) {
    // SAFETY: a non-NULL mailbox comes from transom_mailbox_open and is freed once (the C contract).
    unsafe { free_handle(mailbox) }
}

// `transom_runtime` is used from many threads through `*const`: Runtime must be Sync.
const _: fn() = || {
    fn assert_sync<T: Sync>() {}
    assert_sync::<Runtime>();
};
