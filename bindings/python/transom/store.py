"""The embedded event store: appends (single, batch, idempotent, version-checked), reads over
streams and the causal graph, and gates as Python callables."""

from __future__ import annotations

import ctypes
import enum
import os
from ctypes import byref, c_uint64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

from . import _callbacks, _ffi
from ._ffi import lib
from ._handle import Handle
from ._util import UINT16_MAX, UINT32_MAX, check_callable, check_int, check_str
from .errors import ERR_BUFFER_TOO_SMALL, check

if TYPE_CHECKING:
    from .canal import Canal

__all__ = [
    "Sync",
    "Closable",
    "Store",
    "StoreStats",
    "Event",
    "Receipt",
    "AppendEvent",
    "GateEvent",
    "NO_STREAM",
    "EventId",
]

EventId = int
"""A 128-bit event id as a Python int (0 = none)."""

NO_STREAM = "no_stream"
"""``expected_version=NO_STREAM``: the stream must not exist yet."""


class Sync(enum.IntEnum):
    ALWAYS = 0
    EVERY_N = 1
    NEVER = 2


def id_to_c(name: str, value: Any) -> _ffi.transom_event_id:
    v = check_int(name, value, 0, (1 << 128) - 1)
    return _ffi.transom_event_id(v >> 64, v & 0xFFFFFFFFFFFFFFFF)


def id_from_c(c: _ffi.transom_event_id) -> int:
    return int((c.hi << 64) | c.lo)


@dataclass(frozen=True)
class Receipt:
    id: int
    sequence: int
    stream_version: int


@dataclass(frozen=True)
class Event:
    """A stored event (copied out of the store)."""

    id: int
    sequence: int
    stream_version: int
    timestamp_ns: int
    correlation_id: int
    causation_id: int
    kind: int
    stream: str
    payload: bytes

    @classmethod
    def from_c(cls, e: _ffi.transom_event) -> "Event":
        return cls(
            id_from_c(e.id),
            e.sequence,
            e.stream_version,
            e.timestamp_ns,
            id_from_c(e.correlation_id),
            id_from_c(e.causation_id),
            e.kind,
            ctypes.string_at(e.stream, e.stream_len).decode("utf-8") if e.stream_len else "",
            ctypes.string_at(e.payload, e.payload_len) if e.payload_len else b"",
        )


Expected = Union[None, int, str]


@dataclass(frozen=True)
class AppendEvent:
    """One event of :meth:`Store.append_batch` (the same fields as :meth:`Store.append`)."""

    stream: str
    payload: Any = b""
    kind: int = 0
    correlation_id: int = 0
    causation_id: int = 0
    idempotency_key: Optional[bytes] = None
    expected_version: Expected = None


def _fill_append(a: _ffi.transom_append, ev: AppendEvent, keep: List[Any]) -> None:
    stream = check_str("stream", ev.stream)
    a.stream = stream
    a.stream_len = len(stream)
    a.kind = check_int("kind", ev.kind, 0, UINT16_MAX)
    ptr, n = _ffi.as_u8(ev.payload)
    keep.append(ptr)
    a.payload = ptr
    a.payload_len = n
    a.correlation_id = id_to_c("correlation_id", ev.correlation_id)
    a.causation_id = id_to_c("causation_id", ev.causation_id)
    if ev.idempotency_key is not None:
        kp, kn = _ffi.as_u8(ev.idempotency_key)
        keep.append(kp)
        a.idempotency_key = kp
        a.idempotency_key_len = kn
    exp = ev.expected_version
    if exp is None:
        a.expected = 0
    elif exp == NO_STREAM:
        a.expected = 1
    elif isinstance(exp, int) and not isinstance(exp, bool):
        a.expected = 2
        a.expected_version = check_int("expected_version", exp)
    else:
        raise TypeError("expected_version must be None, NO_STREAM or an int version")


@dataclass(frozen=True)
class GateEvent:
    """What a gate sees of an event about to be appended."""

    stream: str
    kind: int
    payload: bytes
    correlation_id: int
    causation_id: int
    index: int
    batch_len: int


GateResult = Union[None, int, Tuple[int, str]]


GateAnswer = Union[None, bool, int, Tuple[int, str]]
"""What a gate returns: None/True/0 accepts; a non-zero int code or ``(code, reason)`` rejects."""
GateFn = Callable[[GateEvent], GateAnswer]


