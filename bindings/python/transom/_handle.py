"""The lifetime of every C handle held by a Python object.

A :class:`Handle` owns one C pointer. Each method borrows it with :meth:`Handle._use` (a context
manager counting users); :meth:`Handle.close` marks it closed at once (later uses raise
:class:`~transom.errors.ClosedError` without reaching C), runs the subclass's ``_wake`` (e.g.
``transom_conversation_close`` or ``transom_canal_interrupt`` so blocked calls return), and frees
the pointer when the last user is gone. So ``close`` from one thread while another is blocked in
the same handle never frees memory under a running C call, and closing from inside a callback
running within a call on the same handle does not deadlock: the free is deferred to that call's
end.

A handle may also have an **owner thread** (``_owner``, a thread ident; None = any thread):
every use from another thread raises :class:`~transom.errors.ThreadingError` (built by the
subclass's ``_wrong_thread``) before reaching C. STATIC and HEAP managers use it; closing is
allowed from any thread (it waits for calls in progress, so it never races one).
"""

from __future__ import annotations

import atexit
import threading
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, TypeVar

from .errors import closed

H = TypeVar("H", bound="Handle")

_live: "weakref.WeakSet[Handle]" = weakref.WeakSet()
_live_lock = threading.Lock()


class Handle:
    """Base of every handle-owning class; use as a context manager (``with ... as h:``)."""

    _what = "handle"
    # Closing order at interpreter exit: lower first (workers before canals before stores, ...).
    _exit_order = 50

    def __init__(self, ptr: Any, free: Callable[[Any], Any]) -> None:
        if not ptr:
            raise ValueError("NULL handle")
        self._ptr: Any = ptr
        self._free_fn: Optional[Callable[[Any], Any]] = free
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._users = 0
        self._user_threads: List[int] = []
        self._closing = False
        # Threads inside close() waiting for the calls in progress to end (they free it).
        self._closers = 0
        self._free_result: Any = None
        self._owner: Optional[int] = None
        self._owner_name = ""
        with _live_lock:
            _live.add(self)

    # -- use ------------------------------------------------------------------------------
    @contextmanager
    def _use(self) -> Iterator[Any]:
        tid = threading.get_ident()
        with self._cond:
            if self._closing:
                raise closed(self._what)
            if self._owner is not None and self._owner != tid:
                raise self._wrong_thread(tid)
            self._users += 1
            self._user_threads.append(tid)
        try:
            yield self._ptr
        finally:
            self._leave()

    def _enter(self) -> Any:
        """The non-generator form of :meth:`_use` for hot paths: pair with :meth:`_leave` in a
        ``try``/``finally``."""
        tid = threading.get_ident()
        with self._lock:  # the condition's lock (a C-level context manager: cheaper)
            if self._closing:
                raise closed(self._what)
            if self._owner is not None and self._owner != tid:
                raise self._wrong_thread(tid)
            self._users += 1
            self._user_threads.append(tid)
        return self._ptr

    def _wrong_thread(self, tid: int) -> Exception:
        """The error for a use from thread ``tid``, which does not own this handle."""
        return RuntimeError(f"this {self._what} belongs to another thread")

    def _check_thread(self) -> None:
        """Raises the subclass's error when the calling thread does not own this handle (for
        operations that touch its memory without a C call)."""
        tid = threading.get_ident()
        if self._owner is not None and self._owner != tid:
            raise self._wrong_thread(tid)

    def _leave(self) -> None:
        with self._lock:
            self._users -= 1
            self._user_threads.remove(threading.get_ident())
            last = self._closing and self._users == 0
            # A close waiting on another thread frees the handle there (see close).
            free_here = last and self._closers == 0
            if last and not free_here:
                self._cond.notify_all()
        if free_here:
            self._do_free()

    @property
    def closed(self) -> bool:
        return self._closing

    # -- close ----------------------------------------------------------------------------
    def _wake(self, ptr: Any) -> None:
        """Subclass hook, run once at close before waiting for users: make blocked calls on
        this handle return."""

    def _detach(self) -> Any:
        """Marks the handle closed without freeing it (ownership moved to C); returns the
        pointer. Raises ClosedError when already closed."""
        with self._cond:
            if self._closing:
                raise closed(self._what)
            if self._users:
                raise RuntimeError(f"this {self._what} is in use by another call")
            self._closing = True
            ptr, self._ptr, self._free_fn = self._ptr, None, None
            self._cond.notify_all()
        return ptr

    def close(self) -> None:
        """Closes the handle (idempotent). Waits for calls in progress on other threads and then
        frees it on this thread; from inside such a call (a callback) it returns at once and the
        call's end frees it.

        Freeing on the closing thread matters: a call in progress may be a callback running on
        one of the C object's own threads (a runtime worker inside ``rt.reply``), and a free
        there could not join that thread, so the object's threads would outlive ``close`` (and
        might call into an interpreter that is shutting down)."""
        with self._cond:
            first = not self._closing
            self._closing = True
            ptr = self._ptr
            me = threading.get_ident()
            mine = sum(1 for t in self._user_threads if t == me)
            if mine == 0:
                self._closers += 1
                self._cond.notify_all()
        if first and ptr is not None:
            self._wake(ptr)
        if mine:
            return
        try:
            with self._cond:
                while self._users:
                    self._cond.wait()
        finally:
            with self._cond:
                self._closers -= 1
        self._do_free()

    def _do_free(self) -> None:
        """Frees the pointer once (the first caller); later callers wait until it is freed."""
        with self._cond:
            ptr, fn = self._ptr, self._free_fn
            self._free_fn = None
            if fn is None:
                while self._ptr is not None:
                    self._cond.wait()
                return
        try:
            if ptr is not None:
                self._free_result = fn(ptr)
        finally:
            with self._cond:
                self._ptr = None
                self._cond.notify_all()

    def __enter__(self: H) -> H:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closing:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<transom.{type(self).__name__} {state}>"


def _close_all() -> None:
    # At interpreter exit, close what is still open while Python can still run the callbacks
    # that C threads may call during shutdown.
    with _live_lock:
        handles = sorted(list(_live), key=lambda h: h._exit_order)
    for h in handles:
        try:
            h.close()
        except Exception:
            pass


atexit.register(_close_all)
