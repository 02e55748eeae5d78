"""The NATS connection options shared by the mirror and remote cursors: Python arguments to a
``transom_nats_options`` (checked here, before anything reaches C)."""

from __future__ import annotations

import ctypes
from typing import Any, List, Optional, Sequence, Union

from . import _ffi
from ._util import check_str, timeout_ns

Url = Union[str, bytes]


def nats_options(
    o: _ffi.transom_nats_options,
    urls: Union[Url, Sequence[Url]],
    credentials_file: Optional[Union[str, bytes]],
    connect_timeout: Optional[float],
    request_timeout: Optional[float],
    keep: List[Any],
) -> None:
    """Fills ``o``; ``keep`` receives every buffer ``o`` points into (keep it alive for the
    call). ``urls``: one URL or a sequence of them; timeouts in seconds (None: the defaults)."""
    if isinstance(urls, (str, bytes)):
        urls = [urls]
    if not isinstance(urls, Sequence):
        raise TypeError("urls must be a URL (str) or a sequence of URLs")
    encoded = [check_str("urls[]", u) for u in urls]
    arr = (_ffi.transom_nats_url * max(len(encoded), 1))()
    for i, u in enumerate(encoded):
        arr[i].url = u
        arr[i].url_len = len(u)
    keep.extend([arr, encoded])
    o.urls = ctypes.cast(arr, ctypes.POINTER(_ffi.transom_nats_url))
    o.url_count = len(encoded)
    if credentials_file is not None:
        c = check_str("credentials_file", credentials_file)
        keep.append(c)
        o.credentials_file = c
        o.credentials_file_len = len(c)
    # 0 = the library's default; an explicit 0 s would be refused by C, so it maps to 1 ns.
    if connect_timeout is not None:
        o.connect_timeout_ns = max(timeout_ns("connect_timeout", connect_timeout), 1)
    if request_timeout is not None:
        o.request_timeout_ns = max(timeout_ns("request_timeout", request_timeout), 1)
