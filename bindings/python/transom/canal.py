"""Canals (cursors and subscriptions) as iterators of batches, and workers running a Python
callable per batch on their own thread.

A :class:`Batch` is a sequence of :class:`Item` over the C item array, without copies: an item's
``payload`` is a memoryview into the canal's memory, valid until the next pull on that canal
(for a worker: until its callback returns). The binding releases every such view then, so a
stale view raises ``ValueError`` instead of reading freed memory; copy what you keep."""

from __future__ import annotations

import ctypes
import enum
import struct
from ctypes import byref, c_int32, c_size_t
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _callbacks, _ffi, _nats, _wait
from ._ffi import lib
from ._handle import Handle
from ._util import UINT16_MAX, UINT32_MAX, check_callable, check_int, check_str, require, timeout_ns
from .errors import (
    ERR_WRONG_STATE,
    INTERRUPTED,
    TIMEOUT,
    ClosedError,
    WrongStateError,
    check,
    closed,
    error_for,
)
from .store import Closable, Store

__all__ = [
    "Overflow",
    "ItemKind",
    "WorkerAnswer",
    "WorkerExit",
    "Item",
    "Batch",
    "Canal",
    "Worker",
    "open_remote_cursor",
]


class Overflow(enum.IntEnum):
    DROP_OLDEST = 0
    DROP_NEWEST = 1
    DISCONNECT = 2


class ItemKind(enum.IntEnum):
    EVENT = 0
    GAP = 1


class WorkerAnswer(enum.IntEnum):
    CONTINUE = 0
    STOP = 1
    STOP_AND_ROLLBACK = 2


class WorkerExit(enum.IntEnum):
    STOPPED = 0
    CALLBACK_STOPPED = 1
    CLOSED = 2


def _off(struct: Any, *path: str) -> int:
    off = 0
    for name in path:
        field = getattr(struct, name)
        off += field.offset
        struct = dict(struct._fields_)[name]
    return off


# Field offsets in transom_item: items are read straight out of the C array through one
# read-only memoryview (struct.unpack_from), which costs far less than ctypes attribute access.
_ITEM_SIZE = ctypes.sizeof(_ffi.transom_item)
_I = _ffi.transom_item
_O_KIND = _off(_I, "kind")
_O_ID = _off(_I, "event", "id")
_O_SEQ = _off(_I, "event", "sequence")
_O_VERSION = _off(_I, "event", "stream_version")
_O_TS = _off(_I, "event", "timestamp_ns")
_O_CORR = _off(_I, "event", "correlation_id")
_O_CAUSE = _off(_I, "event", "causation_id")
_O_EKIND = _off(_I, "event", "kind")
_O_STREAM = _off(_I, "event", "stream")
_O_STREAM_LEN = _off(_I, "event", "stream_len")
_O_PAYLOAD = _off(_I, "event", "payload")
_O_PAYLOAD_LEN = _off(_I, "event", "payload_len")
_O_GAP = _off(_I, "gap_from")
# Typed views of struct.unpack_from (it returns Tuple[Any, ...]): no cost at run time.
_Unpack1 = Callable[[memoryview, int], Tuple[int]]
_Unpack2 = Callable[[memoryview, int], Tuple[int, int]]
_U64: _Unpack1 = struct.Struct("=Q").unpack_from
_I32: _Unpack1 = struct.Struct("=i").unpack_from
_U16: _Unpack1 = struct.Struct("=H").unpack_from
_PTR_LEN: _Unpack2 = struct.Struct("=QQ").unpack_from  # (pointer, size_t) pairs: stream, payload
_ID: _Unpack2 = struct.Struct("=QQ").unpack_from
_GAP: Callable[[memoryview, int], Tuple[int, int, int]] = struct.Struct("=QQQ").unpack_from
assert _O_STREAM_LEN == _O_STREAM + 8 and _O_PAYLOAD_LEN == _O_PAYLOAD + 8
assert ctypes.sizeof(ctypes.c_void_p) == 8 and ctypes.sizeof(ctypes.c_size_t) == 8
assert _ITEM_SIZE % 8 == 0 and _O_SEQ % 8 == 0 and _O_KIND % 4 == 0


