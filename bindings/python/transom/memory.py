"""Slot memory managers: messages (a fixed header + payload) addressed by tokens; zero-copy
reserve/commit and read/write views exposed as memoryviews over the slot."""

from __future__ import annotations

import ctypes
import enum
import threading
from ctypes import byref, c_size_t
from dataclasses import dataclass
from typing import Any, Optional, Set

from . import _ffi
from ._ffi import lib
from ._handle import Handle
from ._util import UINT32_MAX, check_int, require
from .errors import ThreadingError, check, closed

__all__ = [
    "ManagerKind",
    "MemoryKind",
    "MemoryClass",
    "Header",
    "Token",
    "Stats",
    "Manager",
    "ReadView",
    "WriteView",
    "Reservation",
    "required_bytes",
    "FLAG_FIRST_IN_BATCH",
    "FLAG_LAST_IN_BATCH",
    "FLAG_DEGRADE_ALLOWED",
    "QOS_BACKGROUND",
    "QOS_BEST_EFFORT",
    "QOS_LATENCY_CRITICAL",
    "HEADER_SIZE",
]

FLAG_FIRST_IN_BATCH = 1
FLAG_LAST_IN_BATCH = 2
FLAG_DEGRADE_ALLOWED = 4
QOS_BACKGROUND = 1
QOS_BEST_EFFORT = 2
QOS_LATENCY_CRITICAL = 3
HEADER_SIZE = 48


class ManagerKind(enum.IntEnum):
    STATIC = 1
    HEAP = 2
    CONCURRENT = 3


class MemoryKind(enum.IntEnum):
    HOST = 0
    PINNED_HOST = 1
    DEVICE = 2
    SHARED = 3


@dataclass(frozen=True)
class MemoryClass:
    kind: MemoryKind = MemoryKind.HOST
    device: int = 0

    def to_c(self) -> _ffi.transom_memory_class:
        check_int("memory_class.kind", self.kind, 0, 255)
        check_int("memory_class.device", self.device, 0, 255)
        return _ffi.transom_memory_class(int(self.kind), self.device)

    @classmethod
    def from_c(cls, c: _ffi.transom_memory_class) -> "MemoryClass":
        try:
            return cls(MemoryKind(c.kind), c.device)
        except ValueError:
            kind: Any = c.kind  # not a MemoryKind the binding knows: kept as the raw int
            return cls(kind, c.device)


@dataclass(frozen=True)
class Header:
    """The caller's part of a message header; ``payload_len`` and ``memory_class`` are stamped
    by the manager (ignored on input). ``qos`` 0 means best-effort."""

    trace_id: int = 0
    sequence: int = 0
    creation_tick: int = 0
    deadline_ns: int = 0
    qos: int = 0
    flags: int = 0
    payload_len: int = 0
    memory_class: MemoryClass = MemoryClass()

    def to_c(self) -> _ffi.transom_header:
        h = _ffi.transom_header()
        h.trace_id = check_int("trace_id", self.trace_id)
        h.sequence = check_int("sequence", self.sequence)
        h.creation_tick = check_int("creation_tick", self.creation_tick)
        h.deadline_ns = check_int("deadline_ns", self.deadline_ns)
        h.qos = check_int("qos", self.qos, 0, 255)
        h.flags = check_int("flags", self.flags, 0, UINT32_MAX)
        return h

    @classmethod
    def from_c(cls, h: _ffi.transom_header) -> "Header":
        return cls(
            h.trace_id,
            h.sequence,
            h.creation_tick,
            h.deadline_ns,
            h.qos,
            h.flags,
            h.payload_len,
            MemoryClass.from_c(h.memory_class),
        )


_DEFAULT_HEADER = Header()


def _header_arg(header: Optional[Header]) -> _ffi.transom_header:
    if header is None:
        header = _DEFAULT_HEADER
    return require("header", header, Header).to_c()


@dataclass(frozen=True)
class Token:
    """A by-value handle to one stored message (``transom_token``), checked on every use: the
    issuing manager's ``key`` (a per-manager 64-bit number never reused in the process, never 0
    for a live token) and the ``slot`` (index in the upper 24 bits, generation in the lower 40).
    A token is never issued twice in a process. ``Token()`` is the null token ``{0, 0}``."""

    key: int = 0
    slot: int = 0

    def to_c(self) -> _ffi.transom_token:
        return _ffi.transom_token(check_int("token.key", self.key), check_int("token.slot", self.slot))

    @classmethod
    def from_c(cls, t: _ffi.transom_token) -> "Token":
        return cls(t.key, t.slot)

    def __bool__(self) -> bool:
        return self.key != 0 or self.slot != 0


