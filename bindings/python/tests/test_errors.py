"""SPEC §4 from Python: wrong types raise TypeError before reaching C; None where a handle is
required raises; a closed handle raises TransomError (no segfault); a callback that raises is
reported on stderr and counted, and the runtime keeps working. Plus the error hierarchy."""

from __future__ import annotations

import contextlib
import io
import queue
import unittest
from typing import Any, Callable

from support import WAIT, transom

from transom import (
    AppendEvent,
    Conversation,
    ExitKind,
    Header,
    Manager,
    OnCrash,
    Runtime,
    Store,
    Token,
    TransomError,
)
from transom import _ffi


class NoCall:
    """Replaces a C function: any call fails the test (proves the check happened before C)."""

    def __init__(self, test: unittest.TestCase, name: str) -> None:
        self.test, self.name = test, name

    def __call__(self, *args: Any) -> int:
        self.test.fail(f"{self.name} reached C")


@contextlib.contextmanager
def c_not_called(test: unittest.TestCase, *names: str):
    saved = {n: getattr(_ffi.lib, n) for n in names}
    try:
        for n in names:
            setattr(_ffi.lib, n, NoCall(test, n))
        yield
    finally:
        for n, fn in saved.items():
            setattr(_ffi.lib, n, fn)


class WrongTypes(unittest.TestCase):
    def setUp(self) -> None:
        self.rt = Runtime(1)
        self.store = Store()
        self.mgr = Manager.heap(2, 16)

    def tearDown(self) -> None:
        self.mgr.close()
        self.store.close()
        self.rt.close()

    def assertTypeErrorBeforeC(self, fn: Callable[[], Any], *c_names: str) -> None:
        with c_not_called(self, *c_names):
            with self.assertRaises(TypeError):
                fn()

    def test_runtime_arguments(self) -> None:
        rt = self.rt
        self.assertTypeErrorBeforeC(lambda: rt.send("1", b"x"), "transom_runtime_send")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: rt.send(1, "text"), "transom_runtime_send")
        self.assertTypeErrorBeforeC(lambda: rt.send(1, 12), "transom_runtime_send")
        self.assertTypeErrorBeforeC(lambda: rt.send(1.0, b"x"), "transom_runtime_send")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: rt.send(True, b"x"), "transom_runtime_send")
        self.assertTypeErrorBeforeC(lambda: rt.exit(1, "kill"), "transom_runtime_exit")
        self.assertTypeErrorBeforeC(lambda: rt.spawn(42), "transom_runtime_spawn")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: rt.add_monitor(1, None), "transom_runtime_add_monitor")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: rt.open_mailbox(trap_exit=1), "transom_mailbox_open")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: Runtime("2"), "transom_runtime_new")  # type: ignore[arg-type]
        with self.rt.open_mailbox() as mb:
            self.assertTypeErrorBeforeC(lambda: mb.receive("1"), "transom_mailbox_receive")  # type: ignore[arg-type]
            with self.assertRaises(ValueError):
                mb.receive(-1)

    def test_memory_arguments(self) -> None:
        m = self.mgr
        self.assertTypeErrorBeforeC(lambda: m.store("str payload"), "transom_manager_store")
        self.assertTypeErrorBeforeC(lambda: m.store(b"x", header={"qos": 1}), "transom_manager_store")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: m.read(5), "transom_manager_read")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: m.take("token"), "transom_manager_take")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: m.reserve(b"4"), "transom_manager_reserve")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: Header(trace_id="7").to_c(), "transom_manager_store")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: Manager.heap("4", 16), "transom_manager_new")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: Manager.static(2, 16, b"readonly storage" * 100), "transom_manager_new")

    def test_store_and_canal_arguments(self) -> None:
        s = self.store
        self.assertTypeErrorBeforeC(lambda: s.append(5, b"x"), "transom_store_append")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: s.append("s", 3.5), "transom_store_append")
        self.assertTypeErrorBeforeC(lambda: s.append("s", b"", kind="k"), "transom_store_append")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: s.append("s", b"", expected_version="2"), "transom_store_append")
        self.assertTypeErrorBeforeC(lambda: s.append_batch([("s", b"x")]), "transom_store_append_batch")  # type: ignore[list-item]
        self.assertTypeErrorBeforeC(lambda: s.get("id"), "transom_store_get")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: s.read(None), "transom_store_read")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: s.add_gate("gate"), "transom_store_add_gate")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: Store(123), "transom_store_open")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: s.cursor(start=1.5), "transom_canal_open_cursor")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: s.cursor(kinds="ab"), "transom_canal_open_cursor")  # type: ignore[arg-type]
        self.assertTypeErrorBeforeC(lambda: s.subscribe("big"), "transom_canal_open_subscription")  # type: ignore[arg-type]
        with s.cursor() as c:
            self.assertTypeErrorBeforeC(lambda: c.pull_batch("256"), "transom_canal_pull_batch")  # type: ignore[arg-type]
            self.assertTypeErrorBeforeC(lambda: c.pull_batch(256, "1s"), "transom_canal_pull_batch")  # type: ignore[arg-type]
            self.assertTypeErrorBeforeC(lambda: c.ack(None), "transom_canal_ack")  # type: ignore[arg-type]
            self.assertTypeErrorBeforeC(lambda: c.spawn_worker(None), "transom_canal_spawn_worker")  # type: ignore[arg-type]
            with self.assertRaises(ValueError):
                c.pull_batch(0)

    def test_conversation_arguments(self) -> None:
        self.assertTypeErrorBeforeC(
            lambda: Conversation(self.rt, [b"pid"], on_crash=OnCrash.FAIL), "transom_conversation_open"  # type: ignore[list-item]
        )
        self.assertTypeErrorBeforeC(
            lambda: Conversation(self.rt, [1], on_crash="fail"), "transom_conversation_open"  # type: ignore[arg-type]
        )
        with Conversation(self.rt, [lambda p, m: None], on_crash=OnCrash.FAIL) as conv:
            self.assertTypeErrorBeforeC(lambda: conv.send("text"), "transom_conversation_send")
            self.assertTypeErrorBeforeC(
                lambda: conv.add_crash_callback(3), "transom_conversation_add_crash_callback"  # type: ignore[arg-type]
            )
            self.assertTypeErrorBeforeC(
                lambda: conv.remove_crash_callback("1"), "transom_conversation_remove_crash_callback"  # type: ignore[arg-type]
            )


