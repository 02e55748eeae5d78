"""Loading the library: ``import transom`` checks the library's version against the package's and
fails with an ImportError naming both versions and the library's path (never an
``AttributeError: undefined symbol`` or a bare OSError); a library the package carries is found
before the system's.

Each case imports transom in a child process whose TRANSOM_LIBRARY points at a fake library,
a tiny C shared object exporting ``transom_version()`` (and nothing else), built with ``cc``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import Any, Dict

from support import INSTALLED, TESTS_DIR, WAIT, child_env, transom

from transom import _ffi

# The child reports what `import transom` raised (or where it found the library) as JSON.
PROBE = r"""
import json
try:
    import transom
except BaseException as e:
    print(json.dumps({"type": type(e).__name__, "path": getattr(e, "path", None), "msg": str(e)}))
else:
    print(json.dumps({"type": None, "path": transom.library_path, "version": transom.version()}))
"""

PACKAGE = "%d.%d.%d" % _ffi.PACKAGE_VERSION


def probe(**env: "str | None") -> Dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=child_env(**env),
        cwd=TESTS_DIR,  # not a directory holding a `transom` package of its own
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert out.returncode == 0, out.stderr
    result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


class FakeLibraries(unittest.TestCase):
    tmp: str

    @classmethod
    def setUpClass(cls) -> None:
        if shutil.which("cc") is None:
            raise unittest.SkipTest("no C compiler (cc) to build the fake libraries")
        cls.tmp = tempfile.mkdtemp(prefix="transom-fake-")

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fake(self, name: str, body: str) -> str:
        src = os.path.join(self.tmp, name + ".c")
        lib = os.path.join(self.tmp, "lib" + name + ".so")
        with open(src, "w") as f:
            f.write(body)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, src], check=True, timeout=WAIT)
        return lib

    def versioned(self, number: int) -> str:
        return self.fake(f"transom{number}", f"unsigned transom_version(void) {{ return {number}u; }}\n")

    def assertRefused(self, lib: str, *needles: str) -> str:
        r = probe(TRANSOM_LIBRARY=lib)
        self.assertEqual(r["type"], "ImportError", r)
        self.assertEqual(r["path"], lib)
        msg: str = r["msg"]
        self.assertIn(repr(lib), msg)
        self.assertIn("TRANSOM_LIBRARY", msg)
        for n in needles:
            self.assertIn(n, msg)
        self.assertNotIn("undefined symbol", msg)
        return msg

    def test_an_older_abi_is_refused_with_both_versions(self) -> None:
        msg = self.assertRefused(self.versioned(100), "transom 0.1.0", "ABI 0.1", f"transom {PACKAGE}", _ffi.SONAME)
        self.assertEqual(
            msg,
            f"transom: cannot use the library {self.versioned(100)!r} (from TRANSOM_LIBRARY): it is "
            f"transom 0.1.0 (ABI 0.1, transom_version() = 100), but this Python package is transom "
            f"{PACKAGE} and needs ABI 0.2 ({_ffi.SONAME})",
        )

    def test_a_newer_abi_is_refused_with_both_versions(self) -> None:
        self.assertRefused(self.versioned(300), "transom 0.3.0", "ABI 0.3", f"transom {PACKAGE}")
        self.assertRefused(self.versioned(10000), "transom 1.0.0", "ABI 1", f"transom {PACKAGE}")

    def test_the_same_abi_missing_a_function_is_an_import_error_not_an_attribute_error(self) -> None:
        # 0.2.7 has this package's ABI, but (a fake) exports nothing else.
        self.assertRefused(self.versioned(207), "transom 0.2.7", f"transom {PACKAGE}", "does not export transom_")

    def test_a_library_without_transom_version_is_refused(self) -> None:
        lib = self.fake("other", "int something_else(void) { return 1; }\n")
        self.assertRefused(lib, "does not export transom_version(): not a transom library")

    def test_a_missing_file_is_an_import_error(self) -> None:
        lib = os.path.join(self.tmp, "no-such-libtransom.so")
        self.assertRefused(lib, "cannot load the library")

    def test_the_real_library_loads(self) -> None:
        r = probe()
        self.assertIsNone(r["type"], r)
        self.assertEqual(r["version"], transom.VERSION)


class BundledLibrary(unittest.TestCase):
    def test_a_library_inside_the_package_is_found_without_transom_library(self) -> None:
        """What a wheel does: the library sits in the package under its SONAME and is used
        with no TRANSOM_LIBRARY and nothing on the system's search path."""
        if INSTALLED:
            # The installed package (CI installs the wheel) must carry its own library.
            r = probe(TRANSOM_LIBRARY=None)
            self.assertIsNone(r["type"], r)
            self.assertEqual(r["path"], os.path.join(os.path.dirname(transom.__file__), _ffi.SONAME))
            return
        with tempfile.TemporaryDirectory(prefix="transom-bundled-") as tmp:
            pkg = os.path.join(tmp, "transom")
            shutil.copytree(os.path.dirname(transom.__file__), pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
            shutil.copy2(transom.library_path, os.path.join(pkg, _ffi.SONAME))
            env = child_env(TRANSOM_LIBRARY=None)
            env["PYTHONPATH"] = tmp + os.pathsep + env["PYTHONPATH"]
            out = subprocess.run(
                [sys.executable, "-c", PROBE], env=env, cwd=tmp, capture_output=True, text=True, timeout=WAIT
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            self.assertIsNone(r["type"], r)
            self.assertEqual(r["path"], os.path.join(pkg, _ffi.SONAME))
            # TRANSOM_LIBRARY still wins over the bundled copy.
            env["TRANSOM_LIBRARY"] = transom.library_path
            out = subprocess.run(
                [sys.executable, "-c", PROBE], env=env, cwd=tmp, capture_output=True, text=True, timeout=WAIT
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            self.assertEqual(r["path"], transom.library_path)


if __name__ == "__main__":
    unittest.main()
