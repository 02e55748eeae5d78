"""transom for Python: ctypes bindings over ``libtransom`` (slot memory managers, an actor runtime
with supervised conversations, an event store with canals).

The shared library is found through ``$TRANSOM_LIBRARY`` (a path), then the package's own
directory, then the system's search path. Every handle is a context manager; every failure
raises a :class:`TransomError` subclass carrying the status code and the detail message;
blocking calls release the GIL. Exceptions raised inside Python callbacks never cross into C:
they are printed to stderr and counted by :func:`callback_errors`.
"""

from __future__ import annotations

from . import errors
from ._callbacks import callback_errors, live_callbacks
from ._ffi import lib, library_path
from .actor import ExitKind, ExitReason, Mailbox, Message, Request, Runtime, MESSAGE_EXIT, MESSAGE_USER
from .canal import Batch, Canal, Item, ItemKind, Overflow, Worker, WorkerAnswer, WorkerExit
from .conversation import (
    COMPENSATE_CONTINUE,
    COMPENSATE_FAIL,
    Conversation,
    ConversationState,
    CrashInfo,
    Health,
    InFlight,
    Mode,
    OnCrash,
    ParticipantState,
    Phase,
    Reply,
    monotonic_ns,
)
from .errors import *  # noqa: F401,F403 (every TransomError subclass and status code)
from .errors import TransomError, last_error, last_error_value, status_str
from .memory import (
    FLAG_DEGRADE_ALLOWED,
    FLAG_FIRST_IN_BATCH,
    FLAG_LAST_IN_BATCH,
    HEADER_SIZE,
    QOS_BACKGROUND,
    QOS_BEST_EFFORT,
    QOS_LATENCY_CRITICAL,
    Header,
    Manager,
    ManagerKind,
    MemoryClass,
    MemoryKind,
    ReadView,
    Reservation,
    Stats,
    Token,
    WriteView,
    default_header,
    required_bytes,
)
from .store import NO_STREAM, AppendEvent, Event, GateEvent, Receipt, Store, Sync

VERSION_MAJOR = 0
VERSION_MINOR = 2
VERSION_PATCH = 0
VERSION = VERSION_MAJOR * 10000 + VERSION_MINOR * 100 + VERSION_PATCH
"""The C API version this package was written against (TRANSOM_VERSION)."""

__version__ = "0.2.0"


def version() -> int:
    """The loaded library's version (``transom_version()``), MAJOR * 10000 + MINOR * 100 + PATCH."""
    return int(lib.transom_version())


__all__ = [
    "errors",
    "lib",
    "library_path",
    "version",
    "VERSION",
    "callback_errors",
    "live_callbacks",
    "TransomError",
    "status_str",
    "last_error",
    "last_error_value",
    # actor
    "Runtime",
    "Mailbox",
    "Message",
    "Request",
    "ExitKind",
    "ExitReason",
    "MESSAGE_USER",
    "MESSAGE_EXIT",
    # conversation
    "Conversation",
    "OnCrash",
    "Mode",
    "Phase",
    "Health",
    "Reply",
    "CrashInfo",
    "InFlight",
    "ParticipantState",
    "ConversationState",
    "COMPENSATE_CONTINUE",
    "COMPENSATE_FAIL",
    "monotonic_ns",
    # memory
    "Manager",
    "ManagerKind",
    "MemoryClass",
    "MemoryKind",
    "Header",
    "Token",
    "Stats",
    "ReadView",
    "WriteView",
    "Reservation",
    "required_bytes",
    "default_header",
    "HEADER_SIZE",
    "FLAG_FIRST_IN_BATCH",
    "FLAG_LAST_IN_BATCH",
    "FLAG_DEGRADE_ALLOWED",
    "QOS_BACKGROUND",
    "QOS_BEST_EFFORT",
    "QOS_LATENCY_CRITICAL",
    # store and canals
    "Store",
    "Sync",
    "Event",
    "Receipt",
    "AppendEvent",
    "GateEvent",
    "NO_STREAM",
    "Canal",
    "Batch",
    "Item",
    "ItemKind",
    "Overflow",
    "Worker",
    "WorkerAnswer",
    "WorkerExit",
] + [n for n in errors.__dict__ if n.endswith("Error") and n != "TransomError"]
