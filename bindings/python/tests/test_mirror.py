"""The JetStream mirror from Python, against a real nats-server this test starts on a free
127.0.0.1 port (``nats-server`` must be on PATH: Debian ``apt-get install nats-server``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from support import WAIT, transom

from transom import Mirror, MirrorState, Store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MirrorTests(unittest.TestCase):
    server: "subprocess.Popen[bytes]"
    url: str
    tmp: str

    @classmethod
    def setUpClass(cls) -> None:
        exe = shutil.which("nats-server")
        if exe is None:
            raise AssertionError("nats-server is not on PATH (Debian: apt-get install nats-server)")
        cls.tmp = tempfile.mkdtemp(prefix="transom-py-nats-")
        port = _free_port()
        cls.server = subprocess.Popen(
            [exe, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", cls.tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cls.url = f"nats://127.0.0.1:{port}"
        deadline = time.monotonic() + WAIT
        while True:  # poll until the server accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if cls.server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("nats-server did not start") from None
                time.sleep(0.01)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.kill()
        cls.server.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def stream(self, name: str) -> str:
        return f"PY_{name}_{os.getpid()}"

    def test_events_are_shipped_and_reported(self) -> None:
        with Store() as s:
            for i in range(500):
                s.append("orders.eu", f"e{i}".encode(), kind=i % 3)
            # One subject prefix per JetStream stream of a server (subjects must not overlap).
            with Mirror.start(s, self.url, self.stream("ship"), subject_prefix="ship") as m:
                self.assertTrue(m.wait(500, WAIT), m.status())
                st = m.status()
                self.assertEqual((st.state, st.shipped, st.store_head, st.lag), (MirrorState.RUNNING, 500, 500, 0))
                self.assertEqual((st.error, st.error_message), (0, ""))
                s.append("orders.eu", b"one more")
                self.assertTrue(m.wait(501, WAIT))
                self.assertFalse(m.wait(502, 0))
                m.close()
                m.close()
                self.assertEqual(m.status().state, MirrorState.STOPPED)
                with self.assertRaises(transom.ClosedError):
                    m.wait(502, WAIT)

    def test_a_different_store_on_the_same_stream_diverges(self) -> None:
        name = self.stream("div")
        with Store() as a, Store() as b:
            for i in range(5):
                a.append("s", b"a")
                b.append("s", b"b")
            with Mirror.start(a, [self.url], name, subject_prefix="div") as m:
                self.assertTrue(m.wait(5, WAIT))
            with Mirror.start(b, [self.url], name, subject_prefix="div") as m:
                with self.assertRaises(transom.DivergedError) as cm:
                    m.wait(5, WAIT)
                self.assertEqual(cm.exception.value, 5)
                st = m.status()
                self.assertEqual((st.state, st.error, st.error_value), (MirrorState.STOPPED, transom.ERR_DIVERGED, 5))

    def test_a_second_stream_on_the_same_subjects_stops_the_mirror(self) -> None:
        with Store() as s:
            s.append("s", b"x")
            with Mirror.start(s, self.url, self.stream("p1"), subject_prefix="same") as m:
                self.assertTrue(m.wait(1, WAIT))
            with Mirror.start(s, self.url, self.stream("p2"), subject_prefix="same") as m:
                with self.assertRaises(transom.InvalidArgumentError) as cm:
                    m.wait(1, WAIT)
                self.assertIn("subject prefix", cm.exception.detail)

    def test_a_server_that_is_not_there_is_retried(self) -> None:
        with Store() as s:
            s.append("s", b"x")
            with Mirror.start(s, f"nats://127.0.0.1:{_free_port()}", self.stream("down")) as m:
                self.assertFalse(m.wait(1, 1.0))
                st = m.status()
                self.assertEqual((st.state, st.error, st.lag), (MirrorState.RETRYING, transom.ERR_UNAVAILABLE, 1))
                self.assertGreaterEqual(st.retries, 1)

    def test_bad_arguments_are_refused(self) -> None:
        with Store() as s:
            with self.assertRaises(transom.InvalidArgumentError):
                Mirror.start(s, self.url, "a.b")
            with self.assertRaises(transom.InvalidArgumentError):
                Mirror.start(s, [], "S")
            with self.assertRaises(transom.InvalidArgumentError):
                Mirror.start(s, self.url, "S", replicas=6)
            with self.assertRaises(TypeError):
                Mirror.start("not a store", self.url, "S")  # type: ignore[arg-type]
            s.close()
            with self.assertRaises(transom.ClosedError):
                Mirror.start(s, self.url, "S")


if __name__ == "__main__":
    unittest.main()
