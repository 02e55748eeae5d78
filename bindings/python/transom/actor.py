"""The actor runtime: processes with pids, Python behaviours, mailboxes owned by Python threads,
links, monitors and exit reasons as data."""

from __future__ import annotations

import ctypes
import enum
import threading
from ctypes import byref, c_uint64
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

from . import _callbacks, _ffi, _wait
from ._ffi import lib
from ._handle import Handle
from ._util import (
    INT32_MAX,
    INT32_MIN,
    check_callable,
    check_int,
    check_pid,
    require,
    timeout_ns,
)
from .errors import ERR_NOT_FOUND, ERR_PANIC, TIMEOUT, TransomError, check, closed

__all__ = [
    "ExitKind",
    "ExitReason",
    "Message",
    "Request",
    "Runtime",
    "Mailbox",
    "MESSAGE_USER",
    "MESSAGE_EXIT",
]

MESSAGE_USER = 0
MESSAGE_EXIT = 1
_UNSET = -1  # a message kind no message has: "receive wrote nothing"


class ExitKind(enum.IntEnum):
    NORMAL = 0
    SHUTDOWN = 1
    ERROR = 2
    PANIC = 3
    KILLED = 4
    DROPPED = 5
    NOPROC = 6
    DEADLINE_EXCEEDED = 7


@dataclass(frozen=True)
class ExitReason:
    """Why a process exited: ``kind`` (an :class:`ExitKind`), a caller-defined ``code`` and a
    ``message`` of at most 255 UTF-8 bytes."""

    kind: int = ExitKind.NORMAL
    code: int = 0
    message: str = ""

    def __post_init__(self) -> None:
        check_int("kind", self.kind, 0, INT32_MAX)
        check_int("code", self.code, INT32_MIN, INT32_MAX)
        if not isinstance(self.message, str):
            raise TypeError(f"message must be str, not {type(self.message).__name__}")
        if len(self.message.encode("utf-8")) > 255:
            raise ValueError("message must be at most 255 UTF-8 bytes")
        try:
            object.__setattr__(self, "kind", ExitKind(self.kind))
        except ValueError:
            pass

    @property
    def normal(self) -> bool:
        return self.kind == ExitKind.NORMAL

    def to_c(self) -> _ffi.transom_exit_reason:
        r = _ffi.transom_exit_reason()
        r.kind = int(self.kind)
        r.code = self.code
        r.message = self.message.encode("utf-8")
        return r

    @classmethod
    def from_c(cls, r: _ffi.transom_exit_reason) -> "ExitReason":
        return cls(int(r.kind), int(r.code), r.message.decode("utf-8", "replace"))


def _reason_arg(reason: Any) -> _ffi.transom_exit_reason:
    if isinstance(reason, ExitReason):
        return reason.to_c()
    if isinstance(reason, int) and not isinstance(reason, bool):
        return ExitReason(reason).to_c()
    raise TypeError(f"reason must be an ExitReason or an ExitKind, not {type(reason).__name__}")


@dataclass(frozen=True)
class Request:
    """A conversation request as a participant sees it: reply with its ``request_id`` to the
    conversation (the message's ``sender``)."""

    request_id: int
    traceparent: str
    payload: bytes
    conversation: int


class Message:
    """A received message. ``data`` is a read-only memoryview of the payload, without copy: it is
    valid until the next receive on the mailbox (or, in a behaviour, until the handler returns)
    and released then — copy it (``bytes(m.data)``) to keep it."""

    __slots__ = ("kind", "sender", "reason", "_data", "_raw")

    def __init__(self, raw: "ctypes._Pointer[_ffi.transom_message]") -> None:
        m = raw.contents
        self.kind: int = m.kind
        self.sender: int = getattr(m, "from")
        self.reason: Optional[ExitReason] = (
            ExitReason.from_c(m.reason.contents) if m.kind == MESSAGE_EXIT and m.reason else None
        )
        self._data: Optional[memoryview] = _ffi.view(_ffi.address_of(m.bytes), m.len)
        self._raw: Any = raw

    @property
    def is_exit(self) -> bool:
        return self.kind == MESSAGE_EXIT

    @property
    def valid(self) -> bool:
        return self._raw is not None

    @property
    def data(self) -> memoryview:
        if self._data is None:
            raise closed("message (its view ended at the next receive)")
        return self._data

    def bytes(self) -> bytes:
        return bytes(self.data)

    def request(self) -> Request:
        """Parses this message as a conversation request (``InvalidArgumentError`` if it is
        not one)."""
        if self._raw is None:
            raise closed("message (its view ended at the next receive)")
        out = _ffi.transom_request()
        check(lib.transom_conversation_parse_request(self._raw, byref(out)))
        payload = ctypes.string_at(out.payload, out.payload_len) if out.payload_len else b""
        return Request(out.request_id, out.traceparent.decode("ascii"), payload, self.sender)

    def _invalidate(self) -> None:
        if self._data is not None:
            try:
                self._data.release()
            except BufferError:
                pass
        self._data = None
        self._raw = None

    def __repr__(self) -> str:
        if self.kind == MESSAGE_EXIT:
            return f"<Message EXIT from={self.sender} reason={self.reason}>"
        n = len(self._data) if self._data is not None else "released"
        return f"<Message USER from={self.sender} len={n}>"


