"""The JetStream mirror: a store's events shipped, in sequence order and exactly once, to a
NATS JetStream stream whose sequence equals the transom sequence (``transom_mirror`` in the C
header documents what is shipped when, every state, and what happens on divergence)."""

from __future__ import annotations

import ctypes
import enum
import os
from ctypes import byref
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Union

from . import _ffi, _nats, _wait
from ._ffi import lib
from ._util import UINT32_MAX, check_int, check_str, timeout_ns
from .errors import TIMEOUT, check
from .store import Closable, Store

__all__ = ["Mirror", "MirrorState", "MirrorStatus"]


class MirrorState(enum.IntEnum):
    """``TRANSOM_MIRROR_*``: what a mirror is doing."""

    CONNECTING = 0
    RUNNING = 1
    RETRYING = 2
    STOPPED = 3


@dataclass(frozen=True)
class MirrorStatus:
    """A snapshot (``transom_mirror_report``): ``shipped`` is the highest sequence JetStream
    acknowledged, ``lag`` = ``store_head - shipped``; ``error`` is the last failure's status
    (0: none), ``error_value`` its number (a sequence for ERR_DIVERGED / ERR_TOO_LARGE)."""

    state: MirrorState
    shipped: int
    store_head: int
    lag: int
    retries: int
    error: int
    error_value: int
    error_message: str


class Mirror(Closable):
    """A running mirror of a :class:`~transom.Store` to a JetStream stream; start one with
    :meth:`start`. Every method may be called from any thread. ``close()`` stops it (awaiting
    the acknowledgements in flight); ``free()``, a ``with`` block or garbage collection release
    it."""

    _what = "mirror"
    _exit_order = 45  # before stores

    @classmethod
    def start(
        cls,
        store: Store,
        urls: Union[str, Sequence[str]],
        stream: str,
        *,
        subject_prefix: str = "",
        replicas: int = 0,
        max_in_flight: int = 0,
        credentials_file: Union[None, str, "os.PathLike[str]"] = None,
        connect_timeout: float = 0.0,
        request_timeout: float = 0.0,
    ) -> "Mirror":
        """``transom_store_mirror_start``: returns at once; connecting, creating the stream and
        catching up happen on the mirror's own thread. ``urls``: one URL or several
        (``nats://127.0.0.1:4222``); ``stream``: the JetStream stream (``[A-Za-z0-9_-]``);
        ``subject_prefix`` ("" = ``transom``), ``replicas`` (0 = 1) when it creates the stream,
        ``max_in_flight`` (0 = 1024), timeouts in seconds (0 = the defaults, 2 s and 5 s)."""
        if not isinstance(store, Store):
            raise TypeError(f"store must be a transom.Store, not {type(store).__name__}")
        o = _ffi.transom_mirror_options()
        keep: List[Any] = []
        _nats.nats_options(o.nats, urls, credentials_file, connect_timeout, request_timeout, keep)
        s = check_str("stream", stream)
        o.stream = s
        o.stream_len = len(s)
        prefix = check_str("subject_prefix", subject_prefix)
        o.subject_prefix = prefix
        o.subject_prefix_len = len(prefix)
        o.replicas = check_int("replicas", replicas, 0, UINT32_MAX)
        o.max_in_flight = check_int("max_in_flight", max_in_flight, 0, UINT32_MAX)
        out = ctypes.POINTER(_ffi.transom_mirror)()
        with store._use() as sp:
            check(lib.transom_store_mirror_start(sp, byref(o), byref(out)))
        return cls(out, lib.transom_mirror_free)

    def _close_c(self, ptr: Any) -> int:
        st: int = lib.transom_mirror_close(ptr)
        return st

    def status(self) -> MirrorStatus:
        """``transom_mirror_status`` (works after :meth:`close` too: STOPPED)."""
        r = _ffi.transom_mirror_report()
        with self._use() as p:
            check(lib.transom_mirror_status(p, byref(r)))
        return MirrorStatus(
            state=MirrorState(r.state),
            shipped=r.shipped,
            store_head=r.store_head,
            lag=r.lag,
            retries=r.retries,
            error=r.error,
            error_value=r.error_value,
            error_message=r.error_message.decode("utf-8", "replace"),
        )

    def wait(self, sequence: int, timeout: Optional[float] = None) -> bool:
        """``transom_mirror_wait``: True once JetStream holds every event up to ``sequence``,
        False when ``timeout`` seconds passed first (None: no limit). When the mirror stopped
        first it raises the error that stopped it (DivergedError, TooLargeError, ...) or
        ClosedError after :meth:`close`."""
        seq = check_int("sequence", sequence)
        ns = timeout_ns("timeout", timeout)
        with self._use() as p:
            st = _wait.call(lambda h, t: lib.transom_mirror_wait(h, seq, t), p, ns)
        if st == TIMEOUT:
            return False
        check(st)
        return True
