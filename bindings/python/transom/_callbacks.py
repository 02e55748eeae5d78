"""Python callables behind C closures.

Each C closure ``{ctx, call, drop}`` built by the binding uses one of the module-level ctypes
trampolines below (alive for the life of the process) and a ``ctx`` that is a key into
:data:`_registry`, which holds the Python callable. transom calls ``drop`` exactly once after the
last ``call``; the drop trampoline removes the key, releasing the binding's reference. So a
callable stays alive exactly as long as transom may call it, whatever the caller keeps.

An exception raised by a callable never crosses into C: the trampoline catches it, prints the
traceback to ``sys.stderr``, increments :func:`callback_errors`, and returns the safe answer for
that kind of callback (documented on each API).
"""

from __future__ import annotations

import itertools
import sys
import threading
import traceback
from typing import Any, Callable, Dict, Optional

from . import _ffi

_registry: Dict[int, Any] = {}
_keys = itertools.count(1)
_lock = threading.Lock()
_errors = 0


def callback_errors() -> int:
    """How many exceptions Python callbacks raised (each was printed to stderr) so far."""
    return _errors


def live_callbacks() -> int:
    """How many Python callables transom currently holds (registered, not yet dropped)."""
    return len(_registry)


def report(where: str) -> None:
    """Reports the exception being handled: traceback on stderr, counted."""
    global _errors
    with _lock:
        _errors += 1
    try:
        err = sys.stderr
        if err is not None:
            err.write(f"transom: exception in {where} (not propagated into C):\n")
            traceback.print_exc(file=err)
            err.flush()
    except Exception:
        pass


def register(obj: Any) -> int:
    """Stores ``obj`` until its drop runs; returns the ctx key."""
    key = next(_keys)
    _registry[key] = obj
    return key


def lookup(ctx: Optional[int]) -> Any:
    return _registry.get(ctx or 0)


def unregister(ctx: Optional[int]) -> None:
    _registry.pop(ctx or 0, None)


def _drop_py(ctx: Optional[int]) -> None:
    try:
        entry = _registry.pop(ctx or 0, None)
        on_drop = getattr(entry, "on_drop", None)
        if on_drop is not None:
            on_drop()
    except BaseException:
        report("a drop callback")


# The C function pointer (alive for the life of the process).
_drop = _ffi.DROP_FN(_drop_py)


def invoke(ctx: Optional[int], where: str, fallback: Any, *args: Any) -> Any:
    """Calls the registered entry's ``call(*args)``, catching everything."""
    try:
        entry = _registry.get(ctx or 0)
        if entry is None:
            return fallback
        return entry.call(*args)
    except BaseException:
        report(where)
        return fallback


class Entry:
    """What a ctx key names: the callable's adapter and an optional hook run at drop."""

    __slots__ = ("call", "on_drop", "__weakref__")

    def __init__(self, call: Callable[..., Any], on_drop: Optional[Callable[[], None]] = None):
        self.call = call
        self.on_drop = on_drop


DROP = _drop