def _token_arg(token: Any) -> _ffi.transom_token:
    return require("token", token, Token).to_c()


@dataclass(frozen=True)
class Stats:
    """``transom_memory_stats``: ``capacity == available + in_use + retired`` when quiescent;
    ``retired`` counts slots retired for good after their last possible message (2^40 per
    slot)."""

    in_use: int
    high_water: int
    failed_allocs: int
    retired: int


def required_bytes(capacity: int, slot_size: int) -> int:
    """Bytes of storage a STATIC manager of ``capacity`` slots of ``slot_size`` bytes needs."""
    check_int("capacity", capacity)
    check_int("slot_size", slot_size)
    n = c_size_t(0)
    check(lib.transom_manager_required_bytes(capacity, slot_size, byref(n)))
    return n.value


def _release_mv(mv: Optional[memoryview]) -> None:
    if mv is not None:
        try:
            mv.release()
        except BufferError:
            pass


class _View:
    __slots__ = ("_mgr", "_token", "_ptr", "_payload", "_header_ptr", "__weakref__")

    def __init__(self, mgr: "Manager", token: _ffi.transom_token, ptr: Any) -> None:
        self._mgr = mgr
        self._token: Optional[_ffi.transom_token] = token
        self._ptr = ptr
        self._payload: Optional[memoryview] = None
        self._header_ptr: Any = None

    @property
    def header(self) -> Header:
        if self._token is None:
            raise closed("view")
        self._mgr._check_thread()
        return Header.from_c(self._header_ptr.contents)

    @property
    def payload(self) -> memoryview:
        """The payload bytes in the slot, without copy; released when the view ends."""
        if self._payload is None:
            raise closed("view")
        return self._payload

    def release(self) -> None:
        """Ends the view (``transom_manager_release``); idempotent."""
        if self._token is None:
            return
        tok = self._token
        with self._mgr._use() as m:  # first: a wrong thread must not end the view
            self._invalidate()
            check(lib.transom_manager_release(m, tok))

    def _invalidate(self) -> None:
        self._token = None
        _release_mv(self._payload)
        self._payload = None
        self._mgr._outstanding.discard(self)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class ReadView(_View):
    """A shared read view: ``header`` and a read-only ``payload`` memoryview into the slot."""

    __slots__ = ()


class WriteView(_View):
    """The exclusive write view: ``payload`` is a writable memoryview of the whole slot
    (``capacity`` bytes); :meth:`set_len` changes the payload length and :meth:`set_header` the
    caller fields, both checked at release like a store checks them: an invalid length, qos or
    flags raises (TooLargeError / InvalidArgumentError), reverts, and still ends the view."""

    __slots__ = ("capacity",)
    capacity: int

    def set_len(self, n: int) -> None:
        if self._token is None:
            raise closed("view")
        self._mgr._check_thread()
        self._header_ptr.contents.payload_len = check_int("n", n, 0, UINT32_MAX)

    def set_header(self, header: Header) -> None:
        """Overwrites the caller fields of the stored header."""
        if self._token is None:
            raise closed("view")
        self._mgr._check_thread()
        src = _header_arg(header)
        h = self._header_ptr.contents
        for f in ("trace_id", "sequence", "creation_tick", "deadline_ns", "qos", "flags"):
            setattr(h, f, getattr(src, f))


class Reservation:
    """A reserved slot: write ``payload`` (a writable memoryview of the reserved length) in
    place, then :meth:`commit`. Leaving the ``with`` block without committing aborts it."""

    def __init__(self, mgr: "Manager", token: _ffi.transom_token, payload: memoryview) -> None:
        self._mgr = mgr
        self._token: Optional[_ffi.transom_token] = token
        self.token = Token.from_c(token)
        self._payload: Optional[memoryview] = payload

    @property
    def payload(self) -> memoryview:
        if self._payload is None:
            raise closed("reservation")
        return self._payload

    def _end(self) -> _ffi.transom_token:
        if self._token is None:
            raise closed("reservation")
        tok = self._token
        return tok

    def _finish(self) -> None:
        self._token = None
        _release_mv(self._payload)
        self._payload = None
        self._mgr._outstanding.discard(self)

    _invalidate = _finish

    def commit(self, header: Optional[Header] = None) -> Token:
        h = _header_arg(header)
        tok = self._end()
        with self._mgr._use() as m:
            check(lib.transom_manager_commit(m, tok, byref(h)))
        self._finish()
        return self.token

    def abort(self) -> None:
        tok = self._end()
        with self._mgr._use() as m:
            check(lib.transom_manager_abort(m, tok))
        self._finish()

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None and not self._mgr.closed:
            self.abort()


