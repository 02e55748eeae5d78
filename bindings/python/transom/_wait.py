"""Blocking C calls that Ctrl-C can interrupt.

A ctypes call that blocks in C keeps Python from running its signal handlers until it returns:
a ``receive()`` without a timeout would ignore Ctrl-C forever. So on the main thread (the only
one where Python runs signal handlers) a long wait is made of C calls of at most
:data:`SLICE_NS` each, the GIL released during each: between two of them the interpreter runs
the handlers, and ``KeyboardInterrupt`` (or whatever a handler raises) propagates from the
blocking method within about one slice. An idle wait costs a few microseconds of CPU per slice
(about 40 wake-ups a second). Other threads, which never run signal handlers, make one C call
with the whole timeout.

A slice that times out has consumed nothing (the C API writes no output on TRANSOM_TIMEOUT), so
an exception between slices leaves the handle as it was. When the exception comes right after a
slice that did take something (the signal arrived as the C call returned), the method that
called :func:`call` keeps what was taken and hands it out first on its next call: nothing is
half-consumed.

The invariant for a reader: the C function must be safe to call again after TRANSOM_TIMEOUT
with the remaining time, with the same meaning as one long call (true of every blocking
transom call: receive, await_crash, pull_batch, join).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from ._util import UINT64_MAX
from .errors import TIMEOUT

__all__ = ["SLICE_NS", "call"]

SLICE_NS = 25_000_000
"""The longest C wait on the main thread: 25 ms, so Ctrl-C is seen within about that."""

# Tests only: called on the main thread after a slice ended without a result (the call is
# blocked in its wait loop), so that a test can signal "blocked" to another process.
_on_idle_slice: Optional[Callable[[], None]] = None

_main_thread = threading.main_thread


def sliced() -> bool:
    """True when waits on this thread are sliced (it is the thread that runs signal handlers)."""
    return threading.get_ident() == _main_thread().ident


def call(fn: Callable[..., int], handle: Any, timeout_ns: int, *rest: Any) -> int:
    """``fn(handle, t, *rest)`` for a wait of ``timeout_ns`` (UINT64_MAX: no limit), in slices
    on the main thread; returns the first status that is not TRANSOM_TIMEOUT, or TIMEOUT when
    the whole wait passed. Signal handlers run between slices (their exception propagates)."""
    if timeout_ns <= SLICE_NS or not sliced():
        return fn(handle, timeout_ns, *rest)
    now = time.monotonic_ns
    deadline = None if timeout_ns >= UINT64_MAX else now() + timeout_ns
    t = SLICE_NS
    while True:
        st = fn(handle, t, *rest)
        if st != TIMEOUT:
            return st
        hook = _on_idle_slice
        if hook is not None:
            hook()
        if deadline is not None:
            left = deadline - now()
            if left <= 0:
                return TIMEOUT
            t = min(SLICE_NS, left)
