"""Shared by the tests: makes the package importable from the source tree (unless
``TRANSOM_TEST_INSTALLED=1`` asks for the installed one), finds the header, and runs child
Python processes that see the same package and library."""

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

INSTALLED = os.environ.get("TRANSOM_TEST_INSTALLED") == "1"
TESTS_DIR = _HERE
PKG_ROOT = _PKG_ROOT


def child_env(**changes: "str | None") -> "dict[str, str]":
    """The environment for a child ``sys.executable``: imports the same package as this process
    (the source tree unless installed) and the same library; ``changes`` set (or, with None,
    remove) variables."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    paths = [TESTS_DIR] + ([] if INSTALLED else [PKG_ROOT])
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


__all__ = ["transom", "HEADER", "WAIT", "INSTALLED", "TESTS_DIR", "PKG_ROOT", "child_env"]