Handler = Callable[[int, Message], Optional[int]]
MonitorFn = Callable[[int, ExitReason], None]


def _handle_tramp_py(ctx: Optional[int], self_pid: int, message: Any) -> int:
    try:
        entry = _callbacks.lookup(ctx)
        if entry is None:
            return 0
        msg = Message(message)
        try:
            status = entry.call(self_pid, msg)
        finally:
            msg._invalidate()
        if status is None:
            return 0
        if isinstance(status, bool) or not isinstance(status, int) or not INT32_MIN <= status <= INT32_MAX:
            raise TypeError(f"a behaviour must return None or an int status, not {status!r}")
        return status
    except BaseException:
        _callbacks.report("a behaviour (the process ends with TRANSOM_EXIT_ERROR, code -3)")
        return ERR_PANIC


# The C function pointer (alive for the life of the process).
_handle_tramp = _ffi.HANDLE_FN(_handle_tramp_py)


def _monitor_tramp_py(ctx: Optional[int], pid: int, reason: Any) -> None:
    try:
        entry = _callbacks.lookup(ctx)
        if entry is not None:
            entry.call(pid, ExitReason.from_c(reason.contents))
    except BaseException:
        _callbacks.report("a monitor callback")


# The C function pointer (alive for the life of the process).
_monitor_tramp = _ffi.MONITOR_FN(_monitor_tramp_py)


def behaviour(handler: Handler) -> _ffi.transom_behaviour_callback:
    """A C behaviour running ``handler(self_pid, message)``; ownership passes to C with it."""
    check_callable("handler", handler)
    b = _ffi.transom_behaviour_callback()
    b.ctx = _callbacks.register(_callbacks.Entry(handler))
    b.call = _handle_tramp
    b.drop = _callbacks.DROP
    return b


def monitor_callback(fn: MonitorFn) -> _ffi.transom_monitor_callback:
    check_callable("monitor", fn)
    m = _ffi.transom_monitor_callback()
    m.ctx = _callbacks.register(_callbacks.Entry(fn))
    m.call = _monitor_tramp
    m.drop = _callbacks.DROP
    return m


def _spawn_options(link: Any, trap_exit: Any, monitor: Optional[MonitorFn]) -> _ffi.transom_spawn_options:
    o = _ffi.transom_spawn_options()
    o.link = check_pid("link", link, allow_zero=True)
    if not isinstance(trap_exit, bool):
        raise TypeError(f"trap_exit must be a bool, not {type(trap_exit).__name__}")
    o.trap_exit = trap_exit
    if monitor is not None:
        check_callable("monitor", monitor)
    return o


