"""The NATS connection options shared by the mirror and remote cursors: Python arguments to a
``transom_nats_options`` (checked here, before anything reaches C)."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence, Union

from . import _ffi
from ._util import check_str

Url = Union[str, bytes]


def seconds_ns(name: str, seconds: Optional[float]) -> int:
    """Seconds (None or 0 = the library's default) as the C nanoseconds."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {seconds!r}")
    return int(seconds * 1e9)


def nats_options(
    o: _ffi.transom_nats_options,
    urls: Union[Url, Sequence[Url]],
    credentials_file: Union[None, str, bytes, "os.PathLike[str]"],
    connect_timeout: Optional[float],
    request_timeout: Optional[float],
    keep: List[Any],
) -> None:
    """Fills ``o``; ``keep`` receives every buffer ``o`` points into (keep it alive for the
    call). ``urls``: one URL or a sequence of them; timeouts in seconds (None or 0: the
    defaults, 2 s and 5 s)."""
    url_list = [urls] if isinstance(urls, (str, bytes)) else list(urls)
    encoded = [check_str("urls", u) for u in url_list]
    entries = (_ffi.transom_nats_url * max(1, len(encoded)))()
    for i, u in enumerate(encoded):
        entries[i].url = u
        entries[i].url_len = len(u)
    keep.extend([entries, encoded])
    o.urls = entries
    o.url_count = len(encoded)
    if credentials_file is not None:
        creds = os.fsencode(credentials_file)
        keep.append(creds)
        o.credentials_file = creds
        o.credentials_file_len = len(creds)
    o.connect_timeout_ns = seconds_ns("connect_timeout", connect_timeout)
    o.request_timeout_ns = seconds_ns("request_timeout", request_timeout)
