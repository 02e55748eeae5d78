"""Argument checks shared by the modules: wrong Python types raise TypeError (and out-of-range
values ValueError) here, before anything reaches C."""

from __future__ import annotations

import math
from typing import Any, Optional, Type, TypeVar

T = TypeVar("T")

UINT64_MAX = (1 << 64) - 1
UINT32_MAX = (1 << 32) - 1
UINT16_MAX = (1 << 16) - 1
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
SIZE_MAX = UINT64_MAX


def check_int(name: str, value: Any, lo: int = 0, hi: int = UINT64_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be within {lo}..={hi}, got {value}")
    return value


def check_pid(name: str, value: Any, allow_zero: bool = False) -> int:
    if value is None:
        raise TypeError(f"{name} must be a pid (int), not None")
    pid = check_int(name, value)
    if pid == 0 and not allow_zero:
        raise ValueError(f"{name}: pid 0 names no process")
    return pid


def timeout_ns(name: str, seconds: Optional[float]) -> int:
    """Seconds (int or float, None = no limit) to the C nanoseconds (UINT64_MAX = no limit)."""
    if seconds is None:
        return UINT64_MAX
    t = type(seconds)
    if (t is int or t is float) and 0 <= seconds < 1e9:
        return int(seconds * 1e9)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(seconds).__name__}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{name} must be >= 0, got {seconds}")
    if math.isinf(seconds):
        return UINT64_MAX
    return min(int(seconds * 1e9), UINT64_MAX - 1)


def check_str(name: str, value: Any) -> bytes:
    """A str (encoded as UTF-8) or bytes, as the bytes C receives."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"{name} must be str or bytes, not {type(value).__name__}")


def require(name: str, value: Any, cls: Type[T]) -> T:
    """``value`` must be an instance of ``cls`` (None raises TypeError too)."""
    if not isinstance(value, cls):
        got = "None" if value is None else type(value).__name__
        raise TypeError(f"{name} must be a {cls.__name__}, not {got}")
    return value


def check_callable(name: str, value: Any) -> Any:
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")
    return value