class Runtime(Handle):
    """An actor runtime (``transom_runtime``): every method may be called from any thread.
    ``close()`` shuts it down: live processes exit with SHUTDOWN, blocked mailbox receives
    return CLOSED, and every callback's drop has run when it returns."""

    _what = "runtime"
    _exit_order = 40

    def __init__(self, workers: int = 0) -> None:
        check_int("workers", workers, 0, 1024)
        out = ctypes.POINTER(_ffi.transom_runtime)()
        check(lib.transom_runtime_new(workers, byref(out)))
        super().__init__(out, lib.transom_runtime_free)

    def spawn(
        self,
        handler: Handler,
        *,
        link: int = 0,
        trap_exit: bool = False,
        monitor: Optional[MonitorFn] = None,
    ) -> int:
        """Spawns a process running ``handler(self_pid, message)`` for one message at a time on
        a runtime worker; it returns None/0 to continue or a non-zero int to exit with
        TRANSOM_EXIT_ERROR (that code). An exception is reported on stderr and ends the process
        with TRANSOM_EXIT_ERROR, code -3. Returns the pid."""
        return self.spawn_monitored(handler, link=link, trap_exit=trap_exit, monitor=monitor)[0]

    def spawn_monitored(
        self,
        handler: Handler,
        *,
        link: int = 0,
        trap_exit: bool = False,
        monitor: Optional[MonitorFn] = None,
    ) -> Tuple[int, int]:
        """Like :meth:`spawn`; returns ``(pid, monitor_ref)`` (ref 0 without a monitor)."""
        check_callable("handler", handler)
        opts = _spawn_options(link, trap_exit, monitor)
        with self._use() as rt:
            if monitor is not None:
                opts.monitor = monitor_callback(monitor)
            b = behaviour(handler)
            pid, ref = c_uint64(0), c_uint64(0)
            check(lib.transom_runtime_spawn(rt, b, byref(opts), byref(pid), byref(ref)))
            return pid.value, ref.value

    def send(self, to: int, data: Any) -> None:
        """Sends bytes to ``to`` (sender 0); NoProcError when it is dead or 0."""
        check_pid("to", to, allow_zero=True)
        ptr, n = _ffi.as_u8(data)
        with self._use() as rt:
            check(lib.transom_runtime_send(rt, to, ptr, n))

    def send_from(self, sender: int, to: int, data: Any) -> None:
        check_pid("sender", sender, allow_zero=True)
        check_pid("to", to, allow_zero=True)
        ptr, n = _ffi.as_u8(data)
        with self._use() as rt:
            check(lib.transom_runtime_send_from(rt, sender, to, ptr, n))

    def exit(self, pid: int, reason: Any = ExitKind.KILLED) -> None:
        """Sends exit signal ``reason`` (an ExitReason or ExitKind) to ``pid``. SHUTDOWN, like
        NORMAL, ends the process without killing the processes linked to it; NoProcError when
        ``pid`` is dead or 0."""
        check_pid("pid", pid, allow_zero=True)
        r = _reason_arg(reason)
        with self._use() as rt:
            check(lib.transom_runtime_exit(rt, pid, byref(r)))

    def link(self, a: int, b: int) -> None:
        check_pid("a", a, allow_zero=True)
        check_pid("b", b, allow_zero=True)
        with self._use() as rt:
            check(lib.transom_runtime_link(rt, a, b))

    def unlink(self, a: int, b: int) -> None:
        check_pid("a", a, allow_zero=True)
        check_pid("b", b, allow_zero=True)
        with self._use() as rt:
            check(lib.transom_runtime_unlink(rt, a, b))

    def add_monitor(self, pid: int, callback: MonitorFn) -> int:
        """Calls ``callback(pid, reason)`` once when ``pid`` exits (at once with NOPROC when it
        is dead), on a runtime worker. Returns the id for :meth:`remove_monitor`. NoProcError
        for pid 0, which names no process."""
        check_pid("pid", pid, allow_zero=True)
        check_callable("callback", callback)
        with self._use() as rt:
            m = monitor_callback(callback)
            monitor_id = c_uint64(0)
            check(lib.transom_runtime_add_monitor(rt, pid, m, byref(monitor_id)))
            return monitor_id.value

    def remove_monitor(self, monitor_id: int) -> bool:
        """Removes a monitor; its callback is not running and never will once this returns.
        True when this stopped it before it ran, False when it is no longer registered (it
        fired, was removed, or the id is unknown)."""
        check_int("monitor_id", monitor_id)
        with self._use() as rt:
            st = lib.transom_runtime_remove_monitor(rt, monitor_id)
        if st == ERR_NOT_FOUND:
            return False
        check(st)
        return True

    def reply(self, sender: int, conversation: int, request_id: int, payload: Any) -> None:
        """Replies to a conversation request as process ``sender`` (a behaviour's own pid)."""
        check_pid("sender", sender)
        check_pid("conversation", conversation, allow_zero=True)
        check_int("request_id", request_id)
        ptr, n = _ffi.as_u8(payload)
        with self._use() as rt:
            check(lib.transom_conversation_reply(rt, sender, conversation, request_id, ptr, n))

    def open_mailbox(
        self,
        *,
        link: int = 0,
        trap_exit: bool = False,
        monitor: Optional[MonitorFn] = None,
    ) -> "Mailbox":
        return Mailbox(self, link=link, trap_exit=trap_exit, monitor=monitor)


