"""The ctypes declarations against include/transom.h: every exported function is declared with
the same arity and types (by the mapping documented in transom/_ffi.py), every struct has the
header's fields in order with the mapped types, and the constants agree."""

from __future__ import annotations

import ctypes
import os
import re
import unittest
from typing import Any, Dict, List, Tuple

from support import HEADER, transom

from transom import _ffi

BASE = {
    "bool": ctypes.c_bool,
    "int": ctypes.c_int,
    "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64,
    "uint8_t": ctypes.c_uint8,
    "uint16_t": ctypes.c_uint16,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "size_t": ctypes.c_size_t,
    "bool": ctypes.c_bool,
    "transom_status": ctypes.c_int32,
    "transom_pid": ctypes.c_uint64,
}


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return text


def split_decl(decl: str) -> Tuple[str, str]:
    """'const struct transom_x *name' -> ('const struct transom_x *', 'name')."""
    decl = " ".join(decl.split())
    m = re.match(r"^(.*?)([A-Za-z_]\w*)$", decl)
    assert m, decl
    return m.group(1).strip(), m.group(2)


def ctype_of(c_type: str, *, field: bool = False) -> List[Any]:
    """The ctypes types a C type may map to (one, except for `const char *` struct fields)."""
    t = " ".join(c_type.replace("*", " * ").split())
    const = t.startswith("const ")
    words = [w for w in t.split() if w not in ("const", "struct")]
    stars = words.count("*")
    base = " ".join(w for w in words if w != "*")
    if base == "char" and stars == 0:
        return [ctypes.c_char]
    if base == "char" and stars == 1:
        if not const:
            return [ctypes.POINTER(ctypes.c_char)]
        if field:
            return [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char)]
        return [ctypes.c_char_p]
    if base == "void":
        if stars == 0:
            return [None]
        inner: Any = ctypes.c_void_p
        stars -= 1
    elif base in BASE:
        inner = BASE[base]
    elif base.startswith("transom_") and hasattr(_ffi, base):
        inner = getattr(_ffi, base)
    else:
        raise AssertionError(f"no ctypes mapping for C type {c_type!r}")
    for _ in range(stars):
        inner = ctypes.POINTER(inner)
    return [inner]


def parse_params(params: str) -> List[str]:
    params = params.strip()
    if params in ("", "void"):
        return []
    return [split_decl(p)[0] for p in params.split(",")]


def parse_functions(text: str) -> Dict[str, Tuple[str, List[str]]]:
    """Every prototype `<ret> transom_x(<params>);` (multi-line) of the header."""
    body = strip_comments(text)
    body = "\n".join(l for l in body.splitlines() if not l.lstrip().startswith("#"))
    found: Dict[str, Tuple[str, List[str]]] = {}
    for m in re.finditer(
        r"(?:(?<=[;{}])|^)\s*((?:const\s+)?(?:struct\s+)?[A-Za-z_]\w*(?:\s*\*)*)\s*\b(transom_\w+)\s*\(([^()]*)\)\s*;",
        body,
        flags=re.M,
    ):
        ret, name, params = m.group(1), m.group(2), m.group(3)
        if ret.strip().startswith("typedef"):
            continue
        found[name] = (ret.strip(), parse_params(params))
    return found


def parse_structs(text: str) -> Dict[str, List[Tuple[str, str, Any]]]:
    """Every `typedef struct transom_x { ... } transom_x;`: name -> [(field, c type, extra)]
    where extra is the parameter list of a function-pointer field or the array length."""
    body = strip_comments(text)
    out: Dict[str, List[Tuple[str, str, Any]]] = {}
    for m in re.finditer(r"typedef struct (transom_\w+) \{(.*?)\} \1;", body, flags=re.S):
        fields: List[Tuple[str, str, Any]] = []
        for decl in m.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            fp = re.match(r"^(.*?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)$", decl)
            if fp:
                fields.append((fp.group(2), fp.group(1).strip(), parse_params(fp.group(3))))
                continue
            arr = re.match(r"^(.*?)\[(\d+)\]$", decl)
            if arr:
                ty, name = split_decl(arr.group(1))
                fields.append((name, ty, int(arr.group(2))))
                continue
            ty, name = split_decl(decl)
            fields.append((name, ty, None))
        out[m.group(1)] = fields
    return out


