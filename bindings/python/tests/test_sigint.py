"""Ctrl-C: every blocking call raises KeyboardInterrupt within 100 ms of a real SIGINT, leaves its
handle usable, and an idle blocked call uses (almost) no CPU.

Each blocking call runs in a child process (sigint_child.py) that says ``ready`` once the call is
inside its wait; the parent sends SIGINT with ``os.kill`` and reads the time the child caught
KeyboardInterrupt (CLOCK_MONOTONIC is the same clock in both processes). The children run side by
side: each blocks until the parent gets to it.

In-process tests pin the rest: a result the C call returned as the signal arrived is not lost
(the next call hands it out), a handler that does not raise lets the call go on, timeouts keep
their length, and threads other than the main one wait in one C call."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
import unittest
from typing import Any, Callable, Dict, List, Optional, Tuple

from support import TESTS_DIR, WAIT, child_env, transom

from transom import _wait
from transom._ffi import lib

CHILD = os.path.join(TESTS_DIR, "sigint_child.py")
LATENCY_BOUND = 0.100  # seconds from os.kill to KeyboardInterrupt caught in the child
IDLE_CPU_BOUND = 0.05  # CPU seconds over a 1 s blocked call: 5 % of one core
CALLS = [
    ("mailbox.receive", "None", "after"),
    ("conversation.receive", "None", "re:after"),
    ("conversation.await_crash", "None", "ERROR:9"),
    ("cursor.pull_batch", "(0, True)", "after"),
    ("subscription.pull_batch", "(0, True)", "after"),
    ("for batch in canal", "[]", "after"),
    ("worker.join", "None", "STOPPED"),
    ("worker.stop_and_join", "None", "STOPPED"),
]


class Lines:
    """Reads a child's stdout line by line with a deadline (no buffering surprises)."""

    def __init__(self, proc: "subprocess.Popen[bytes]") -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buf = b""
        self.proc = proc

    def next(self, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"no line from the child within {timeout} s (so far: {self.buf!r})")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"the child ended (so far: {self.buf!r}); stderr:\n{err}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