class Item:
    """One pulled item: an event (``item_kind`` EVENT) or a gap (``is_gap``: the ``gap_count``
    sequences ``gap_from..=gap_to`` were not delivered: a subscription's overflow policy dropped
    them, or retention removed them before a cursor read them; a cursor's gap counts as
    delivered, so acking ``gap_to`` moves past it). Valid until the next pull."""

    __slots__ = ("_batch", "_o")

    def __init__(self, batch: "Batch", offset: int) -> None:
        self._batch = batch
        self._o = offset

    def _mv(self) -> memoryview:
        mv = self._batch._mv
        if mv is None:
            raise closed("item (its batch ended at the next pull)")
        return mv

    @property
    def is_gap(self) -> bool:
        return _I32(self._mv(), self._o + _O_KIND)[0] == ItemKind.GAP

    @property
    def item_kind(self) -> ItemKind:
        return ItemKind(_I32(self._mv(), self._o + _O_KIND)[0])

    @property
    def sequence(self) -> int:
        return _U64(self._mv(), self._o + _O_SEQ)[0]

    @property
    def stream_version(self) -> int:
        return _U64(self._mv(), self._o + _O_VERSION)[0]

    @property
    def timestamp_ns(self) -> int:
        return _U64(self._mv(), self._o + _O_TS)[0]

    @property
    def kind(self) -> int:
        """The event's caller-defined kind."""
        return _U16(self._mv(), self._o + _O_EKIND)[0]

    def _id(self, off: int) -> int:
        hi, lo = _ID(self._mv(), self._o + off)
        return (hi << 64) | lo

    @property
    def id(self) -> int:
        return self._id(_O_ID)

    @property
    def correlation_id(self) -> int:
        return self._id(_O_CORR)

    @property
    def causation_id(self) -> int:
        return self._id(_O_CAUSE)

    @property
    def stream(self) -> str:
        ptr, n = _PTR_LEN(self._mv(), self._o + _O_STREAM)
        return ctypes.string_at(ptr, n).decode("utf-8") if n else ""

    @property
    def payload(self) -> memoryview:
        """The payload without copy (read-only; released at the next pull)."""
        ptr, n = _PTR_LEN(self._mv(), self._o + _O_PAYLOAD)
        if not n:
            return _ffi.view(0, 0)
        mv = _ffi.view(ptr, n)
        self._batch._views.append(mv)
        return mv

    def payload_bytes(self) -> bytes:
        ptr, n = _PTR_LEN(self._mv(), self._o + _O_PAYLOAD)
        return ctypes.string_at(ptr, n) if n else b""

    def _gap(self) -> Tuple[int, int, int]:
        return _GAP(self._mv(), self._o + _O_GAP)

    @property
    def gap_from(self) -> int:
        return self._gap()[0]

    @property
    def gap_to(self) -> int:
        return self._gap()[1]

    @property
    def gap_count(self) -> int:
        return self._gap()[2]

    def __repr__(self) -> str:
        if self._batch._mv is None:
            return "<transom.Item (ended)>"
        if self.is_gap:
            return f"<transom.Item GAP {self.gap_from}..={self.gap_to} ({self.gap_count})>"
        return f"<transom.Item seq={self.sequence} stream={self.stream!r} kind={self.kind}>"