def parse_defines(text: str) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for m in re.finditer(r"^#define (TRANSOM_\w+) \(?(-?\d+)\)?\s*$", text, flags=re.M):
        out[m.group(1)] = int(m.group(2))
    return out


def type_name(t: Any) -> str:
    return "None" if t is None else getattr(t, "__name__", repr(t))


@unittest.skipUnless(os.path.exists(HEADER), f"{HEADER} not found (set TRANSOM_HEADER)")
class HeaderAgreement(unittest.TestCase):
    text: str
    functions: Dict[str, Tuple[str, List[str]]]
    structs: Dict[str, List[Tuple[str, str, Any]]]
    defines: Dict[str, int]

    @classmethod
    def setUpClass(cls) -> None:
        with open(HEADER, encoding="utf-8") as f:
            cls.text = f.read()
        cls.functions = parse_functions(cls.text)
        cls.structs = parse_structs(cls.text)
        cls.defines = parse_defines(cls.text)

    def test_parser_sees_every_prototype(self) -> None:
        # A cross-check of the parser itself: count the exported names a simpler way.
        # (`transom_x (*field)(...)` is a function-pointer field returning a typedef, not a name.)
        names = set(re.findall(r"\b(transom_\w+)\s*\((?!\s*\*)", strip_comments(self.text)))
        self.assertEqual(set(self.functions), names)
        self.assertGreaterEqual(len(self.functions), 80)

    def test_every_header_function_is_declared_and_nothing_else(self) -> None:
        missing = sorted(set(self.functions) - set(_ffi.FUNCTIONS))
        extra = sorted(set(_ffi.FUNCTIONS) - set(self.functions))
        self.assertEqual(missing, [], "functions of the header without a ctypes declaration")
        self.assertEqual(extra, [], "ctypes declarations of functions the header does not have")

    def test_every_function_has_the_header_arity_and_types(self) -> None:
        problems: List[str] = []
        for name, (ret, params) in sorted(self.functions.items()):
            fn = getattr(_ffi.lib, name)
            if fn.restype not in ctype_of(ret):
                problems.append(f"{name}: restype {type_name(fn.restype)} for C {ret!r}")
            argtypes = fn.argtypes
            if argtypes is None:
                problems.append(f"{name}: argtypes not declared")
                continue
            if len(argtypes) != len(params):
                problems.append(f"{name}: {len(argtypes)} argtypes for {len(params)} C parameters")
                continue
            for i, (got, c_type) in enumerate(zip(argtypes, params)):
                if got not in ctype_of(c_type):
                    problems.append(f"{name}: parameter {i} is {type_name(got)} for C {c_type!r}")
        self.assertEqual(problems, [])

    def test_every_struct_matches_the_header_layout(self) -> None:
        problems: List[str] = []
        self.assertGreaterEqual(len(self.structs), 30)
        for sname, fields in sorted(self.structs.items()):
            cls = getattr(_ffi, sname, None)
            if cls is None:
                problems.append(f"{sname}: no ctypes Structure")
                continue
            py_fields = list(getattr(cls, "_fields_", []))
            if [f[0] for f in py_fields] != [f[0] for f in fields]:
                problems.append(f"{sname}: fields {[f[0] for f in py_fields]} != {[f[0] for f in fields]}")
                continue
            for (fname, c_type, extra), (_, py_type) in zip(fields, py_fields):
                if isinstance(extra, list):  # function pointer
                    proto = _ffi.CALLBACK_TYPES.get((sname, fname))
                    if fname == "drop":
                        proto = _ffi.DROP_FN
                    if proto is None or py_type is not proto:
                        problems.append(f"{sname}.{fname}: not the declared callback type")
                        continue
                    if proto._restype_ not in ctype_of(c_type):
                        problems.append(f"{sname}.{fname}: returns {type_name(proto._restype_)}")
                    if len(proto._argtypes_) != len(extra) or any(
                        a not in ctype_of(c) for a, c in zip(proto._argtypes_, extra)
                    ):
                        problems.append(f"{sname}.{fname}: parameters differ from {extra}")
                elif isinstance(extra, int):  # array
                    if py_type._length_ != extra or py_type._type_ not in ctype_of(c_type, field=True):
                        problems.append(f"{sname}.{fname}: not a {c_type}[{extra}] array")
                elif py_type not in ctype_of(c_type, field=True):
                    problems.append(f"{sname}.{fname}: {type_name(py_type)} for C {c_type!r}")
        self.assertEqual(problems, [])

    def test_opaque_handles_are_distinct_types(self) -> None:
        for name in ("canal", "conversation", "mailbox", "manager", "runtime", "store", "worker"):
            self.assertIn(f"typedef struct transom_{name} transom_{name};", self.text)
            self.assertTrue(issubclass(getattr(_ffi, f"transom_{name}"), ctypes.Structure))

    def test_header_size_is_the_abi_size(self) -> None:
        self.assertEqual(ctypes.sizeof(_ffi.transom_header), self.defines["TRANSOM_HEADER_SIZE"])
        self.assertEqual(transom.HEADER_SIZE, self.defines["TRANSOM_HEADER_SIZE"])

    def test_status_codes_and_constants_agree(self) -> None:
        mismatched: List[str] = []
        for macro, value in self.defines.items():
            short = macro[len("TRANSOM_"):]
            if short.startswith("VERSION"):
                continue
            if hasattr(transom.errors, short) and getattr(transom.errors, short) != value:
                mismatched.append(f"errors.{short}")
        for macro in [m for m in self.defines if m.startswith("TRANSOM_ERR_")]:
            short = macro[len("TRANSOM_"):]
            self.assertEqual(getattr(transom.errors, short), self.defines[macro], short)
            cls = transom.errors.ERRORS.get(self.defines[macro])
            self.assertIsNotNone(cls, f"no TransomError subclass for {macro}")
        enums = {
            "EXIT_": transom.ExitKind,
            "ON_CRASH_": transom.OnCrash,
            "PHASE_": transom.Phase,
            "HEALTH_": transom.Health,
            "MODE_": transom.Mode,
            "MANAGER_": transom.ManagerKind,
            "MEMORY_": transom.MemoryKind,
            "SYNC_": transom.Sync,
            "OVERFLOW_": transom.Overflow,
            "ITEM_": transom.ItemKind,
            "WORKER_EXIT_": transom.WorkerExit,
        }
        for prefix, enum_cls in enums.items():
            for member in enum_cls:
                macro = f"TRANSOM_{prefix}{member.name}"
                if self.defines.get(macro) != member.value:
                    mismatched.append(f"{enum_cls.__name__}.{member.name} vs {macro}")
        for name in ("CONTINUE", "STOP", "STOP_AND_ROLLBACK"):
            if self.defines[f"TRANSOM_WORKER_{name}"] != transom.WorkerAnswer[name]:
                mismatched.append(f"WorkerAnswer.{name}")
        for name in ("FLAG_FIRST_IN_BATCH", "FLAG_LAST_IN_BATCH", "FLAG_DEGRADE_ALLOWED",
                     "QOS_BACKGROUND", "QOS_BEST_EFFORT", "QOS_LATENCY_CRITICAL",
                     "COMPENSATE_CONTINUE", "COMPENSATE_FAIL", "MESSAGE_USER", "MESSAGE_EXIT"):
            if getattr(transom, name) != self.defines[f"TRANSOM_{name}"]:
                mismatched.append(name)
        self.assertEqual(mismatched, [])

    def test_version_agrees_with_header_and_library(self) -> None:
        major = self.defines["TRANSOM_VERSION_MAJOR"]
        minor = self.defines["TRANSOM_VERSION_MINOR"]
        patch = self.defines["TRANSOM_VERSION_PATCH"]
        self.assertEqual(transom.VERSION, major * 10000 + minor * 100 + patch)
        self.assertEqual(transom.version(), transom.VERSION)

    def test_library_is_a_cdll_so_calls_release_the_gil(self) -> None:
        self.assertIs(type(_ffi.lib), ctypes.CDLL)
        self.assertNotIsInstance(_ffi.lib, ctypes.PyDLL)


if __name__ == "__main__":
    unittest.main()
