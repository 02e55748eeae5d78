"""asyncio on top of transom's pollable descriptors (``transom_*_fd`` in the C API).

Each awaitable waits with :meth:`asyncio.loop.add_reader` on the handle's descriptor and
then makes the ordinary call with timeout 0, so the event loop never blocks in transom and an
idle wait uses no CPU and no thread::

    from transom import aio

    msg = await aio.receive(mailbox)          # next to mailbox.receive()
    reply = await aio.receive(conversation)   # next to conversation.receive()
    crash = await aio.crash(conversation)     # next to conversation.await_crash()
    exit = await aio.join(worker)             # next to worker.join()
    batch = await aio.pull_batch(canal)       # next to canal.pull_batch()
    async for batch in aio.batches(canal):    # next to canal.batches() / for batch in canal
        ...

Results and errors are those of the synchronous call without a timeout: ``receive`` returns
the message or reply (never None) and raises ClosedError, ParticipantCrashedError, ... as the
synchronous call does; ``crash`` returns the first crash (ClosedError if the conversation
closed without one); ``join`` returns the :class:`~transom.canal.WorkerExit` or raises the
worker's terminal error; ``pull_batch`` returns a non-empty batch, or an empty one with
``interrupted`` set after :meth:`~transom.canal.Canal.interrupt`; ``batches`` ends, like
``canal.batches()``, when the canal closes or is interrupted. For a deadline, wrap any of them
in :func:`asyncio.wait_for`.

Cancellation consumes nothing: a coroutine is only ever suspended while waiting for the
descriptor, and it takes an item only in the synchronous, non-blocking call that follows the
wake-up, with no ``await`` in between. A cancelled ``receive`` leaves its message queued for
the next one; a cancelled ``pull_batch`` leaves the items in the canal.

Several awaits may wait on the same handle at once in one loop (each registers its own
duplicate of the descriptor): every item goes to exactly one of them, the others keep waiting.
The handles' one-thread-at-a-time rules still apply — use a handle from one event loop (one
thread) — and so do the views' lifetimes: a message's ``data`` and a batch's items end with the
next receive or pull on that handle, whichever coroutine makes it, so copy what you keep.

Closing or freeing a handle while a coroutine waits on it wakes that coroutine, which then
raises ClosedError (the library leaves the descriptor readable when it closes it). Needs an
event loop with ``add_reader`` (the default loop on Linux, uvloop).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from ctypes import byref
from typing import Any, AsyncIterator, Callable, Optional, TypeVar, Union

from ._ffi import lib
from .actor import Mailbox, Message
from .canal import Batch, Canal, Worker, WorkerExit
from .conversation import Conversation, CrashInfo, Reply
from .errors import ClosedError, check

__all__ = ["receive", "crash", "join", "pull_batch", "batches"]

T = TypeVar("T")


def _dup_fd(handle: Any, fd_function: Any) -> int:
    """A duplicate of `handle`'s descriptor, owned by the caller: it stays valid (and becomes
    readable for good) when the handle is freed, so no event loop ever watches a closed or
    reused descriptor number."""
    out = ctypes.c_int(-1)
    with handle._use() as h:
        check(fd_function(h, byref(out)))
        return os.dup(out.value)


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: "asyncio.Future[None]" = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _until(handle: Any, fd_function: Any, attempt: Callable[[], Optional[T]]) -> T:
    """Calls `attempt` (non-blocking) until it returns a value, waiting for the descriptor to
    become readable in between. Cancellation can only land in that wait."""
    fd = _dup_fd(handle, fd_function)
    try:
        while True:
            got = attempt()
            if got is not None:
                return got
            await _readable(fd)
    finally:
        os.close(fd)


async def receive(handle: Union[Mailbox, Conversation]) -> Any:
    """The next message of a :class:`~transom.Mailbox` (a
    :class:`~transom.actor.Message`) or the next reply of a :class:`~transom.Conversation`
    (a :class:`~transom.conversation.Reply`), without blocking the loop. Raises what the
    synchronous ``receive`` raises (ClosedError once the mailbox's process exited; the
    conversation's ending after its buffered replies)."""
    if isinstance(handle, Mailbox):
        return await _receive_message(handle)
    if isinstance(handle, Conversation):
        return await _receive_reply(handle)
    raise TypeError(f"aio.receive takes a Mailbox or a Conversation, not {type(handle).__name__}")


async def _receive_message(mailbox: Mailbox) -> Message:
    return await _until(mailbox, lib.transom_mailbox_fd, lambda: mailbox.receive(0))


async def _receive_reply(conversation: Conversation) -> Reply:
    return await _until(conversation, lib.transom_conversation_fd, lambda: conversation.receive(0))


async def crash(conversation: Conversation) -> CrashInfo:
    """The first participant crash of `conversation` (at once if one happened already);
    ClosedError when it closed without one."""
    if not isinstance(conversation, Conversation):
        raise TypeError(f"aio.crash takes a Conversation, not {type(conversation).__name__}")
    return await _until(conversation, lib.transom_conversation_crash_fd, lambda: conversation.await_crash(0))


async def join(worker: Worker) -> WorkerExit:
    """How `worker` ended (:class:`~transom.canal.WorkerExit`); raises its terminal error.
    Waiting does not stop it: call ``worker.stop()`` for that."""
    if not isinstance(worker, Worker):
        raise TypeError(f"aio.join takes a Worker, not {type(worker).__name__}")
    return await _until(worker, lib.transom_worker_fd, lambda: worker.join(0))


def _pull(canal: Canal, max: int) -> Optional[Batch]:
    b = canal.pull_batch(max, 0)
    return b if (len(b) or b.interrupted) else None


async def pull_batch(canal: Canal, max: int = 256) -> Batch:
    """Up to `max` items as soon as at least one is ready; an empty batch with ``interrupted``
    set after :meth:`~transom.canal.Canal.interrupt`; ClosedError (or DisconnectedError) once
    everything was handed out. The previous batch of this canal ends here."""
    if not isinstance(canal, Canal):
        raise TypeError(f"aio.pull_batch takes a Canal, not {type(canal).__name__}")
    return await _until(canal, lib.transom_canal_fd, lambda: _pull(canal, max))


async def batches(canal: Canal, max: int = 256) -> AsyncIterator[Batch]:
    """``async for batch in aio.batches(canal)``: batches until the canal closes (it or its
    store) or is interrupted, like ``canal.batches()``. Each batch ends when the next one is
    pulled. DisconnectedError (a DISCONNECT subscription overflowed) after the buffered items."""
    if not isinstance(canal, Canal):
        raise TypeError(f"aio.batches takes a Canal, not {type(canal).__name__}")
    try:
        fd = _dup_fd(canal, lib.transom_canal_fd)
    except ClosedError:
        return
    try:
        while True:
            try:
                b = _pull(canal, max)
            except ClosedError:
                return
            if b is None:
                await _readable(fd)
                continue
            if not len(b):
                return  # interrupted
            yield b
    finally:
        os.close(fd)