class NoneHandles(unittest.TestCase):
    def test_none_where_a_handle_is_required_raises_type_error(self) -> None:
        with self.assertRaises(TypeError):
            transom.Mailbox(None)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            Conversation(None, [1], on_crash=OnCrash.FAIL)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            transom.Canal._cursor(None, "begin", None, b"", ())  # type: ignore[arg-type]
        with Runtime(1) as rt, Manager.heap(1, 8) as m:
            with self.assertRaises(TypeError):
                m.read(None)  # type: ignore[arg-type]
            with self.assertRaises(TypeError):
                rt.send(None, b"x")  # type: ignore[arg-type]
            with self.assertRaises(TypeError):
                Conversation(rt, [None], on_crash=OnCrash.FAIL)  # type: ignore[list-item]

    def test_raw_null_handle_is_refused_by_c_not_a_crash(self) -> None:
        # At the ctypes layer None is a NULL pointer: C answers NULL_ARGUMENT.
        self.assertEqual(_ffi.lib.transom_runtime_send(None, 1, None, 0), transom.errors.ERR_NULL_ARGUMENT)
        self.assertEqual(_ffi.lib.transom_canal_pull_batch(None, 0, None, 1, None), transom.errors.ERR_NULL_ARGUMENT)
        err = transom.errors.error_for(transom.errors.ERR_NULL_ARGUMENT)
        self.assertIsInstance(err, transom.NullArgumentError)
        self.assertTrue(err.detail)


