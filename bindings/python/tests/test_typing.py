"""``mypy --strict`` passes on a user program (tests/typing/app.py) and on the package itself, and
``__all__`` is a static list (what type checkers read).

mypy is not part of the standard library: where it is not importable these tests are skipped
with a reason that says so (the skip is counted in the suite's summary). `.ci/run` step 10b
installs mypy in the venv it installs the wheel into and runs this suite there with
``TRANSOM_REQUIRE_MYPY=1``, which turns a missing mypy into a failure: in CI mypy always runs."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest
from typing import List

from support import INSTALLED, PKG_ROOT, TESTS_DIR, WAIT, child_env, transom

APP = os.path.join(TESTS_DIR, "typing", "app.py")


def have_mypy() -> bool:
    return importlib.util.find_spec("mypy") is not None


class MypyStrict(unittest.TestCase):
    def setUp(self) -> None:
        if not have_mypy():
            if os.environ.get("TRANSOM_REQUIRE_MYPY") == "1":
                self.fail("TRANSOM_REQUIRE_MYPY=1 but mypy is not importable by " + sys.executable)
            self.skipTest(
                "mypy is not installed for this interpreter; .ci/run step 10b installs it and "
                "runs these tests with TRANSOM_REQUIRE_MYPY=1"
            )

    def mypy(self, *args: str) -> "subprocess.CompletedProcess[str]":
        with tempfile.TemporaryDirectory(prefix="transom-mypy-") as cache:
            # From the source tree mypy finds the package through MYPYPATH; installed, through
            # the interpreter's site-packages (the package ships py.typed).
            env = child_env(MYPYPATH=None if INSTALLED else PKG_ROOT, PYTHONPATH=None)
            return subprocess.run(
                [sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache, "--no-error-summary", *args],
                env=env,
                cwd=TESTS_DIR,
                capture_output=True,
                text=True,
                timeout=10 * WAIT,
            )

    def assertClean(self, out: "subprocess.CompletedProcess[str]") -> None:
        self.assertEqual((out.returncode, out.stdout + out.stderr), (0, ""))

    def test_a_user_program_passes_mypy_strict(self) -> None:
        self.assertClean(self.mypy(APP))

    def test_the_package_passes_mypy_strict(self) -> None:
        self.assertClean(self.mypy("-p", "transom"))

    def test_mypy_sees_the_package_types(self) -> None:
        """A wrong program fails: mypy checks against the package's annotations (an untyped or
        unfound package would let it pass)."""
        with tempfile.TemporaryDirectory(prefix="transom-mypy-src-") as tmp:
            bad = os.path.join(tmp, "bad.py")
            with open(bad, "w") as f:
                f.write(
                    "import transom\n"
                    "m = transom.Manager.heap(4, 64)\n"
                    "t = m.store(b'x')\n"
                    "s: str = t.key\n"
                    "transom.Store().append(1, b'x')\n"
                )
            out = self.mypy(bad)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        lines = [l.split(": ", 1)[1] for l in out.stdout.splitlines()]
        self.assertEqual(
            lines,
            [
                'error: Incompatible types in assignment (expression has type "int", variable has type "str")  [assignment]',
                'error: Argument 1 to "append" of "Store" has incompatible type "int"; expected "str"  [arg-type]',
            ],
        )


class UserProgram(unittest.TestCase):
    def test_the_typed_program_runs(self) -> None:
        out = subprocess.run(
            [sys.executable, APP], env=child_env(), cwd=TESTS_DIR, capture_output=True, text=True, timeout=WAIT
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines()[-1], "typing app: ok")


class StaticAll(unittest.TestCase):
    def test_dunder_all_is_a_literal_list_of_every_public_name(self) -> None:
        with open(transom.__file__) as f:
            tree = ast.parse(f.read())
        values: List[ast.expr] = [
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ]
        self.assertEqual(len(values), 1, "__all__ is assigned once")
        value = values[0]
        self.assertIsInstance(value, ast.List)
        assert isinstance(value, ast.List)
        names = []
        for elt in value.elts:
            self.assertIsInstance(elt, ast.Constant)
            assert isinstance(elt, ast.Constant)
            names.append(elt.value)
        self.assertEqual(names, transom.__all__)
        self.assertEqual(len(names), len(set(names)), "no name twice")
        for n in names:
            self.assertTrue(hasattr(transom, n), n)
        errors = [
            n
            for n, v in vars(transom.errors).items()
            if isinstance(v, type) and issubclass(v, transom.TransomError)
        ]
        self.assertEqual(sorted(set(errors) - set(names)), [])
        self.assertIn("ThreadingError", names)


if __name__ == "__main__":
    unittest.main()
