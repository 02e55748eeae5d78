#!/usr/bin/env python3
"""Builds the platform wheel of the transom Python package, carrying the shared library:

    python3 bindings/python/build_wheel.py            # -> bindings/python/dist/transom-<v>-py3-none-<platform>.whl

1. ``cargo build --release`` (skipped with ``--library PATH``, which uses that library instead);
2. checks that the library's ``transom_version()`` is the package's version;
3. copies the package into a staging directory (the source tree is left as it is) with the
   library inside it under its SONAME (``transom/libtransom.so.<abi>``, the name the package
   looks up first), stripped of debug information (``strip --strip-unneeded``; ``--no-strip``
   keeps it);
4. ``pip wheel`` builds it with setup.py's platform tag (``py3-none-<platform>``,
   ``Root-Is-Purelib: false``): pip fetches setuptools and wheel into an isolated build
   environment (``--no-build-isolation`` uses the running interpreter's instead);
5. checks the wheel (tag, the library inside) and prints its path, tag and size.

``pip install`` of the wheel needs no system library and no TRANSOM_LIBRARY. The tag names the
platform the library was built for (e.g. ``linux_x86_64``); the library needs the C library
(glibc) version of the machine it was built on or newer.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(cmd: List[str], **kw: object) -> None:
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def package_version() -> str:
    with open(os.path.join(HERE, "transom", "__init__.py")) as f:
        m = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M)
    if not m:
        sys.exit("build_wheel: no __version__ in transom/__init__.py")
    return m.group(1)


def soname() -> str:
    with open(os.path.join(HERE, "transom", "_ffi.py")) as f:
        m = re.search(r'^SONAME = "([^"]+)"$', f.read(), re.M)
    if not m:
        sys.exit("build_wheel: no SONAME in transom/_ffi.py")
    return m.group(1)


def cargo_library() -> str:
    run(["cargo", "build", "--release", "--lib"], cwd=ROOT)
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    target = json.loads(meta.stdout)["target_directory"]
    return os.path.join(target, "release", "libtransom.so")


def library_version(path: str) -> str:
    lib = ctypes.CDLL(os.path.abspath(path))
    lib.transom_version.restype = ctypes.c_uint32
    n = int(lib.transom_version())
    return f"{n // 10000}.{n // 100 % 100}.{n % 100}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "dist"), help="directory for the wheel (default: %(default)s)")
    ap.add_argument("--library", help="use this libtransom.so instead of building one with cargo")
    ap.add_argument("--no-strip", action="store_true", help="keep the library's debug information")
    ap.add_argument("--no-build-isolation", action="store_true", help="build with this interpreter's setuptools and wheel")
    args = ap.parse_args()

    version = package_version()
    lib = args.library or cargo_library()
    if not os.path.isfile(lib):
        sys.exit(f"build_wheel: {lib} does not exist")
    have = library_version(lib)
    if have != version:
        sys.exit(f"build_wheel: {lib} is transom {have}, the Python package is transom {version}")

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    name = soname()
    with tempfile.TemporaryDirectory(prefix="transom-wheel-") as stage:
        for f in ("pyproject.toml", "setup.py", "README.md"):
            shutil.copy2(os.path.join(HERE, f), stage)
        shutil.copytree(
            os.path.join(HERE, "transom"),
            os.path.join(stage, "transom"),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "libtransom.so*", "*.dylib", "*.dll"),
        )
        bundled = os.path.join(stage, "transom", name)
        shutil.copy2(lib, bundled)
        if not args.no_strip:
            if shutil.which("strip"):
                run(["strip", "--strip-unneeded", bundled])
            else:
                print("build_wheel: no `strip`: the library keeps its debug information", flush=True)
        before = set(os.listdir(out))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "--wheel-dir", out]
        if args.no_build_isolation:
            cmd.append("--no-build-isolation")
        run(cmd + [stage])

    wheels = [w for w in os.listdir(out) if w.startswith(f"transom-{version}-") and w.endswith(".whl")]
    new = [w for w in wheels if w not in before] or wheels
    if len(new) != 1:
        sys.exit(f"build_wheel: expected one transom-{version} wheel in {out}, found {new}")
    wheel = os.path.join(out, new[0])
    tag = new[0][len(f"transom-{version}-") : -len(".whl")]
    if tag.endswith("-any"):
        sys.exit(f"build_wheel: {wheel} is not a platform wheel")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(f"transom-{version}.dist-info/WHEEL").decode()
    if f"transom/{name}" not in names:
        sys.exit(f"build_wheel: {wheel} does not carry transom/{name}")
    if "Root-Is-Purelib: false" not in meta:
        sys.exit(f"build_wheel: {wheel} says it is pure Python")
    size = os.path.getsize(wheel)
    print(f"wheel: {wheel}")
    print(f"tag: {tag}; size: {size} bytes ({size / 2**20:.1f} MiB); carries transom/{name} (transom {have})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
