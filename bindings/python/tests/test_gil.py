"""Blocking calls release the GIL: while one Python thread blocks inside C (receive, pull_batch,
await_crash, join), another Python thread keeps running Python code.

Method: a spinner thread runs a pure-Python loop and timestamps every 1,000 iterations. The
blocking call waits out its own short timeout (nothing is awaited by sleeping) and we count the
spinner's timestamps inside the middle half of the call. A call that held the GIL would leave
that stretch empty (the spinner can only run before the call enters C or after it returns); a
call that releases it lets the spinner run throughout. A control test runs the same receive
through a ``PyDLL`` (which keeps the GIL) and checks the criterion tells the two apart."""

from __future__ import annotations

import ctypes
import threading
import time
import unittest
from typing import Any, Callable, List

from support import WAIT, transom

from transom import Conversation, OnCrash, Runtime, Store, _ffi

BLOCK = 0.4  # seconds the blocking call waits (its own timeout; the measurement window)
MIN_SAMPLES = 20  # spinner timestamps required in the middle half of the call


class Spinner:
    def __init__(self) -> None:
        self.samples: List[float] = []
        self.stop = False
        self.running = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        clock = time.perf_counter
        self.running.set()
        while not self.stop:
            for _ in range(1000):
                pass
            self.samples.append(clock())

    def __enter__(self) -> "Spinner":
        self.thread.start()
        assert self.running.wait(WAIT)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop = True
        self.thread.join(WAIT)


class GilReleased(unittest.TestCase):
    def progress_during(self, blocking: Callable[[], Any]) -> int:
        """Spinner timestamps inside the middle half of the blocking call."""
        with Spinner() as spin:
            t0 = time.perf_counter()
            blocking()
            t1 = time.perf_counter()
        self.elapsed = t1 - t0
        q = (t1 - t0) / 4
        return sum(1 for t in spin.samples if t0 + q <= t <= t1 - q)

    def assertOtherThreadsRan(self, blocking: Callable[[], Any]) -> None:
        progress = self.progress_during(blocking)
        # The call waits out its own timeout: returning early would shrink the window.
        self.assertGreaterEqual(self.elapsed, BLOCK * 0.9, "the blocking call returned early")
        self.assertGreaterEqual(
            progress,
            MIN_SAMPLES,
            f"other threads stalled: {progress} samples in {self.elapsed:.3f} s",
        )

    def test_the_measurement_detects_a_held_gil(self) -> None:
        py = ctypes.PyDLL(_ffi.library_path)
        _ffi.declare(py)
        with Runtime(1) as rt, rt.open_mailbox() as mb:
            out = _ffi.transom_message()
            held = self.progress_during(
                lambda: py.transom_mailbox_receive(mb._ptr, int(BLOCK * 1e9), ctypes.byref(out))
            )
            released = self.progress_during(lambda: mb.receive(BLOCK))
        self.assertLess(held, MIN_SAMPLES, f"{held} samples while the GIL was held")
        self.assertGreaterEqual(released, MIN_SAMPLES)

    def test_mailbox_receive_releases_the_gil(self) -> None:
        with Runtime(1) as rt, rt.open_mailbox() as mb:
            self.assertOtherThreadsRan(lambda: self.assertIsNone(mb.receive(BLOCK)))

    def test_pull_batch_releases_the_gil(self) -> None:
        with Store() as s, s.cursor(start="end") as c:
            self.assertOtherThreadsRan(lambda: self.assertTrue(c.pull_batch(256, BLOCK).timed_out))

    def test_await_crash_and_receive_on_a_conversation_release_the_gil(self) -> None:
        with Runtime(1) as rt, rt.open_mailbox() as mb:
            with Conversation(rt, [mb.pid], on_crash=OnCrash.FAIL) as conv:
                self.assertOtherThreadsRan(lambda: self.assertIsNone(conv.await_crash(BLOCK)))
                self.assertOtherThreadsRan(lambda: self.assertIsNone(conv.receive(BLOCK)))
            mb.exit()

    def test_worker_join_releases_the_gil(self) -> None:
        with Store() as s:
            w = s.cursor(start="end").spawn_worker(lambda b: None)
            self.assertOtherThreadsRan(lambda: self.assertIsNone(w.join(BLOCK)))
            w.close()

    def test_a_python_thread_wakes_a_blocked_receive(self) -> None:
        # The message can only arrive if the sender thread runs Python while the receiver is
        # blocked in C: with a held GIL the receive would time out instead.
        with Runtime(1) as rt, rt.open_mailbox() as mb:
            got: List[Any] = []
            started = threading.Event()

            def receiver() -> None:
                started.set()
                m = mb.receive(WAIT)
                got.append(None if m is None else m.bytes())

            t = threading.Thread(target=receiver)
            t.start()
            self.assertTrue(started.wait(WAIT))
            rt.send(mb.pid, b"woken")
            t.join(WAIT)
            self.assertEqual(got, [b"woken"])

    def test_python_callbacks_run_while_the_caller_blocks_in_c(self) -> None:
        # A Python behaviour (needing the GIL on a runtime worker) answers while the main
        # thread blocks in receive.
        with Runtime(1) as rt, rt.open_mailbox() as mb:
            def echo(pid: int, msg: transom.Message) -> None:
                rt.send_from(pid, msg.sender, msg.bytes())

            pid = rt.spawn(echo)
            mb.send(pid, b"ping")
            m = mb.receive(WAIT)
            assert m is not None
            self.assertEqual(m.bytes(), b"ping")


if __name__ == "__main__":
    unittest.main()
