"""Shared by the tests: makes the package importable from the source tree and finds the header."""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_PKG_ROOT = os.path.dirname(_HERE)
# The package from this source tree, unless TRANSOM_TEST_INSTALLED=1 asks for the installed one.
if os.environ.get("TRANSOM_TEST_INSTALLED") != "1" and _PKG_ROOT not in sys.path:
    sys.path.insert(0, _PKG_ROOT)

import transom  # noqa: E402  (after the path set-up)

HEADER = os.environ.get("TRANSOM_HEADER") or os.path.join(
    os.path.dirname(os.path.dirname(_PKG_ROOT)), "include", "transom.h"
)

# Upper bound for waits that should end at once when the code under test is right: the tests
# never sleep, they block on the API's own calls or threading.Event with this timeout.
WAIT = 30.0

__all__ = ["transom", "HEADER", "WAIT"]