class RealSigint(unittest.TestCase):
    def test_every_blocking_call_raises_keyboard_interrupt_within_100_ms(self) -> None:
        procs: Dict[str, "subprocess.Popen[bytes]"] = {}
        try:
            for call, _, _ in CALLS:
                procs[call] = subprocess.Popen(
                    [sys.executable, CHILD, call],
                    env=child_env(),
                    cwd=TESTS_DIR,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            latencies: List[Tuple[str, float]] = []
            idle: List[Tuple[str, float]] = []
            for call, idle_result, again in CALLS:
                with self.subTest(call=call):
                    proc = procs[call]
                    lines = Lines(proc)
                    tag, cpu, wall, result = lines.next().split(" ", 3)
                    self.assertEqual((tag, result), ("idle", idle_result))
                    self.assertGreaterEqual(float(wall), 1.0)
                    self.assertLess(float(cpu), IDLE_CPU_BOUND, f"{call}: {cpu} s of CPU in a 1 s idle wait")
                    idle.append((call, float(cpu)))
                    self.assertEqual(lines.next(), "ready")
                    sent = time.monotonic()
                    os.kill(proc.pid, signal.SIGINT)
                    tag, caught = lines.next().split(" ")
                    self.assertEqual(tag, "interrupted")
                    latency = float(caught) - sent
                    latencies.append((call, latency))
                    self.assertLess(latency, LATENCY_BOUND, f"{call}: KeyboardInterrupt after {latency * 1e3:.1f} ms")
                    self.assertEqual(lines.next(), f"again {again}")
                    self.assertEqual(proc.wait(WAIT), 0)
            report = ", ".join(f"{c} {l * 1e3:.1f} ms" for c, l in latencies)
            sys.stderr.write(f"\nSIGINT latency: {report}; max {max(l for _, l in latencies) * 1e3:.1f} ms\n")
            report = ", ".join(f"{c} {u * 1e3:.2f} ms" for c, u in idle)
            sys.stderr.write(f"CPU over a 1 s idle blocked call: {report}\n")
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
                p.wait(WAIT)
                for f in (p.stdout, p.stderr):
                    if f is not None:
                        f.close()


class InterruptAfterResult:
    """Makes the next successful call of one C function raise KeyboardInterrupt as it returns,
    as a signal arriving just then would (restored on exit)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fired = False

    def __enter__(self) -> "InterruptAfterResult":
        self.real = getattr(lib, self.name)

        def call(*args: Any) -> Any:
            st = self.real(*args)
            if st == 0 and not self.fired:
                self.fired = True
                raise KeyboardInterrupt
            return st

        setattr(lib, self.name, call)
        return self

    def __exit__(self, *exc: Any) -> None:
        setattr(lib, self.name, self.real)


class NothingHalfConsumed(unittest.TestCase):
    def test_a_message_received_as_the_signal_arrives_is_returned_next(self) -> None:
        with transom.Runtime(workers=1) as rt, rt.open_mailbox() as mb:
            rt.send(mb.pid, b"one")
            rt.send(mb.pid, b"two")
            with InterruptAfterResult("transom_mailbox_receive") as hook, self.assertRaises(KeyboardInterrupt):
                mb.receive(WAIT)
            self.assertTrue(hook.fired)
            got = []
            for _ in range(3):
                m = mb.receive(0)
                got.append(m.bytes() if m is not None else None)  # valid until the next receive
            self.assertEqual(got, [b"one", b"two", None])

    def test_a_reply_received_as_the_signal_arrives_is_returned_next(self) -> None:
        with transom.Runtime(workers=1) as rt:

            def echo(self_pid: int, msg: transom.Message) -> None:
                req = msg.request()
                rt.reply(self_pid, req.conversation, req.request_id, req.payload)

            with transom.Conversation(rt, [echo], on_crash=transom.OnCrash.FAIL) as conv:
                conv.send(b"first")
                with InterruptAfterResult("transom_conversation_receive") as hook, self.assertRaises(KeyboardInterrupt):
                    conv.receive(WAIT)
                self.assertTrue(hook.fired)
                conv.send(b"second")
                r1, r2 = conv.receive(WAIT), conv.receive(WAIT)
                self.assertEqual((r1 and r1.payload, r2 and r2.payload), (b"first", b"second"))
                self.assertIsNone(conv.receive(0))

    def test_items_pulled_as_the_signal_arrives_are_returned_next(self) -> None:
        with transom.Store() as store, store.cursor() as canal:
            for p in (b"a", b"b", b"c"):
                store.append("s", p)
            for timeout in (None, 0):  # the sliced wait and the direct call
                with InterruptAfterResult("transom_canal_pull_batch") as hook, self.assertRaises(KeyboardInterrupt):
                    canal.pull_batch(16, timeout=timeout)
                self.assertTrue(hook.fired)
                with self.assertRaises(transom.WrongStateError):  # a worker would skip them
                    canal.spawn_worker(lambda b: None)
                # A smaller max hands them out in parts, in order.
                self.assertEqual(canal.pull_batch(2, timeout=0).payloads(), [b"a", b"b"])
                self.assertEqual(canal.pull_batch(2, timeout=0).payloads(), [b"c"])
                self.assertTrue(canal.pull_batch(2, timeout=0).timed_out)
                canal.rewind()


class SlicedWaits(unittest.TestCase):
    def count_waits(self, name: str) -> "Tuple[List[int], Callable[[], None]]":
        real = getattr(lib, name)
        waits: List[int] = []

        def call(handle: Any, ns: int, *rest: Any) -> Any:
            waits.append(ns)
            return real(handle, ns, *rest)

        setattr(lib, name, call)
        return waits, lambda: setattr(lib, name, real)

    def test_the_main_thread_waits_in_slices_and_keeps_the_timeout(self) -> None:
        self.assertTrue(_wait.sliced())
        with transom.Runtime(workers=1) as rt, rt.open_mailbox() as mb:
            waits, restore = self.count_waits("transom_mailbox_receive")
            try:
                t0 = time.monotonic()
                self.assertIsNone(mb.receive(0.2))
                elapsed = time.monotonic() - t0
            finally:
                restore()
        self.assertGreaterEqual(elapsed, 0.2)
        self.assertLess(elapsed, 0.2 + WAIT)
        self.assertGreaterEqual(len(waits), 0.2e9 // _wait.SLICE_NS)
        self.assertTrue(all(0 < w <= _wait.SLICE_NS for w in waits), waits)

    def test_other_threads_wait_in_one_call(self) -> None:
        with transom.Runtime(workers=1) as rt, rt.open_mailbox() as mb:
            waits, restore = self.count_waits("transom_mailbox_receive")
            results: List[Any] = []
            try:
                t = threading.Thread(target=lambda: results.append((_wait.sliced(), mb.receive(0.1))))
                t.start()
                t.join(WAIT)
            finally:
                restore()
        self.assertEqual(results, [(False, None)])
        self.assertEqual(waits, [100_000_000])

    def test_a_handler_that_does_not_raise_lets_the_call_go_on(self) -> None:
        with transom.Runtime(workers=1) as rt, rt.open_mailbox() as mb:
            handled: List[int] = []

            def handler(signum: int, frame: Any) -> None:
                handled.append(signum)
                rt.send(mb.pid, b"sent by the handler")

            old = signal.signal(signal.SIGUSR1, handler)
            try:
                killer = threading.Thread(target=lambda: os.kill(os.getpid(), signal.SIGUSR1))
                killer.start()
                msg = mb.receive(WAIT)
                killer.join(WAIT)
            finally:
                signal.signal(signal.SIGUSR1, old)
            self.assertEqual(handled, [signal.SIGUSR1])
            self.assertIsNotNone(msg)
            assert msg is not None
            self.assertEqual(msg.bytes(), b"sent by the handler")


if __name__ == "__main__":
    unittest.main()