def _gate_tramp_py(ctx: Optional[int], event: Any, reason: Any, cap: int) -> int:
    code: int
    text = b""
    try:
        entry = _callbacks.lookup(ctx)
        if entry is None:
            return 0
        e = event.contents
        ge = GateEvent(
            ctypes.string_at(e.stream, e.stream_len).decode("utf-8", "replace"),
            e.kind,
            ctypes.string_at(e.payload, e.payload_len) if e.payload_len else b"",
            id_from_c(e.correlation_id),
            id_from_c(e.causation_id),
            e.index,
            e.batch_len,
        )
        answer = entry.call(ge)
        if answer is None or answer is True:
            return 0
        if isinstance(answer, tuple):
            code, why = answer
            text = str(why).encode("utf-8", "replace")
        else:
            code = answer
        if isinstance(code, bool) or not isinstance(code, int) or not -(1 << 31) <= code < (1 << 31):
            raise TypeError(f"a gate must return None, an int code or (code, reason), not {answer!r}")
    except BaseException as exc:
        _callbacks.report("a gate (the event is rejected with code -3)")
        code = -3
        text = f"gate raised {type(exc).__name__}: {exc}".encode("utf-8", "replace")
    if code and text and reason and cap:
        n = min(len(text), cap - 1)
        ctypes.memmove(reason, text, n)
        reason[n] = b"\0"
    return code


# The C function pointer (alive for the life of the process).
_gate_tramp = _ffi.GATE_FN(_gate_tramp_py)


