"""Status codes and the exception hierarchy: one :class:`TransomError` subclass per error code,
carrying the code, its name and this thread's detail message (``transom_last_error``)."""

from __future__ import annotations

import ctypes
from typing import Dict, NoReturn, Optional, Type

from ._ffi import lib

__all__ = [
    "OK",
    "TIMEOUT",
    "INTERRUPTED",
    "ERR_NULL_ARGUMENT",
    "ERR_INVALID_ARGUMENT",
    "ERR_PANIC",
    "ERR_BUFFER_TOO_SMALL",
    "ERR_OUT_OF_MEMORY",
    "ERR_UNSUPPORTED",
    "ERR_CLOSED",
    "ERR_BAD_TOKEN",
    "ERR_STALE_TOKEN",
    "ERR_BORROWED",
    "ERR_NO_FREE_SLOTS",
    "ERR_TOO_LARGE",
    "ERR_WRONG_STATE",
    "ERR_NOPROC",
    "ERR_PARTICIPANT_CRASHED",
    "ERR_DEADLINE_EXCEEDED",
    "ERR_CONFLICT",
    "ERR_REJECTED",
    "ERR_LOCKED",
    "ERR_CORRUPT",
    "ERR_IO",
    "ERR_NOT_FOUND",
    "ERR_DISCONNECTED",
    "ERR_NAME_IN_USE",
    "ERR_CHECKPOINT_AHEAD",
    "ERR_UNAVAILABLE",
    "ERR_DIVERGED",
    "TransomError",
    "NullArgumentError",
    "InvalidArgumentError",
    "PanicError",
    "BufferTooSmallError",
    "OutOfMemoryError",
    "UnsupportedError",
    "ClosedError",
    "BadTokenError",
    "StaleTokenError",
    "BorrowedError",
    "NoFreeSlotsError",
    "TooLargeError",
    "WrongStateError",
    "NoProcError",
    "ParticipantCrashedError",
    "DeadlineExceededError",
    "ConflictError",
    "RejectedError",
    "LockedError",
    "CorruptError",
    "TransomIOError",
    "NotFoundError",
    "DisconnectedError",
    "NameInUseError",
    "CheckpointAheadError",
    "UnavailableError",
    "DivergedError",
    "ThreadingError",
    "ERRORS",
    "status_str",
    "last_error",
    "last_error_value",
    "error_for",
    "raise_for",
    "check",
    "closed",
]

OK = 0
TIMEOUT = 1
INTERRUPTED = 2
ERR_NULL_ARGUMENT = -1
ERR_INVALID_ARGUMENT = -2
ERR_PANIC = -3
ERR_BUFFER_TOO_SMALL = -4
ERR_OUT_OF_MEMORY = -5
ERR_UNSUPPORTED = -6
ERR_CLOSED = -7
ERR_BAD_TOKEN = -10
ERR_STALE_TOKEN = -11
ERR_BORROWED = -12
ERR_NO_FREE_SLOTS = -13
ERR_TOO_LARGE = -14
ERR_WRONG_STATE = -15
ERR_NOPROC = -20
ERR_PARTICIPANT_CRASHED = -21
ERR_DEADLINE_EXCEEDED = -22
ERR_CONFLICT = -30
ERR_REJECTED = -31
ERR_LOCKED = -32
ERR_CORRUPT = -33
ERR_IO = -34
ERR_NOT_FOUND = -35
ERR_TRUNCATED = -36
ERR_DISCONNECTED = -40
ERR_NAME_IN_USE = -41
ERR_CHECKPOINT_AHEAD = -42
ERR_UNAVAILABLE = -50
ERR_DIVERGED = -51


class TransomError(Exception):
    """A transom call failed. ``status`` is the C code, ``name`` its ``transom_status_str``,
    ``detail`` this thread's ``transom_last_error`` at the time, ``value`` its
    ``transom_last_error_value`` (a gate's code, a corrupt byte offset; 0 otherwise)."""

    status: int = 0

    def __init__(self, status: int, detail: str = "", value: int = 0) -> None:
        self.status = status
        self.name = status_str(status)
        self.detail = detail
        self.value = value
        super().__init__(f"{self.name} ({status})" + (f": {detail}" if detail else ""))


class NullArgumentError(TransomError, TypeError):
    status = ERR_NULL_ARGUMENT


class InvalidArgumentError(TransomError, ValueError):
    status = ERR_INVALID_ARGUMENT


class PanicError(TransomError):
    status = ERR_PANIC


class BufferTooSmallError(TransomError):
    status = ERR_BUFFER_TOO_SMALL


class OutOfMemoryError(TransomError, MemoryError):
    status = ERR_OUT_OF_MEMORY


class UnsupportedError(TransomError):
    status = ERR_UNSUPPORTED


class ClosedError(TransomError):
    """The object was closed (also raised by the binding for a handle closed from Python)."""

    status = ERR_CLOSED


class BadTokenError(TransomError):
    status = ERR_BAD_TOKEN