class Manager(Handle):
    """A slot memory manager. Create with :meth:`heap`, :meth:`concurrent` or :meth:`static`.

    Threads: a CONCURRENT manager may be used from any number of threads at once. A STATIC or
    HEAP manager is for one thread at a time: it belongs to the thread that created it, and a
    call from any other thread (its views and reservations included) raises
    :class:`~transom.errors.ThreadingError` before anything reaches C, naming both threads.
    Hand it over with :meth:`transfer_to_current_thread`, called on the new thread once the old
    one has stopped using it. :meth:`close` (and garbage collection) may happen on any thread."""

    _what = "manager"
    _exit_order = 60

    def __init__(
        self,
        kind: ManagerKind,
        capacity: int,
        slot_size: int,
        *,
        memory_class: MemoryClass = MemoryClass(),
        storage: Any = None,
    ) -> None:
        check_int("kind", kind, 0, UINT32_MAX)
        check_int("capacity", capacity)
        check_int("slot_size", slot_size)
        require("memory_class", memory_class, MemoryClass)
        cfg = _ffi.transom_manager_config()
        cfg.kind = int(kind)
        cfg.capacity = capacity
        cfg.slot_size = slot_size
        cfg.memory_class = memory_class.to_c()
        self._storage: Any = None
        if kind == ManagerKind.STATIC:
            if storage is None:
                storage = bytearray(required_bytes(capacity, slot_size))
            mv = memoryview(storage)
            if mv.readonly:
                raise TypeError("storage must be a writable buffer (e.g. a bytearray)")
            self._storage = (ctypes.c_uint8 * mv.nbytes).from_buffer(mv) if mv.nbytes else None
            cfg.storage = ctypes.addressof(self._storage) if self._storage is not None else None
            cfg.storage_len = mv.nbytes
        elif storage is not None:
            raise ValueError("storage is for STATIC managers only")
        out = ctypes.POINTER(_ffi.transom_manager)()
        check(lib.transom_manager_new(byref(cfg), byref(out)))
        super().__init__(out, lib.transom_manager_free)
        # Views and reservations whose memoryviews point into the slots: ended at close.
        self._outstanding: Set[Any] = set()
        self._kind = ManagerKind(kind)  # C accepted it: one of the three
        self._kind_name = self._kind.name
        if kind != ManagerKind.CONCURRENT:
            me = threading.current_thread()
            self._owner, self._owner_name = me.ident, me.name

    @property
    def kind(self) -> ManagerKind:
        """STATIC, HEAP or CONCURRENT."""
        return self._kind

    @property
    def owner_thread(self) -> Optional[int]:
        """The ident of the thread a STATIC or HEAP manager belongs to (None: CONCURRENT, any
        thread may use it)."""
        return self._owner

    def transfer_to_current_thread(self) -> None:
        """Makes the calling thread the owner of this STATIC or HEAP manager; from then on its
        previous owner gets ThreadingError. Call it on the new thread after the old one has
        stopped using the manager (e.g. once the manager came through a ``queue.Queue``): a call
        still running on another thread makes this raise ThreadingError instead. Views,
        reservations and tokens move with the manager. Does nothing for a CONCURRENT manager.
        ClosedError once closed."""
        me = threading.current_thread()
        tid = threading.get_ident()
        with self._cond:
            if self._closing:
                raise closed(self._what)
            if self._owner is None or self._owner == tid:
                return
            busy = [t for t in self._user_threads if t != tid]
            if busy:
                raise ThreadingError(
                    f"cannot hand this {self._kind_name} manager over to thread {me.name!r} "
                    f"(ident {tid}): a call on thread {_thread_name(busy[0])!r} (ident "
                    f"{busy[0]}) is still running; hand it over after that thread has stopped "
                    "using it",
                    busy[0],
                    tid,
                )
            self._owner, self._owner_name = tid, me.name

    def _wrong_thread(self, tid: int) -> Exception:
        return ThreadingError(
            f"this {self._kind_name} manager belongs to thread {self._owner_name!r} (ident "
            f"{self._owner}) and was called from thread {_thread_name(tid)!r} (ident {tid}); a "
            "STATIC or HEAP manager is for one thread at a time: hand it over with "
            "manager.transfer_to_current_thread() on the new thread, or use a CONCURRENT "
            "manager to share it",
            self._owner or 0,
            tid,
        )

    def _wake(self, ptr: Any) -> None:
        for v in list(self._outstanding):
            v._invalidate()

    @classmethod
    def heap(cls, capacity: int, slot_size: int, **kw: Any) -> "Manager":
        return cls(ManagerKind.HEAP, capacity, slot_size, **kw)

    @classmethod
    def concurrent(cls, capacity: int, slot_size: int, **kw: Any) -> "Manager":
        return cls(ManagerKind.CONCURRENT, capacity, slot_size, **kw)

    @classmethod
    def static(cls, capacity: int, slot_size: int, storage: Any = None, **kw: Any) -> "Manager":
        """Over caller storage (a writable buffer of at least :func:`required_bytes`; a new
        bytearray when None), kept alive by the manager."""
        return cls(ManagerKind.STATIC, capacity, slot_size, storage=storage, **kw)

    def store(self, payload: Any, header: Optional[Header] = None) -> Token:
        """Copies ``payload`` into a free slot; returns its token."""
        ptr, n = _ffi.as_u8(payload)
        h = _header_arg(header)
        tok = _ffi.transom_token()
        with self._use() as m:
            check(lib.transom_manager_store(m, byref(h), ptr, n, byref(tok)))
        return Token.from_c(tok)

    def reserve(self, length: int) -> Reservation:
        """Reserves a slot for ``length`` bytes written in place (zero-copy ingest)."""
        check_int("length", length)
        tok = _ffi.transom_token()
        p = _ffi.u8p()
        with self._use() as m:
            check(lib.transom_manager_reserve(m, length, byref(tok), byref(p)))
        r = Reservation(self, tok, _ffi.view(_ffi.address_of(p), length, writable=True))
        self._outstanding.add(r)
        return r

    def read(self, token: Token) -> ReadView:
        """A shared read view (use ``with``; the payload memoryview ends with it)."""
        t = _token_arg(token)
        out = _ffi.transom_read_view()
        with self._use() as m:
            check(lib.transom_manager_read(m, t, byref(out)))
        v = ReadView(self, t, self._ptr)
        v._header_ptr = out.header
        v._payload = _ffi.view(_ffi.address_of(out.payload), out.len)
        self._outstanding.add(v)
        return v

    def write(self, token: Token) -> WriteView:
        """The exclusive write view (use ``with``)."""
        t = _token_arg(token)
        out = _ffi.transom_write_view()
        with self._use() as m:
            check(lib.transom_manager_write(m, t, byref(out)))
        v = WriteView(self, t, self._ptr)
        v._header_ptr = out.header
        v._payload = _ffi.view(_ffi.address_of(out.payload), out.capacity, writable=True)
        v.capacity = out.capacity
        self._outstanding.add(v)
        return v

    def peek_header(self, token: Token) -> Header:
        t = _token_arg(token)
        h = _ffi.transom_header()
        with self._use() as m:
            check(lib.transom_manager_peek_header(m, t, byref(h)))
        return Header.from_c(h)

    def remove(self, token: Token) -> None:
        """Frees the message (BorrowedError while a view is outstanding)."""
        t = _token_arg(token)
        with self._use() as m:
            check(lib.transom_manager_remove(m, t))

    def take(self, token: Token) -> bytes:
        """Copies the payload out and frees the slot in one step."""
        t = _token_arg(token)
        n = c_size_t(0)
        with self._use() as m:
            cap = self._slot_size_locked(m)
            buf = (ctypes.c_uint8 * max(cap, 1))()
            check(lib.transom_manager_take(m, t, buf, cap, byref(n)))
        return bytes(buf[: n.value]) if n.value else b""

    def _slot_size_locked(self, m: Any) -> int:
        n = c_size_t(0)
        check(lib.transom_manager_slot_size(m, byref(n)))
        return n.value

    def clear(self) -> None:
        with self._use() as m:
            check(lib.transom_manager_clear(m))

    def _size(self, fn: Any) -> int:
        n = c_size_t(0)
        with self._use() as m:
            check(fn(m, byref(n)))
        return n.value

    @property
    def available(self) -> int:
        return self._size(lib.transom_manager_available)

    @property
    def capacity(self) -> int:
        return self._size(lib.transom_manager_capacity)

    @property
    def slot_size(self) -> int:
        return self._size(lib.transom_manager_slot_size)

    @property
    def memory_class(self) -> MemoryClass:
        c = _ffi.transom_memory_class()
        with self._use() as m:
            check(lib.transom_manager_memory_class(m, byref(c)))
        return MemoryClass.from_c(c)

    def stats(self) -> Stats:
        s = _ffi.transom_memory_stats()
        with self._use() as m:
            check(lib.transom_manager_stats(m, byref(s)))
        return Stats(s.in_use, s.high_water, s.failed_allocs, s.retired)



def _thread_name(ident: int) -> str:
    for t in threading.enumerate():
        if t.ident == ident:
            return t.name
    return "?"


def default_header() -> Header:
    """``transom_header_init``: every field zero, qos best-effort."""
    h = _ffi.transom_header()
    check(lib.transom_header_init(byref(h)))
    return Header.from_c(h)