class Closable(Handle):
    """A handle whose C object has a shutdown distinct from its release (the C API's
    ``transom_X_close`` / ``transom_X_free``): :meth:`close` shuts it down and keeps the object
    (later calls raise :class:`~transom.errors.ClosedError`, from C), :meth:`free` releases it;
    leaving a ``with`` block and garbage collection free it too."""

    def __init__(self, ptr: Any, free: Any) -> None:
        super().__init__(ptr, free)
        self._shut = False

    def close(self) -> None:
        """Shuts the object down (idempotent; any thread); the object stays until
        :meth:`free`."""
        if self._closing:
            return
        with self._use() as p:
            st = self._close_c(p)
            self._shut = True
            check(st)

    def _close_c(self, ptr: Any) -> int:
        """The C close function (``transom_X_close``) applied to ``ptr``."""
        raise NotImplementedError

    def free(self) -> None:
        """Releases the object now (shutting it down first if needed); idempotent. Waits for
        calls in progress on other threads (see :meth:`Handle.close`)."""
        Handle.close(self)

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or :meth:`free`."""
        return self._shut or self._closing

    def __exit__(self, *exc: Any) -> None:
        self.free()

    def __del__(self) -> None:
        try:
            if not self._closing:
                self.free()
        except Exception:
            pass


@dataclass(frozen=True)
class StoreStats:
    """A store's sizes and bookkeeping (``transom_store_statistics`` in the C header, which
    documents every field). In memory only ``events``, ``first_sequence``, ``last_sequence``
    and ``heap_bytes`` are non-zero."""

    events: int
    segments: int
    bytes_on_disk: int
    first_sequence: int
    last_sequence: int
    frames_scanned_at_open: int
    index_covered_sequence: int
    read_cache_bytes: int
    heap_bytes: int
    index_heap_bytes: int
    segment_indexes_rebuilt_at_open: int
    index_events_replayed_at_open: int
    torn_tail_bytes_cut_at_open: int
    index_rebuilt_at_open: bool
    manifest_rebuilt_at_open: bool


class Store(Closable):
    """An append-only event store (``path`` None: in memory). Every method may be called from
    any thread. ``close()`` shuts it down (fsync, directory unlocked, gates removed; its canals
    hand out what they can still read, then end, and so do workers) and keeps the object: later
    calls raise ClosedError. ``free()``, leaving a ``with`` block or garbage collection release
    it (closing it first if needed)."""

    _what = "store"
    _exit_order = 50

    def __init__(
        self,
        path: Union[None, str, "os.PathLike[str]"] = None,
        *,
        sync: Sync = Sync.ALWAYS,
        sync_every_n: int = 0,
        max_payload: int = 0,
        segment_size: int = 0,
        retention_bytes: int = 0,
        retention_age: float = 0.0,
        index_flush_events: int = 0,
    ) -> None:
        """``retention_bytes``: keep at most about this many bytes of segments (0: all);
        ``retention_age``: delete sealed segments whose newest event is older than this many
        seconds (0: keep all); ``index_flush_events``: make the index files durable every this
        many events (0: the default, 65,536). Retention deletes whole sealed segments at each
        rollover; reading a removed event raises TruncatedError."""
        cfg = _ffi.transom_store_config()
        if path is not None:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"path must be str, os.PathLike or None, not {type(path).__name__}")
            d = os.fsencode(path)
            cfg.dir = d
            cfg.dir_len = len(d)
        cfg.sync = check_int("sync", sync, 0, UINT32_MAX)
        cfg.sync_every_n = check_int("sync_every_n", sync_every_n, 0, UINT32_MAX)
        cfg.max_payload = check_int("max_payload", max_payload)
        cfg.segment_size = check_int("segment_size", segment_size)
        cfg.retention_bytes = check_int("retention_bytes", retention_bytes)
        if isinstance(retention_age, bool) or not isinstance(retention_age, (int, float)):
            raise TypeError(f"retention_age must be a number of seconds, not {type(retention_age).__name__}")
        if not 0 <= retention_age < 2**64 / 1e9:
            raise ValueError(f"retention_age must be between 0 and {2**64 / 1e9:.0f} seconds, got {retention_age}")
        cfg.retention_age_ns = int(retention_age * 1_000_000_000)
        cfg.index_flush_events = check_int("index_flush_events", index_flush_events)
        out = ctypes.POINTER(_ffi.transom_store)()
        check(lib.transom_store_open(byref(cfg), byref(out)))
        super().__init__(out, lib.transom_store_free)
        self.path = path

    def close(self) -> None:
        """Closes the store (idempotent, any thread); raises TransomIOError if the final fsync
        failed (the store is closed all the same). The object stays until :meth:`free`."""
        super().close()

    def _close_c(self, ptr: Any) -> int:
        st: int = lib.transom_store_close(ptr)
        return st

    def append(
        self,
        stream: str,
        payload: Any = b"",
        *,
        kind: int = 0,
        correlation_id: int = 0,
        causation_id: int = 0,
        idempotency_key: Optional[bytes] = None,
        expected_version: Expected = None,
    ) -> Receipt:
        """Appends one event; ``expected_version`` None (any), NO_STREAM or an exact version."""
        a = _ffi.transom_append()
        keep: List[Any] = []
        _fill_append(
            a,
            AppendEvent(stream, payload, kind, correlation_id, causation_id, idempotency_key, expected_version),
            keep,
        )
        r = _ffi.transom_receipt()
        with self._use() as s:
            check(lib.transom_store_append(s, byref(a), byref(r)))
        return Receipt(id_from_c(r.id), r.sequence, r.stream_version)

    def append_batch(self, events: Iterable[AppendEvent]) -> List[Receipt]:
        """Appends every event or none (all-or-nothing)."""
        evs = list(events)
        for i, e in enumerate(evs):
            if not isinstance(e, AppendEvent):
                raise TypeError(f"events[{i}] must be an AppendEvent, not {type(e).__name__}")
        n = len(evs)
        arr = (_ffi.transom_append * max(n, 1))()
        keep: List[Any] = []
        for i, e in enumerate(evs):
            _fill_append(arr[i], e, keep)
        rs = (_ffi.transom_receipt * max(n, 1))()
        with self._use() as s:
            check(lib.transom_store_append_batch(s, arr, n, rs))
        return [Receipt(id_from_c(r.id), r.sequence, r.stream_version) for r in rs[:n]]

    def _fill(self, call: Any, cap: int = 64, arena: int = 1 << 16) -> List[Event]:
        """Runs a read function into a buffer, growing it until the answer fits."""
        while True:
            events = (_ffi.transom_event * cap)()
            space = (ctypes.c_uint8 * arena)()
            buf = _ffi.transom_event_buffer()
            buf.events = events
            buf.cap = cap
            buf.arena = space
            buf.arena_cap = arena
            with self._use() as s:
                st = call(s, byref(buf))
            if st == ERR_BUFFER_TOO_SMALL:
                cap = max(cap, buf.total)
                arena = max(arena, buf.arena_needed)
                continue
            check(st)
            return [Event.from_c(events[i]) for i in range(buf.count)]

    def get(self, event_id: int) -> Event:
        """The event with this id (NotFoundError if none is visible)."""
        cid = id_to_c("event_id", event_id)
        return self._fill(lambda s, b: lib.transom_store_get(s, cid, b), 1)[0]

    def read(self, stream: str, from_version: int = 0, limit: Optional[int] = None) -> List[Event]:
        """Events of ``stream`` from ``from_version`` (1-based, inclusive; 0 = from the start),
        at most ``limit`` (None: all)."""
        name = check_str("stream", stream)
        check_int("from_version", from_version)
        if limit is not None:
            check_int("limit", limit)
        out: List[Event] = []
        version = max(from_version, 1)
        page = 256
        while limit is None or len(out) < limit:
            want = page if limit is None else min(page, limit - len(out))
            if want == 0:
                break
            got = self._fill(
                lambda s, b, v=version: lib.transom_store_read(s, name, len(name), v, b), want
            )
            out.extend(got)
            if len(got) < want:
                break
            version = got[-1].stream_version + 1
        return out

    def read_sequence(self, from_sequence: int = 0, limit: Optional[int] = None) -> List[Event]:
        """Events in global order from ``from_sequence`` (inclusive; 0 = the first retained),
        at most ``limit`` (None: up to the head). TruncatedError (``value`` = the first
        retained sequence) when ``from_sequence`` is below the first retained sequence."""
        check_int("from_sequence", from_sequence)
        if limit is not None:
            check_int("limit", limit)
        out: List[Event] = []
        seq = from_sequence
        page = 256
        while limit is None or len(out) < limit:
            want = page if limit is None else min(page, limit - len(out))
            if want == 0:
                break
            got = self._fill(lambda s, b, q=seq: lib.transom_store_read_sequence(s, q, b), want)
            out.extend(got)
            if len(got) < want:
                break
            seq = got[-1].sequence + 1
        return out

    def truncate(self, before_sequence: int) -> int:
        """Removes every sealed segment whose events are all below ``before_sequence`` (whole
        segments only; the active one stays) and returns the first retained sequence.
        Sequences are never renumbered and stream versions keep counting. UnsupportedError in
        memory."""
        before = check_int("before_sequence", before_sequence)
        v = c_uint64(0)
        with self._use() as s:
            check(lib.transom_store_truncate(s, before, byref(v)))
        return v.value

    @property
    def first_sequence(self) -> int:
        """The first retained sequence (1 until retention or :meth:`truncate` removed
        segments); reads below it raise TruncatedError."""
        v = c_uint64(0)
        with self._use() as s:
            check(lib.transom_store_first_sequence(s, byref(v)))
        return v.value

    def stats(self) -> StoreStats:
        """Sizes and bookkeeping: events, segments, bytes on disk, sequence range, what the
        open had to scan or rebuild, heap held by the store."""
        st = _ffi.transom_store_statistics()
        with self._use() as s:
            check(lib.transom_store_stats(s, byref(st)))
        return StoreStats(**{f[0]: getattr(st, f[0]) for f in st._fields_})

    def ancestors(self, event_id: int) -> List[Event]:
        """The causation chain above ``event_id``, nearest first."""
        cid = id_to_c("event_id", event_id)
        return self._fill(lambda s, b: lib.transom_store_ancestors(s, cid, b))

    def correlated(self, event_id: int) -> List[Event]:
        """Every event of ``event_id``'s correlation group, in sequence order."""
        cid = id_to_c("event_id", event_id)
        return self._fill(lambda s, b: lib.transom_store_correlated(s, cid, b))

    def sync(self) -> None:
        with self._use() as s:
            check(lib.transom_store_sync(s))

    @property
    def head(self) -> int:
        """The highest visible sequence (0 when empty)."""
        v = c_uint64(0)
        with self._use() as s:
            check(lib.transom_store_head(s, byref(v)))
        return v.value

    def add_gate(self, gate: GateFn) -> int:
        """Registers ``gate(GateEvent)``, run before every later append commits (on the
        appending thread): return None/0 to accept, a non-zero code or ``(code, reason)`` to
        reject (RejectedError with ``value`` = code). An exception rejects with code -3 and is
        reported on stderr. Returns the gate id for :meth:`remove_gate`."""
        check_callable("gate", gate)
        with self._use() as s:
            g = _ffi.transom_gate_callback()
            g.ctx = _callbacks.register(_callbacks.Entry(gate))
            g.call = _gate_tramp
            g.drop = _callbacks.DROP
            gid = c_uint64(0)
            check(lib.transom_store_add_gate(s, g, byref(gid)))
        return gid.value

    def remove_gate(self, gate_id: int) -> None:
        """Removes a gate: not called again once this returns (waits for its calls in flight on
        other threads). NotFoundError ("no gate with id N") for an unknown id."""
        check_int("gate_id", gate_id)
        with self._use() as s:
            check(lib.transom_store_remove_gate(s, gate_id))

    def cursor(
        self,
        *,
        start: Union[str, int] = "begin",
        name: Optional[str] = None,
        stream_prefix: Union[str, bytes] = b"",
        kinds: Sequence[int] = (),
    ) -> "Canal":
        """Opens a cursor: ``start`` "begin", "end" or a sequence (int, inclusive); ``name``
        opens a named, checkpointed cursor resuming after its last checkpoint."""
        from .canal import Canal

        return Canal._cursor(self, start, name, stream_prefix, kinds)

    def subscribe(
        self,
        capacity: int = 1024,
        *,
        overflow: int = 0,
        stream_prefix: Union[str, bytes] = b"",
        kinds: Sequence[int] = (),
    ) -> "Canal":
        """Opens a subscription: live events from now, ``capacity`` buffered at most,
        ``overflow`` an :class:`~transom.canal.Overflow` policy."""
        from .canal import Canal

        return Canal._subscription(self, capacity, overflow, stream_prefix, kinds)



