"""Remote cursors from Python (transom.open_remote_cursor) against a real nats-server this
module starts: the returned Canal pulls, acks, checkpoints and rewinds like a local cursor,
resumes after its checkpoint when reopened, runs a worker, and reports an unreachable server,
a missing stream and a malformed message with the documented errors."""

from __future__ import annotations

import queue
import unittest
from typing import List, Optional

from nats_support import NatsServer, events, free_port
from support import WAIT, transom

from transom import Canal, WorkerAnswer, WorkerExit

N = 200
server: Optional[NatsServer] = None


def setUpModule() -> None:
    global server
    server = NatsServer()
    server.create_stream("EVENTS")
    server.publish_events(events(1, N))


def tearDownModule() -> None:
    if server is not None:
        server.stop()


def url() -> str:
    assert server is not None
    return server.url


def open_remote(name: str, **kw: object) -> Canal:
    return transom.open_remote_cursor(url(), "EVENTS", name, ack_wait=1.0, **kw)  # type: ignore[arg-type]


def pull(c: Canal, count: int, max: int = 64) -> List[int]:
    seqs: List[int] = []
    while len(seqs) < count:
        b = c.pull_batch(min(max, count - len(seqs)), timeout=WAIT)
        assert len(b) > 0, f"nothing after {len(seqs)} of {count}"
        for it in b:
            seqs.append(it.sequence)
    return seqs


class RemoteCursorTests(unittest.TestCase):
    def test_items_look_like_local_items(self) -> None:
        with open_remote("fields") as c:
            self.assertIsInstance(c, Canal)
            self.assertTrue(c.is_cursor)
            b = c.pull_batch(1, timeout=WAIT)
            it = b[0]
            self.assertEqual(it.sequence, 1)
            self.assertEqual(it.stream, "orders.eu")
            self.assertEqual(it.kind, 2)
            self.assertEqual(it.stream_version, 1)
            self.assertEqual(it.timestamp_ns, 1_700_000_000_000_000_000 + 1)
            self.assertEqual(it.id, (0xABC << 64) + 1)
            self.assertEqual(it.payload_bytes(), b"event 1")
            self.assertEqual(pull(c, 2), [2, 3])

    def test_checkpoint_resumes_and_unacknowledged_events_come_again(self) -> None:
        with open_remote("resume") as c:
            self.assertEqual(pull(c, 50), list(range(1, 51)))
            c.ack(30)
            c.checkpoint()
        with open_remote("resume") as c:
            self.assertEqual(pull(c, N - 30), list(range(31, N + 1)))
            c.ack(N)
            c.checkpoint()
        with open_remote("resume") as c:
            self.assertEqual(len(c.pull_batch(8, timeout=0.3)), 0)

    def test_two_names_each_see_everything(self) -> None:
        with open_remote("one") as a, open_remote("two") as b:
            self.assertEqual(pull(a, N), list(range(1, N + 1)))
            self.assertEqual(pull(b, N, 17), list(range(1, N + 1)))

    def test_filters_and_rewind(self) -> None:
        with open_remote("kinds", stream_prefix="orders.", kinds=[2]) as c:
            want = [i for i in range(1, N + 1) if 1 + i % 3 == 2]
            self.assertEqual(pull(c, len(want)), want)
            c.ack(want[4])
            c.rewind()
            self.assertEqual(pull(c, 3), want[5:8])

    def test_a_worker_runs_on_a_remote_cursor(self) -> None:
        got: "queue.Queue[int]" = queue.Queue()

        def on_batch(batch: transom.Batch) -> WorkerAnswer:
            last = 0
            for it in batch:
                got.put(it.sequence)
                last = it.sequence
            return WorkerAnswer.STOP if last >= N else WorkerAnswer.CONTINUE

        c = open_remote("worker")
        w = c.spawn_worker(on_batch, max_batch=50)
        self.assertEqual(w.join(timeout=WAIT), WorkerExit.CALLBACK_STOPPED)
        w.close()
        c.close()
        self.assertEqual([got.get_nowait() for _ in range(N)], list(range(1, N + 1)))
        with open_remote("worker") as c:
            self.assertEqual(len(c.pull_batch(8, timeout=0.3)), 0)

    def test_unreachable_server_and_missing_stream_are_unavailable(self) -> None:
        dead = f"nats://127.0.0.1:{free_port()}"
        with self.assertRaises(transom.UnavailableError):
            transom.open_remote_cursor(dead, "EVENTS", "x", connect_timeout=0.3)
        with self.assertRaises(transom.UnavailableError):
            transom.open_remote_cursor(url(), "NOPE", "x")

    def test_bad_arguments(self) -> None:
        with self.assertRaises(transom.InvalidArgumentError):
            transom.open_remote_cursor(url(), "EVENTS", "a.b")
        with self.assertRaises(transom.InvalidArgumentError):
            transom.open_remote_cursor([], "EVENTS", "x")
        with self.assertRaises(TypeError):
            transom.open_remote_cursor(url(), "EVENTS", "x", start=1.5)  # type: ignore[arg-type]

    def test_a_malformed_message_is_corrupt_naming_its_sequence(self) -> None:
        assert server is not None
        server.create_stream("BROKEN", prefix="broken")
        server.publish_events(events(1, 2), prefix="broken")
        server.publish_events(events(3, 3), prefix="broken", omit="Transom-Kind")
        with transom.open_remote_cursor(url(), "BROKEN", "r", subject_prefix="broken") as c:
            self.assertEqual(pull(c, 2), [1, 2])
            with self.assertRaises(transom.CorruptError) as e:
                c.pull_batch(8, timeout=WAIT)
            self.assertEqual(e.exception.value, 3)
            self.assertIn("Transom-Kind", str(e.exception))


if __name__ == "__main__":
    unittest.main()