class Mailbox(Handle):
    """A process owned by Python code, receiving with a timeout. One thread at a time (it may
    move between threads). Closing it without a prior :meth:`exit` ends its process with
    TRANSOM_EXIT_DROPPED (abnormal: linked processes see a crash); closing it while another
    thread is blocked in :meth:`receive` kills the process (TRANSOM_EXIT_KILLED) so that the
    receive ends with ClosedError, then frees it."""

    _what = "mailbox"
    _exit_order = 30

    def __init__(
        self,
        runtime: Runtime,
        *,
        link: int = 0,
        trap_exit: bool = False,
        monitor: Optional[MonitorFn] = None,
    ) -> None:
        require("runtime", runtime, Runtime)
        opts = _spawn_options(link, trap_exit, monitor)
        self.monitor_ref = 0
        with runtime._use() as rt:
            if monitor is not None:
                opts.monitor = monitor_callback(monitor)
            out = ctypes.POINTER(_ffi.transom_mailbox)()
            pid = c_uint64(0)
            check(lib.transom_mailbox_open(rt, byref(opts), byref(out), byref(pid)))
        super().__init__(out, self._free)
        self.pid: int = pid.value
        self._runtime = runtime
        self._out = _ffi.transom_message()
        self._last: Optional[Message] = None
        self._held = False  # self._out holds a received message not handed out yet

    def _free(self, ptr: Any) -> None:
        self._drop_last()
        lib.transom_mailbox_free(ptr)

    def _wake(self, ptr: Any) -> None:
        # Another thread is (or may be) blocked in receive, and a mailbox is one-thread-at-a-time
        # (C has no way to interrupt its receive): kill its process through the thread-safe
        # runtime, which ends the receive with CLOSED. Without other users, the free below
        # ends the process with DROPPED as usual.
        with self._cond:
            others = [t for t in self._user_threads if t != threading.get_ident()]
        if others and not self._runtime.closed:
            try:
                self._runtime.exit(self.pid, ExitReason(ExitKind.KILLED, 0, "mailbox closed while in use"))
            except TransomError:
                pass  # already exited, or the runtime is shutting down: the receive ends anyway

    def _drop_last(self) -> None:
        if self._last is not None:
            self._last._invalidate()
            self._last = None

    def receive(self, timeout: Optional[float] = None) -> Optional[Message]:
        """Waits up to ``timeout`` seconds (None: no limit) for the next message; None on
        timeout. The GIL is released while waiting, and Ctrl-C raises KeyboardInterrupt (on the
        main thread) with nothing taken: a message that arrived as the signal did is returned by
        the next receive. ClosedError once the process exited or the runtime shut down. The
        previous message's ``data`` view ends here."""
        ns = timeout_ns("timeout", timeout)
        with self._use() as mb:
            out = self._out
            if self._held:
                # Taken by a receive that an exception (Ctrl-C) interrupted before it returned.
                msg = self._hand_out(out)
                self._held = False
                return msg
            self._drop_last()
            out.kind = _UNSET  # C writes the message on TRANSOM_OK only
            try:
                st = _wait.call(lib.transom_mailbox_receive, mb, ns, byref(out))
                if st == TIMEOUT:
                    return None
                check(st)
                return self._hand_out(out)
            except BaseException:
                if out.kind != _UNSET and self._last is None:
                    self._held = True
                raise

    def _hand_out(self, out: _ffi.transom_message) -> Message:
        msg = Message(ctypes.pointer(out))
        self._last = msg
        return msg

    def send(self, to: int, data: Any) -> None:
        """Sends bytes from this mailbox's process; NoProcError when ``to`` is dead or 0,
        ClosedError once this process has exited."""
        check_pid("to", to, allow_zero=True)
        ptr, n = _ffi.as_u8(data)
        with self._use() as mb:
            check(lib.transom_mailbox_send(mb, to, ptr, n))

    def reply(self, conversation: int, request_id: int, payload: Any) -> None:
        """Replies to request ``request_id`` of ``conversation`` (a request message's sender)."""
        check_pid("conversation", conversation, allow_zero=True)
        check_int("request_id", request_id)
        ptr, n = _ffi.as_u8(payload)
        with self._use() as mb:
            check(lib.transom_conversation_reply_from_mailbox(mb, conversation, request_id, ptr, n))

    def exit(self, reason: Any = ExitKind.NORMAL) -> None:
        """Ends this mailbox's process with ``reason`` (NORMAL or SHUTDOWN: linked processes
        survive). ClosedError when it had already exited, like every call but ``pid`` then."""
        r = _reason_arg(reason)
        with self._use() as mb:
            check(lib.transom_mailbox_exit(mb, byref(r)))



