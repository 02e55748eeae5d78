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


def _exit_reason_from_exception() -> None:
    """Inside a behaviour's call: makes the exception being handled the process's exit reason
    (TRANSOM_EXIT_ERROR, code TRANSOM_ERR_PANIC, message ``"Type: str(exc)"`` cut to 255
    bytes); anywhere else transom answers WRONG_STATE and nothing changes."""
    exc = sys.exc_info()[1]
    if exc is None:
        return
    t = type(exc)
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    try:
        text = f"{name}: {exc}"
    except Exception:
        text = name
    raw = text.encode("utf-8", "replace")[:255].decode("utf-8", "ignore").encode("utf-8")
    r = _ffi.transom_exit_reason()
    r.kind = 2  # TRANSOM_EXIT_ERROR
    r.code = -3  # TRANSOM_ERR_PANIC, the status the behaviour trampoline returns
    r.message = raw.replace(b"\0", b"?")
    _ffi.lib.transom_behaviour_set_exit_reason(r)


def report(where: str) -> None:
    """Reports the exception being handled: traceback on stderr, counted; in a behaviour it
    also becomes the process's exit reason (type and message)."""
    global _errors
    with _lock:
        _errors += 1
    try:
        _exit_reason_from_exception()
    except Exception:
        pass
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