class ClosedHandles(unittest.TestCase):
    def assertClosed(self, fn: Callable[[], Any]) -> None:
        with self.assertRaises(TransomError) as cm:
            fn()
        self.assertIsInstance(cm.exception, transom.ClosedError)
        self.assertEqual(cm.exception.status, transom.errors.ERR_CLOSED)

    def test_every_handle_raises_after_close(self) -> None:
        rt = Runtime(1)
        mb = rt.open_mailbox()
        conv = Conversation(rt, [lambda p, m: None], on_crash=OnCrash.FAIL)
        for h in (mb, conv):
            h.close()
            h.close()  # idempotent
        self.assertClosed(lambda: mb.receive(0))
        self.assertClosed(lambda: mb.send(1, b""))
        self.assertClosed(lambda: conv.send(b"x"))
        self.assertClosed(lambda: conv.receive(0))
        self.assertClosed(lambda: conv.await_crash(0))
        self.assertClosed(lambda: conv.state())
        rt.close()
        self.assertClosed(lambda: rt.spawn(lambda p, m: None))
        self.assertClosed(lambda: rt.open_mailbox())
        self.assertClosed(lambda: Conversation(rt, [1], on_crash=OnCrash.FAIL))

        m = Manager.heap(1, 8)
        tok = m.store(b"x")
        m.close()
        self.assertClosed(lambda: m.read(tok))
        self.assertClosed(lambda: m.available)

        s = Store()
        c = s.cursor()
        w = s.cursor().spawn_worker(lambda b: None)
        c.close()
        self.assertClosed(lambda: c.pull_batch())
        self.assertClosed(lambda: c.ack(1))
        w.close()
        self.assertClosed(lambda: w.join(0))
        s.close()
        self.assertClosed(lambda: s.cursor())
        self.assertClosed(lambda: s.append("x", b""))

    def test_canal_given_to_a_worker_is_closed_for_python(self) -> None:
        with Store() as s:
            c = s.cursor()
            w = c.spawn_worker(lambda b: None)
            self.assertClosed(lambda: c.pull_batch())
            self.assertClosed(lambda: c.spawn_worker(lambda b: None))
            w.close()


