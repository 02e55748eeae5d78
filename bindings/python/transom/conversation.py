"""Supervised conversations: requests to linked participants, replies, crash policies and crash
notification (Python callables or a blocking, GIL-releasing :meth:`Conversation.await_crash`)."""

from __future__ import annotations

import collections
import ctypes
import enum
import threading
from ctypes import byref, c_bool, c_size_t, c_uint64
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Union

from . import _callbacks, _ffi, _wait
from ._ffi import lib
from ._handle import Handle
from ._util import check_callable, check_int, check_pid, require, timeout_ns
from .actor import ExitReason, Handler, Runtime, behaviour
from .errors import ERR_BUFFER_TOO_SMALL, TIMEOUT, check

__all__ = [
    "OnCrash",
    "Phase",
    "Health",
    "Mode",
    "Conversation",
    "Reply",
    "CrashInfo",
    "InFlight",
    "ParticipantState",
    "ConversationState",
    "COMPENSATE_CONTINUE",
    "COMPENSATE_FAIL",
]

COMPENSATE_CONTINUE = 0
COMPENSATE_FAIL = 1


class OnCrash(enum.IntEnum):
    FAIL = 1
    ROUTE_TO_NEXT = 2
    COMPENSATE = 3


class Mode(enum.IntEnum):
    EPHEMERAL = 0
    DURABLE = 1


class Phase(enum.IntEnum):
    CREATED = 0
    ACTIVE = 1
    COMPLETING = 2
    CLOSED = 3
    FAILED = 4
    DEADLINE_EXCEEDED = 5


class Health(enum.IntEnum):
    ALIVE = 0
    EXITED = 1
    CRASHED = 2


@dataclass(frozen=True)
class Reply:
    request_id: int
    sender: int
    payload: bytes


@dataclass(frozen=True)
class CrashInfo:
    conversation: int
    participant: int
    reason: ExitReason
    policy: OnCrash
    observed_at_ns: int
    """CLOCK_MONOTONIC nanoseconds (comparable with ``time.monotonic_ns()``)."""
    participant_index: int = 0
    """The participant's position in the conversation's participant list."""

    @classmethod
    def from_c(cls, c: _ffi.transom_crash_info) -> "CrashInfo":
        return cls(
            c.conversation,
            c.participant,
            ExitReason.from_c(c.reason),
            OnCrash(c.policy),
            c.observed_at_ns,
            c.participant_index,
        )


@dataclass(frozen=True)
class InFlight:
    request_id: int
    participant: int
    payload: bytes
    traceparent: str


@dataclass(frozen=True)
class ParticipantState:
    pid: int
    spawned: bool
    health: Health
    exit_reason: ExitReason
    exited_at_ns: int


@dataclass(frozen=True)
class ConversationState:
    pid: int
    phase: Phase
    deadline_ns: int
    sent: int
    received: int
    crashed: int
    in_flight: int
    buffered: int
    traceparent: str
    participants: List[ParticipantState]


CrashFn = Callable[[CrashInfo], None]
CompensateFn = Callable[[int, ExitReason, List[InFlight]], Union[bool, int, None]]


def _crash_tramp_py(ctx: Optional[int], info: Any) -> None:
    try:
        entry = _callbacks.lookup(ctx)
        if entry is not None:
            entry.call(CrashInfo.from_c(info.contents))
    except BaseException:
        _callbacks.report("a crash callback")


# The C function pointer (alive for the life of the process).
_crash_tramp = _ffi.CRASH_FN(_crash_tramp_py)


def _compensate_tramp_py(ctx: Optional[int], pid: int, reason: Any, reqs: Any, count: int) -> int:
    try:
        entry = _callbacks.lookup(ctx)
        if entry is None:
            return COMPENSATE_FAIL
        items = [
            InFlight(
                r.request_id,
                r.participant,
                ctypes.string_at(r.payload, r.payload_len) if r.payload_len else b"",
                r.traceparent.decode("ascii", "replace"),
            )
            for r in (reqs[i] for i in range(count))
        ]
        answer = entry.call(pid, ExitReason.from_c(reason.contents), items)
        if answer is None or answer is True:
            return COMPENSATE_CONTINUE
        if answer is False:
            return COMPENSATE_FAIL
        if isinstance(answer, int):
            return answer
        raise TypeError(f"a compensate callback must return bool, int or None, not {answer!r}")
    except BaseException:
        _callbacks.report("a compensate callback (the conversation fails)")
        return COMPENSATE_FAIL


