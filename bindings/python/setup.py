"""The setuptools hook behind pyproject.toml (which holds all the metadata): a wheel whose package
carries libtransom (as build_wheel.py makes it) is a platform wheel, tagged
``py3-none-<platform>`` (e.g. ``py3-none-linux_x86_64``: any Python 3, no Python ABI, this
platform) with ``Root-Is-Purelib: false``; a wheel without the library (``pip install
bindings/python`` from the source tree, using a system or TRANSOM_LIBRARY library) stays
``py3-none-any``."""

from __future__ import annotations

import os
from typing import Tuple

from setuptools import Distribution, setup

try:  # setuptools >= 70.1 has bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # older setuptools: the `wheel` package's (pyproject.toml requires it)
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel  # type: ignore[no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARY_NAMES = ("libtransom.so", "libtransom.dylib", "transom.dll")


def carries_library() -> bool:
    pkg = os.path.join(HERE, "transom")
    return any(name.startswith(LIBRARY_NAMES) for name in os.listdir(pkg))


class BinaryDistribution(Distribution):
    """A distribution with a native library: installed to platlib, never "pure"."""

    def has_ext_modules(self) -> bool:
        return True


class bdist_wheel(_bdist_wheel):  # type: ignore[misc,valid-type]
    def get_tag(self) -> Tuple[str, str, str]:
        python, abi, platform = super().get_tag()
        if carries_library():
            # ctypes, no extension module: any Python 3 on this platform.
            return "py3", "none", platform
        return python, abi, platform


setup(
    distclass=BinaryDistribution if carries_library() else Distribution,
    cmdclass={"bdist_wheel": bdist_wheel},
)