class RaisingCallbacks(unittest.TestCase):
    def run_capturing_stderr(self, fn: Callable[[], Any]) -> str:
        buf = io.StringIO()
        with contextlib.redirect_stderr(buf):
            fn()
        return buf.getvalue()

    def test_raising_monitor_is_reported_counted_and_runtime_keeps_working(self) -> None:
        with Runtime(1) as rt:
            fired: "queue.Queue[int]" = queue.Queue()

            def bad_monitor(pid: int, reason: transom.ExitReason) -> None:
                fired.put(pid)
                raise RuntimeError("monitor exploded")

            def scenario() -> None:
                before = transom.callback_errors()
                mb = rt.open_mailbox(monitor=bad_monitor)
                mb.exit()
                fired.get(timeout=WAIT)
                # A second, well-behaved monitor on a fresh process proves the runtime still
                # works; once it ran, the bad one's reporting is complete (same worker).
                ok: "queue.Queue[int]" = queue.Queue()
                other = rt.open_mailbox()
                rt.add_monitor(other.pid, lambda p, r: ok.put(r.kind))
                other.exit()
                self.assertEqual(ok.get(timeout=WAIT), ExitKind.NORMAL)
                self.assertEqual(transom.callback_errors(), before + 1)
                mb.close()
                other.close()

            err = self.run_capturing_stderr(scenario)
            self.assertIn("RuntimeError: monitor exploded", err)
            self.assertIn("monitor callback", err)

    def test_raising_behaviour_crashes_only_its_process(self) -> None:
        with Runtime(2) as rt:
            reasons: "queue.Queue[transom.ExitReason]" = queue.Queue()

            def bad(pid: int, msg: transom.Message) -> None:
                raise ValueError("behaviour exploded")

            def scenario() -> None:
                before = transom.callback_errors()
                pid = rt.spawn(bad, monitor=lambda p, r: reasons.put(r))
                rt.send(pid, b"x")
                r = reasons.get(timeout=WAIT)
                self.assertEqual((r.kind, r.code), (ExitKind.ERROR, transom.errors.ERR_PANIC))
                self.assertEqual(transom.callback_errors(), before + 1)
                with rt.open_mailbox() as mb:
                    rt.send(mb.pid, b"still working")
                    m = mb.receive(WAIT)
                    assert m is not None
                    self.assertEqual(m.bytes(), b"still working")

            err = self.run_capturing_stderr(scenario)
            self.assertIn("ValueError: behaviour exploded", err)

    def test_raising_crash_callback_is_reported_and_await_crash_still_works(self) -> None:
        with Runtime(2) as rt:
            calls: "queue.Queue[object]" = queue.Queue()

            def bad(info: transom.CrashInfo) -> None:
                calls.put(info.participant)
                raise KeyError("crash callback exploded")

            def scenario() -> None:
                before = transom.callback_errors()
                mb = rt.open_mailbox()
                with Conversation(rt, [mb.pid], on_crash=OnCrash.FAIL) as conv:
                    conv.add_crash_callback(bad)
                    conv.add_crash_callback(lambda info: calls.put("second"))
                    mb.exit(ExitKind.KILLED)
                    got = {calls.get(timeout=WAIT), calls.get(timeout=WAIT)}
                    self.assertEqual(got, {mb.pid, "second"})
                    info = conv.await_crash(WAIT)
                    assert info is not None
                    self.assertEqual(info.participant, mb.pid)
                self.assertEqual(transom.callback_errors(), before + 1)
                mb.close()

            err = self.run_capturing_stderr(scenario)
            self.assertIn("KeyError: 'crash callback exploded'", err)

    def test_raising_gate_rejects_and_the_store_keeps_working(self) -> None:
        with Store() as s:
            def bad(ev: transom.GateEvent) -> None:
                if ev.payload == b"boom":
                    raise RuntimeError("gate exploded")

            def scenario() -> None:
                before = transom.callback_errors()
                s.add_gate(bad)
                with self.assertRaises(transom.RejectedError) as cm:
                    s.append("g", b"boom")
                self.assertEqual(cm.exception.value, -3)
                self.assertIn("gate exploded", cm.exception.detail)
                self.assertEqual(s.append("g", b"fine").sequence, 1)
                self.assertEqual(transom.callback_errors(), before + 1)

            err = self.run_capturing_stderr(scenario)
            self.assertIn("RuntimeError: gate exploded", err)

    def test_raising_worker_callback_rolls_back_and_stops(self) -> None:
        with Store() as s:
            s.append_batch([AppendEvent("w", b"x")] * 3)

            def bad(batch: transom.Batch) -> None:
                raise RuntimeError("worker exploded")

            def scenario() -> None:
                before = transom.callback_errors()
                c = s.cursor()
                w = c.spawn_worker(bad)
                self.assertEqual(w.join(WAIT), transom.WorkerExit.CALLBACK_STOPPED)
                w.close()
                self.assertEqual(transom.callback_errors(), before + 1)
                # The batch was not acknowledged: a new cursor from BEGIN sees everything.
                with s.cursor() as again:
                    self.assertEqual(len(again.pull_batch(10, timeout=0)), 3)

            err = self.run_capturing_stderr(scenario)
            self.assertIn("RuntimeError: worker exploded", err)


class ErrorHierarchy(unittest.TestCase):
    def test_each_status_has_its_subclass_with_name_and_detail(self) -> None:
        for code, cls in transom.errors.ERRORS.items():
            self.assertTrue(issubclass(cls, TransomError))
            e = cls(code, "detail")
            self.assertEqual(e.status, code)
            self.assertNotEqual(e.name, "unknown status")
            self.assertIn("detail", str(e))
        with Manager.heap(1, 8) as m:
            with self.assertRaises(transom.BadTokenError) as cm:
                m.remove(Token(12345))
            self.assertEqual(cm.exception.detail, transom.last_error())

    def test_unknown_status_is_a_plain_transom_error(self) -> None:
        e = transom.errors.error_for(-999)
        self.assertIs(type(e), TransomError)
        self.assertEqual(transom.status_str(-999), "unknown status")