class Batch(Sequence[Item]):
    """The items of one pull (possibly none: ``timed_out`` or ``interrupted`` says why), read in
    place from the C array; valid until the next pull on the canal (or the end of a worker's
    callback)."""

    __slots__ = ("_mv", "_n", "_views", "timed_out", "interrupted")

    def __init__(self, address: int, n: int, status: int = 0) -> None:
        self._n = n
        self._mv: Optional[memoryview] = _ffi.view(address, n * _ITEM_SIZE) if n else memoryview(b"")
        self._views: List[memoryview] = []
        self.timed_out = status == TIMEOUT
        self.interrupted = status == INTERRUPTED

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("batch index out of range")
        if self._mv is None:
            raise closed("batch (it ended at the next pull)")
        return Item(self, i * _ITEM_SIZE)

    def __iter__(self) -> Iterator[Item]:
        if self._mv is None:
            raise closed("batch (it ended at the next pull)")
        for off in range(0, self._n * _ITEM_SIZE, _ITEM_SIZE):
            yield Item(self, off)

    @property
    def valid(self) -> bool:
        return self._mv is not None

    def _column(self, fmt: "Literal['Q', 'i']", offset: int) -> List[int]:
        """One field of every item, read through a strided view (no per-item Python work)."""
        mv = self._mv
        if mv is None:
            raise closed("batch (it ended at the next pull)")
        if not self._n:
            return []
        size = 8 if fmt == "Q" else 4
        assert offset % size == 0 and _ITEM_SIZE % size == 0
        col = mv[offset:].cast(fmt)
        values: List[int] = col[:: _ITEM_SIZE // size][: self._n].tolist()
        return values

    def sequences(self) -> List[int]:
        """The sequences of the batch's events (gaps skipped), read in one strided pass."""
        seqs = self._column("Q", _O_SEQ)
        kinds = self._column("i", _O_KIND)
        if any(kinds):
            return [s for s, k in zip(seqs, kinds) if k == ItemKind.EVENT]
        return seqs

    @property
    def last_sequence(self) -> int:
        """The highest sequence the batch delivered: its last event's, or ``gap_to`` when it
        ends with a gap (a cursor's gap counts as delivered); 0 for an empty batch. Ack this."""
        if self._mv is None:
            raise closed("batch (it ended at the next pull)")
        if not self._n:
            return 0
        last = Item(self, (self._n - 1) * _ITEM_SIZE)
        return last.gap_to if last.is_gap else last.sequence

    def payloads(self) -> List[bytes]:
        """Every event's payload, copied (gaps skipped)."""
        return [it.payload_bytes() for it in self if not it.is_gap]

    def _end(self) -> None:
        for mv in self._views:
            try:
                mv.release()
            except BufferError:
                pass
        self._views = []
        if self._mv is not None:
            try:
                self._mv.release()
            except BufferError:
                pass
        self._mv = None

    def __repr__(self) -> str:
        return f"<transom.Batch {self._n} items{'' if self._mv is not None else ' (ended)'}>"


def _filter(f: _ffi.transom_filter, prefix: Any, kinds: Any, keep: List[Any]) -> None:
    p = check_str("stream_prefix", prefix)
    if p:
        f.stream_prefix = p
        f.stream_prefix_len = len(p)
        keep.append(p)
    if isinstance(kinds, (str, bytes)) or not isinstance(kinds, Sequence):
        raise TypeError("kinds must be a sequence of ints")
    if kinds:
        arr = (ctypes.c_uint16 * len(kinds))(*[check_int("kinds[]", k, 0, UINT16_MAX) for k in kinds])
        keep.append(arr)
        f.kinds = arr
        f.kind_count = len(kinds)


def _start(o: Any, start: Any) -> None:
    """Sets ``o.start`` (and ``o.start_sequence``) from "begin", "end" or a sequence."""
    if start == "begin":
        o.start = 0
    elif start == "end":
        o.start = 1
    elif isinstance(start, int) and not isinstance(start, bool):
        o.start = 2
        o.start_sequence = check_int("start", start)
    else:
        raise TypeError('start must be "begin", "end" or an int sequence')


_NO_LIMIT = (1 << 64) - 1
_UNSET = (1 << 64) - 1  # an item count no pull returns: "the pull wrote nothing"


class Canal(Closable):
    """A cursor or a subscription. One thread pulls at a time; :meth:`interrupt` and
    :meth:`close` may come from any thread (close wakes a blocked pull). Iterating a canal
    yields batches of up to 256 items until it closes (it or its store closed), is interrupted,
    or (with :meth:`batches` and a timeout) stays idle for that long. ``close()`` keeps the
    object (later calls raise ClosedError); ``free()``, leaving a ``with`` block or garbage
    collection release it."""

    _what = "canal"
    _exit_order = 10

    def __init__(self, ptr: Any, store: Optional[Store], is_cursor: bool) -> None:
        super().__init__(ptr, self._free)
        self._store = store
        self.is_cursor = is_cursor
        self._cap = 0
        self._items: Any = None
        self._count = c_size_t(0)
        self._count_ref = byref(self._count)
        self._items_addr = 0
        self._batch: Optional[Batch] = None
        # Items an interrupted pull took and did not return: (first index, count) in _items.
        self._held_off = 0
        self._held_n = 0

    @classmethod
    def _cursor(cls, store: Store, start: Any, name: Any, prefix: Any, kinds: Any) -> "Canal":
        require("store", store, Store)
        o = _ffi.transom_cursor_options()
        keep: List[Any] = []
        _filter(o.filter, prefix, kinds, keep)
        if name is not None:
            n = check_str("name", name)
            o.start = 3
            o.name = n
            o.name_len = len(n)
        else:
            _start(o, start)
        out = ctypes.POINTER(_ffi.transom_canal)()
        with store._use() as s:
            check(lib.transom_canal_open_cursor(s, byref(o), byref(out)))
        return cls(out, store, True)

    @classmethod
    def _remote(
        cls,
        urls: Any,
        stream: Any,
        name: Any,
        start: Any,
        prefix: Any,
        kinds: Any,
        subject_prefix: Any,
        ack_wait: Any,
        prefetch: Any,
        credentials_file: Any,
        connect_timeout: Any,
        request_timeout: Any,
    ) -> "Canal":
        o = _ffi.transom_remote_cursor_options()
        keep: List[Any] = []
        _nats.nats_options(o.nats, urls, credentials_file, connect_timeout, request_timeout, keep)
        st = check_str("stream", stream)
        n = check_str("name", name)
        keep += [st, n]
        o.stream, o.stream_len = st, len(st)
        o.name, o.name_len = n, len(n)
        if subject_prefix is not None:
            sp = check_str("subject_prefix", subject_prefix)
            keep.append(sp)
            o.subject_prefix, o.subject_prefix_len = sp, len(sp)
        _filter(o.filter, prefix, kinds, keep)
        _start(o, start)
        o.ack_wait_ns = _nats.seconds_ns("ack_wait", ack_wait)
        if prefetch is not None:
            o.prefetch = check_int("prefetch", prefetch, 1)
        out = ctypes.POINTER(_ffi.transom_canal)()
        check(lib.transom_canal_open_remote_cursor(byref(o), byref(out)))
        return cls(out, None, True)

    @classmethod
    def _subscription(cls, store: Store, capacity: Any, overflow: Any, prefix: Any, kinds: Any) -> "Canal":
        require("store", store, Store)
        o = _ffi.transom_subscription_options()
        keep: List[Any] = []
        _filter(o.filter, prefix, kinds, keep)
        o.capacity = check_int("capacity", capacity)
        o.overflow = check_int("overflow", overflow, 0, UINT32_MAX)
        out = ctypes.POINTER(_ffi.transom_canal)()
        with store._use() as s:
            check(lib.transom_canal_open_subscription(s, byref(o), byref(out)))
        return cls(out, store, False)

    def _end_batch(self) -> None:
        if self._batch is not None:
            self._batch._end()
            self._batch = None

    def _free(self, ptr: Any) -> None:
        self._end_batch()
        lib.transom_canal_free(ptr)

    def _wake(self, ptr: Any) -> None:
        # Freeing while another thread pulls: close first, so that pull returns.
        lib.transom_canal_close(ptr)

    def close(self) -> None:
        """Closes the canal (idempotent, any thread; a blocked pull wakes). A subscription
        still hands out what it buffered, then pulls raise ClosedError; ack, checkpoint, rewind
        and interrupt raise ClosedError at once (checkpoint first). A named cursor keeps its
        name until :meth:`free`."""
        super().close()

    def _close_c(self, ptr: Any) -> int:
        st: int = lib.transom_canal_close(ptr)
        return st

    def pull_batch(self, max: int = 256, timeout: Optional[float] = None) -> Batch:
        """Pulls up to ``max`` items (the C ``cap``), waiting up to ``timeout`` seconds (None:
        no limit) with the GIL released. Returns at once when at least one is ready; an empty
        batch on timeout or interrupt. ClosedError (or DisconnectedError) only after every
        buffered item was handed out. The previous batch of this canal ends here. Ctrl-C raises
        KeyboardInterrupt (on the main thread) with nothing lost: items pulled as the signal
        arrived are returned by the next pull."""
        if type(max) is not int or max < 1:
            check_int("max", max, 1)
        ns = _NO_LIMIT if timeout is None else timeout_ns("timeout", timeout)
        c = self._enter()
        try:
            self._end_batch()
            if self._held_n:
                return self._hand_held(max)
            if max > self._cap:
                self._items = (_ffi.transom_item * max)()
                self._items_addr = ctypes.addressof(self._items)
                self._cap = max
            count = self._count
            count.value = _UNSET  # C writes the count on TRANSOM_OK only
            try:
                if ns <= _wait.SLICE_NS:
                    st = lib.transom_canal_pull_batch(c, ns, self._items, max, self._count_ref)
                else:
                    st = _wait.call(lib.transom_canal_pull_batch, c, ns, self._items, max, self._count_ref)
                if st < 0:
                    raise error_for(st)
                b = Batch(self._items_addr, count.value if st == 0 else 0, st)
                self._batch = b
                return b
            except BaseException:
                if count.value != _UNSET and self._batch is None:
                    # Pulled, but an exception (Ctrl-C) came before the batch was returned.
                    self._held_off, self._held_n = 0, count.value
                raise
        finally:
            self._leave()

    def _hand_held(self, max: int) -> Batch:
        """Up to ``max`` of the items an interrupted pull took (still valid: no pull since)."""
        k = min(max, self._held_n)
        b = Batch(self._items_addr + self._held_off * _ITEM_SIZE, k, 0)
        self._batch = b
        self._held_off += k
        self._held_n -= k
        return b

    def batches(self, max: int = 256, timeout: Optional[float] = None) -> Iterator[Batch]:
        """Yields batches until the canal closes, a pull is interrupted, or nothing came for
        ``timeout`` seconds. DisconnectedError (a DISCONNECT subscription overflowed) is raised
        after the buffered items."""
        while True:
            try:
                b = self.pull_batch(max, timeout)
            except ClosedError:
                return
            if not b:
                return
            yield b

    def __iter__(self) -> Iterator[Batch]:
        return self.batches()

    def __aiter__(self) -> "AsyncIterator[Batch]":
        """``async for batch in canal``: :func:`transom.aio.batches` on this canal (the event
        loop waits on the canal's descriptor; nothing is pulled until a pull would not block)."""
        from . import aio

        return aio.batches(self)

    def interrupt(self) -> None:
        """Wakes a blocked pull (or the next one) with an empty, ``interrupted`` batch."""
        with self._use() as c:
            check(lib.transom_canal_interrupt(c))

    def ack(self, sequence: int) -> None:
        """Cursors: acknowledges every delivered event up to ``sequence``."""
        check_int("sequence", sequence)
        with self._use() as c:
            check(lib.transom_canal_ack(c, sequence))

    def checkpoint(self) -> None:
        """Named cursors: persists the acknowledged position durably."""
        with self._use() as c:
            check(lib.transom_canal_checkpoint(c))

    def rewind(self) -> None:
        """Cursors: the next pull starts again at the first unacknowledged event."""
        with self._use() as c:
            check(lib.transom_canal_rewind(c))

    def spawn_worker(
        self,
        callback: Callable[[Batch], Union[None, int, bool]],
        *,
        max_batch: int = 0,
        checkpoint_every: int = 0,
        checkpoint_on_exit: bool = True,
    ) -> "Worker":
        """Starts a worker thread calling ``callback(batch)`` per batch; it returns
        None/CONTINUE, STOP or STOP_AND_ROLLBACK. An exception is reported on stderr and
        answers STOP_AND_ROLLBACK (the batch is not acknowledged). ``callback`` may run before
        this returns. The worker takes this canal: it is freed for Python on success."""
        check_callable("callback", callback)
        o = _ffi.transom_worker_options()
        o.max_batch = check_int("max_batch", max_batch)
        o.checkpoint_every = check_int("checkpoint_every", checkpoint_every, 0, UINT32_MAX)
        if not isinstance(checkpoint_on_exit, bool):
            raise TypeError("checkpoint_on_exit must be a bool")
        o.no_checkpoint_on_exit = not checkpoint_on_exit
        if self._held_n:
            raise WrongStateError(
                ERR_WRONG_STATE,
                f"{self._held_n} item(s) pulled by an interrupted pull_batch were not returned "
                "yet: pull them first (the worker would start after them)",
            )
        self._end_batch()
        free_fn = self._free_fn
        ptr = self._detach()
        cb = _ffi.transom_batch_callback()
        cb.ctx = _callbacks.register(_callbacks.Entry(callback))
        cb.call = _batch_tramp
        cb.drop = _callbacks.DROP
        out = ctypes.POINTER(_ffi.transom_worker)()
        st = lib.transom_canal_spawn_worker(ptr, cb, byref(o), byref(out))
        if st < 0:
            err = error_for(st)
            with self._cond:  # the canal stays ours: reopen the handle
                self._ptr, self._free_fn, self._closing = ptr, free_fn, False
            raise err
        # The handle has no canal left (the worker owns it): release it.
        lib.transom_canal_free(ptr)
        return Worker(out, self._store)


def _batch_tramp_py(ctx: Optional[int], items: Any, count: int) -> int:
    try:
        entry = _callbacks.lookup(ctx)
        if entry is None:
            return WorkerAnswer.STOP_AND_ROLLBACK
        b = Batch(_ffi.address_of(items), count)
        try:
            answer = entry.call(b)
        finally:
            b._end()
        if answer is None or answer is True:
            return 0
        if answer is False:
            return WorkerAnswer.STOP
        if isinstance(answer, int):
            return int(answer)
        raise TypeError(f"a batch callback must return None or a WorkerAnswer, not {answer!r}")
    except BaseException:
        _callbacks.report("a worker's batch callback (the batch is not acknowledged; the worker stops)")
        return WorkerAnswer.STOP_AND_ROLLBACK


# The C function pointer (alive for the life of the process).
_batch_tramp = _ffi.BATCH_FN(_batch_tramp_py)


class Worker(Handle):
    """A worker thread (from :meth:`Canal.spawn_worker`). ``close()`` stops it, waits for its
    thread and frees it with its canal."""

    _what = "worker"
    _exit_order = 5

    def __init__(self, ptr: Any, store: Optional[Store]) -> None:
        super().__init__(ptr, lib.transom_worker_free)
        self._store = store

    def stop(self) -> None:
        """Asks the worker to stop, without waiting."""
        with self._use() as w:
            check(lib.transom_worker_stop(w))

    def join(self, timeout: Optional[float] = None) -> Optional[WorkerExit]:
        """Waits up to ``timeout`` seconds (GIL released) for the worker to end: its
        :class:`WorkerExit`, None while it still runs; raises its terminal error. Ctrl-C raises
        KeyboardInterrupt (on the main thread); the worker is untouched."""
        return self._join(lib.transom_worker_join, timeout)

    def stop_and_join(self, timeout: Optional[float] = None) -> Optional[WorkerExit]:
        """:meth:`stop`, then :meth:`join`."""
        return self._join(lib.transom_worker_stop_and_join, timeout)

    def _join(self, fn: Any, timeout: Optional[float]) -> Optional[WorkerExit]:
        # Repeated joins return the same result, and stop is idempotent: a wait in slices (so
        # that Ctrl-C interrupts it on the main thread) means the same as one long call.
        ns = timeout_ns("timeout", timeout)
        ex = c_int32(0)
        with self._use() as w:
            st = _wait.call(fn, w, ns, byref(ex))
        if st == TIMEOUT:
            return None
        check(st)
        return WorkerExit(ex.value)


def open_remote_cursor(
    urls: Union[str, bytes, Sequence[Union[str, bytes]]],
    stream: Union[str, bytes],
    name: Union[str, bytes],
    *,
    start: Union[str, int] = "begin",
    stream_prefix: Union[str, bytes] = b"",
    kinds: Sequence[int] = (),
    subject_prefix: Optional[Union[str, bytes]] = None,
    ack_wait: Optional[float] = None,
    prefetch: Optional[int] = None,
    credentials_file: Optional[Union[str, bytes]] = None,
    connect_timeout: Optional[float] = None,
    request_timeout: Optional[float] = None,
) -> Canal:
    """Opens a remote cursor: the durable JetStream pull consumer ``name`` of the stream
    ``stream`` that a mirror fills, as a :class:`Canal` that works like a local cursor (pull,
    ack, checkpoint, rewind, workers). Reopening with ``name`` resumes after the last
    acknowledgement the server confirmed (``checkpoint``). ``start`` ("begin", "end" or a
    sequence) applies to a consumer that does not exist yet; ``ack_wait`` (seconds, None or 0:
    30) is how long the server waits for an ack before delivering again (so also how long a new
    session may wait for what its predecessor received and did not acknowledge);
    ``subject_prefix`` is the mirror's (default "transom"). UnavailableError when no server
    answers within ``connect_timeout`` (seconds, None or 0: 2) or the stream does not exist."""
    return Canal._remote(
        urls,
        stream,
        name,
        start,
        stream_prefix,
        kinds,
        subject_prefix,
        ack_wait,
        prefetch,
        credentials_file,
        connect_timeout,
        request_timeout,
    )