class StaleTokenError(TransomError):
    status = ERR_STALE_TOKEN


class BorrowedError(TransomError):
    status = ERR_BORROWED


class NoFreeSlotsError(TransomError):
    status = ERR_NO_FREE_SLOTS


class TooLargeError(TransomError):
    status = ERR_TOO_LARGE


class WrongStateError(TransomError):
    status = ERR_WRONG_STATE


class NoProcError(TransomError):
    status = ERR_NOPROC


class ParticipantCrashedError(TransomError):
    status = ERR_PARTICIPANT_CRASHED


class DeadlineExceededError(TransomError):
    """The conversation's own configured timeout expired (not a call's timeout)."""

    status = ERR_DEADLINE_EXCEEDED


class ConflictError(TransomError):
    status = ERR_CONFLICT


class RejectedError(TransomError):
    """A gate refused the event; ``value`` is the gate's code, ``detail`` its reason."""

    status = ERR_REJECTED


class LockedError(TransomError):
    status = ERR_LOCKED


class CorruptError(TransomError):
    """``value`` is the byte offset, ``detail`` names the file."""

    status = ERR_CORRUPT


class TransomIOError(TransomError):
    """An operating-system I/O call failed (``detail`` says which)."""

    status = ERR_IO


class NotFoundError(TransomError, LookupError):
    status = ERR_NOT_FOUND


class TruncatedError(TransomError, LookupError):
    """The event was removed by retention or truncation (``value`` is the first retained
    sequence)."""

    status = ERR_TRUNCATED


class DisconnectedError(TransomError):
    status = ERR_DISCONNECTED


class NameInUseError(TransomError):
    status = ERR_NAME_IN_USE


class CheckpointAheadError(TransomError):
    status = ERR_CHECKPOINT_AHEAD


class UnavailableError(TransomError):
    """No NATS server could be reached, the connection was lost, or it did not answer in
    time; retrying later may succeed."""

    status = ERR_UNAVAILABLE


class DivergedError(TransomError):
    """A NATS JetStream stream and the store disagree (``value`` is the first differing
    sequence)."""

    status = ERR_DIVERGED


class ThreadingError(TransomError, RuntimeError):
    """A STATIC or HEAP manager was called from a thread that does not own it. Raised by the
    binding before anything reaches C (such a manager is for one thread at a time: used from two
    it would corrupt its slots silently). ``status`` is ``ERR_WRONG_STATE``; ``owner`` and
    ``caller`` are the two threads' idents. Hand a manager over with
    :meth:`transom.Manager.transfer_to_current_thread`."""

    status = ERR_WRONG_STATE

    def __init__(self, detail: str, owner: int = 0, caller: int = 0) -> None:
        super().__init__(ERR_WRONG_STATE, detail)
        self.owner = owner
        self.caller = caller


ERRORS: Dict[int, Type[TransomError]] = {
    cls.status: cls
    for cls in (
        NullArgumentError,
        InvalidArgumentError,
        PanicError,
        BufferTooSmallError,
        OutOfMemoryError,
        UnsupportedError,
        ClosedError,
        BadTokenError,
        StaleTokenError,
        BorrowedError,
        NoFreeSlotsError,
        TooLargeError,
        WrongStateError,
        NoProcError,
        ParticipantCrashedError,
        DeadlineExceededError,
        ConflictError,
        RejectedError,
        LockedError,
        CorruptError,
        TransomIOError,
        NotFoundError,
        TruncatedError,
        DisconnectedError,
        NameInUseError,
        CheckpointAheadError,
        UnavailableError,
        DivergedError,
    )
}


def status_str(status: int) -> str:
    """``transom_status_str``: the code's static name and description."""
    s: Optional[bytes] = lib.transom_status_str(status)
    return s.decode("utf-8", "replace") if s else "unknown status"


def last_error() -> str:
    """This thread's detail for its last failed transom call ("" if none)."""
    n = ctypes.c_size_t(0)
    lib.transom_last_error(None, 0, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value + 1)
    lib.transom_last_error(buf, len(buf), ctypes.byref(n))
    return buf.value.decode("utf-8", "replace")


def last_error_value() -> int:
    v = ctypes.c_int64(0)
    lib.transom_last_error_value(ctypes.byref(v))
    return v.value


def error_for(status: int) -> TransomError:
    """The exception for a failed call, with this thread's detail (call right after failing)."""
    cls = ERRORS.get(status, TransomError)
    return cls(status, last_error(), last_error_value())


def raise_for(status: int) -> NoReturn:
    raise error_for(status)


def check(status: int) -> int:
    """Raises for a negative status; returns 0 or a positive outcome (TIMEOUT, INTERRUPTED)."""
    if status < 0:
        raise error_for(status)
    return status


def closed(what: str) -> ClosedError:
    """The error for using a handle that was closed from Python (never reaches C)."""
    return ClosedError(ERR_CLOSED, f"this {what} is closed")