# The C function pointer (alive for the life of the process).
_compensate_tramp = _ffi.COMPENSATE_FN(_compensate_tramp_py)


Participant = Union[int, Handler]


class Conversation(Handle):
    """A supervised conversation (``transom_conversation``); every method may be called from
    any thread. ``participants`` are pids of existing processes (linked at open, unlinked at
    close) or Python handlers ``handler(self_pid, message)`` the conversation spawns and stops
    at close. ``on_crash`` is required. ``compensate(participant, reason, in_flight)`` (with
    COMPENSATE) returns True/None to continue or False to fail; an exception fails it.
    ``timeout`` is the conversation's deadline in seconds after open. ``close()`` closes and frees
    it (it may race the other methods: pending receives and crash waits raise ClosedError)."""

    _what = "conversation"
    _exit_order = 20

    def __init__(
        self,
        runtime: Runtime,
        participants: Sequence[Participant],
        *,
        on_crash: OnCrash,
        compensate: Optional[CompensateFn] = None,
        timeout: Optional[float] = None,
        mode: Mode = Mode.EPHEMERAL,
    ) -> None:
        require("runtime", runtime, Runtime)
        if isinstance(participants, (str, bytes)) or not isinstance(participants, Sequence):
            raise TypeError("participants must be a sequence of pids or handlers")
        check_int("on_crash", on_crash, 0, 0xFFFFFFFF)
        check_int("mode", mode, 0, 0xFFFFFFFF)
        for i, p in enumerate(participants):
            if p is None:
                raise TypeError(f"participants[{i}] must be a pid or a handler, not None")
            if not callable(p):
                check_pid(f"participants[{i}]", p)
        if compensate is not None:
            check_callable("compensate", compensate)
        tns = 0 if timeout is None else timeout_ns("timeout", timeout)
        cfg = _ffi.transom_conversation_config()
        arr = (_ffi.transom_participant * max(1, len(participants)))()
        with runtime._use() as rt:
            # From here on every callable is owned by C (dropped even when the open fails).
            for i, p in enumerate(participants):
                if callable(p):
                    arr[i].behaviour = behaviour(p)
                else:
                    arr[i].pid = p
            cfg.participants = arr
            cfg.participant_count = len(participants)
            cfg.on_crash = int(on_crash)
            if compensate is not None:
                cfg.compensate.ctx = _callbacks.register(_callbacks.Entry(compensate))
                cfg.compensate.call = _compensate_tramp
                cfg.compensate.drop = _callbacks.DROP
            cfg.timeout_ns = tns
            cfg.mode = int(mode)
            out = ctypes.POINTER(_ffi.transom_conversation)()
            check(lib.transom_conversation_open(rt, byref(cfg), byref(out)))
        super().__init__(out, lib.transom_conversation_free)
        self._runtime = runtime
        pid = c_uint64(0)
        check(lib.transom_conversation_pid(out, byref(pid)))
        self.pid: int = pid.value
        # Each thread receives into its own buffer (receive may run on several threads at once).
        self._bufs = threading.local()
        # Replies taken by a receive that an exception (Ctrl-C) interrupted before it returned:
        # handed out first by the next receive.
        self._held: "collections.deque[Reply]" = collections.deque()

    def _wake(self, ptr: Any) -> None:
        lib.transom_conversation_close(ptr)

    def send(self, payload: Any, to: int = 0) -> int:
        """Sends a request to participant ``to`` (0: the next live one); returns its id."""
        check_pid("to", to, allow_zero=True)
        ptr, n = _ffi.as_u8(payload)
        rid = c_uint64(0)
        with self._use() as c:
            check(lib.transom_conversation_send(c, to, ptr, n, byref(rid)))
        return rid.value

    def receive(self, timeout: Optional[float] = None) -> Optional[Reply]:
        """The oldest reply, waiting up to ``timeout`` seconds (GIL released); None on timeout.
        Raises ParticipantCrashedError, DeadlineExceededError or ClosedError as the phase says
        (replies buffered before the conversation ended come first). Ctrl-C raises
        KeyboardInterrupt (on the main thread) with nothing lost: a reply that arrived as the
        signal did is returned by the next receive."""
        ns = timeout_ns("timeout", timeout)
        out = _ffi.transom_reply()  # `from` stays 0 (no process) unless a reply was taken
        n = c_size_t(0)
        with self._use() as c:
            if self._held:
                try:
                    return self._held.popleft()
                except IndexError:  # another thread took it
                    pass
            buf = getattr(self._bufs, "buf", None)
            if buf is None:
                buf = self._bufs.buf = ctypes.create_string_buffer(4096)
            try:
                while True:
                    st = _wait.call(
                        lib.transom_conversation_receive,
                        c,
                        ns,
                        byref(out),
                        ctypes.cast(buf, _ffi.u8p),
                        len(buf),
                        byref(n),
                    )
                    if st == ERR_BUFFER_TOO_SMALL:
                        # The reply stays parked, first in line: grow to its size and take it.
                        buf = self._bufs.buf = ctypes.create_string_buffer(max(n.value, 2 * len(buf)))
                        continue
                    if st == TIMEOUT:
                        return None
                    check(st)
                    return Reply(out.request_id, getattr(out, "from"), ctypes.string_at(buf, n.value))
            except BaseException:
                if getattr(out, "from") != 0:
                    self._held.append(Reply(out.request_id, getattr(out, "from"), ctypes.string_at(buf, n.value)))
                raise

    def complete(self) -> None:
        """No more requests will be sent (COMPLETING); replies can still be received."""
        with self._use() as c:
            check(lib.transom_conversation_complete(c))

    def add_crash_callback(self, callback: CrashFn) -> int:
        """Calls ``callback(CrashInfo)`` once per crashed participant (on the conversation's
        thread, or at once here for crashes that already happened). Returns its id for
        :meth:`remove_crash_callback`. The binding keeps the callable until transom drops it
        (on removal, or when the conversation is closed); an exception inside is reported on
        stderr and counted (``transom.callback_errors()``)."""
        check_callable("callback", callback)
        cid = c_uint64(0)
        with self._use() as c:
            cb = _ffi.transom_crash_callback()
            cb.ctx = _callbacks.register(_callbacks.Entry(callback))
            cb.call = _crash_tramp
            cb.drop = _callbacks.DROP
            check(lib.transom_conversation_add_crash_callback(c, cb, byref(cid)))
        return cid.value

    def remove_crash_callback(self, callback_id: int) -> None:
        """Removes a crash callback: it is not called once this returns (this waits for a call
        running on another thread; from inside the callback it returns at once), and the binding
        lets go of the callable. NotFoundError for an unknown id."""
        check_int("callback_id", callback_id)
        with self._use() as c:
            check(lib.transom_conversation_remove_crash_callback(c, callback_id))

    def await_crash(self, timeout: Optional[float] = None) -> Optional[CrashInfo]:
        """Blocks (GIL released, event-driven) up to ``timeout`` seconds for the first
        participant crash; None on timeout; ClosedError when it closed without one. Ctrl-C
        raises KeyboardInterrupt (on the main thread); the crash is still there for the next
        call (every call reports the first crash)."""
        ns = timeout_ns("timeout", timeout)
        out = _ffi.transom_crash_info()
        with self._use() as c:
            st = _wait.call(lib.transom_conversation_await_crash, c, ns, byref(out))
        if st == TIMEOUT:
            return None
        check(st)
        return CrashInfo.from_c(out)

    @property
    def has_crashed(self) -> bool:
        v = c_bool(False)
        with self._use() as c:
            check(lib.transom_conversation_has_crashed(c, byref(v)))
        return bool(v.value)

    def state(self) -> ConversationState:
        snap = _ffi.transom_conversation_snapshot()
        n = c_size_t(0)
        with self._use() as c:
            check(lib.transom_conversation_state(c, byref(snap)))
            # The participants never change after open: the count just read is the one needed.
            arr = (_ffi.transom_participant_state * max(1, snap.participant_count))()
            check(lib.transom_conversation_participants(c, arr, len(arr), byref(n)))
        parts = [
            ParticipantState(
                p.pid,
                bool(p.spawned),
                Health(p.health),
                ExitReason.from_c(p.exit_reason),
                p.exited_at_ns,
            )
            for p in arr[: n.value]
        ]
        return ConversationState(
            snap.pid,
            Phase(snap.phase),
            snap.deadline_ns,
            snap.sent,
            snap.received,
            snap.crashed,
            snap.in_flight,
            snap.buffered,
            snap.traceparent.decode("ascii", "replace"),
            parts,
        )



def monotonic_ns() -> int:
    """transom's monotonic clock (the clock of crash and state timestamps)."""
    return int(lib.transom_monotonic_ns())


