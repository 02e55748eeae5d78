"""Canals from Python: cursors and subscriptions as iterators of batches, zero-copy item
payloads, ack/rewind/checkpoint, gaps, interrupt, close semantics, workers."""

from __future__ import annotations

import queue
import tempfile
import threading
import unittest
from typing import List

from support import WAIT, transom

from transom import AppendEvent, Overflow, Store, Sync, WorkerAnswer, WorkerExit


def fill(store: Store, n: int, stream: str = "s") -> None:
    store.append_batch([AppendEvent(stream, i.to_bytes(4, "little"), kind=i % 3) for i in range(n)])


class CanalTests(unittest.TestCase):
    def test_cursor_iterates_batches_in_order(self) -> None:
        with Store() as s:
            fill(s, 1000)
            with s.cursor() as c:
                seqs: List[int] = []
                sizes = []
                for batch in c.batches(256, timeout=0):
                    sizes.append(len(batch))
                    seqs.extend(item.sequence for item in batch)
                self.assertEqual(seqs, list(range(1, 1001)))
                self.assertEqual(sizes, [256, 256, 256, 232])

    def test_item_payload_is_zero_copy_until_the_next_pull(self) -> None:
        with Store() as s:
            fill(s, 3)
            with s.cursor() as c:
                b1 = c.pull_batch(1, timeout=0)
                item = b1[0]
                payload = item.payload
                self.assertTrue(payload.readonly)
                self.assertEqual(bytes(payload), (0).to_bytes(4, "little"))
                self.assertEqual(item.stream, "s")
                c.pull_batch(1, timeout=0)
                self.assertFalse(b1.valid)
                with self.assertRaises(ValueError):
                    bytes(payload)
                with self.assertRaises(transom.ClosedError):
                    item.sequence

    def test_filter_by_prefix_and_kinds(self) -> None:
        with Store() as s:
            fill(s, 30, "orders-a")
            fill(s, 30, "users-b")
            with s.cursor(stream_prefix="orders", kinds=[1]) as c:
                items = [(i.stream, i.kind) for b in c.batches(timeout=0) for i in b]
            self.assertEqual(len(items), 10)
            self.assertTrue(all(x == ("orders-a", 1) for x in items))

    def test_ack_rewind_redelivers_unacked(self) -> None:
        with Store() as s:
            fill(s, 10)
            with s.cursor() as c:
                b = c.pull_batch(4, timeout=0)
                c.ack(b.last_sequence)
                c.pull_batch(4, timeout=0)
                c.rewind()
                self.assertEqual(c.pull_batch(10, timeout=0).sequences(), list(range(5, 11)))
                with self.assertRaises(transom.InvalidArgumentError):
                    c.ack(11)

    def test_named_cursor_resumes_after_checkpoint(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            with Store(d, sync=Sync.NEVER) as s:
                fill(s, 10)
                with s.cursor(name="reader") as c:
                    b = c.pull_batch(6, timeout=0)
                    c.ack(b.last_sequence)
                    c.checkpoint()
                    with self.assertRaises(transom.NameInUseError):
                        s.cursor(name="reader")
            with Store(d) as s, s.cursor(name="reader") as c:
                self.assertEqual(c.pull_batch(100, timeout=0).sequences(), [7, 8, 9, 10])

    def test_timeout_and_interrupt_give_empty_batches(self) -> None:
        with Store() as s, s.cursor(start="end") as c:
            b = c.pull_batch(10, timeout=0.01)
            self.assertEqual(len(b), 0)
            self.assertTrue(b.timed_out)
            c.interrupt()
            b = c.pull_batch(10, timeout=WAIT)
            self.assertTrue(b.interrupted)

    def test_subscription_reports_gaps_in_band(self) -> None:
        with Store() as s, s.subscribe(4, overflow=Overflow.DROP_OLDEST) as sub:
            fill(s, 10)
            items = list(sub.pull_batch(100, timeout=0))
            gaps = [i for i in items if i.is_gap]
            events = [i.sequence for i in items if not i.is_gap]
            self.assertEqual(len(gaps), 1)
            self.assertEqual((gaps[0].gap_from, gaps[0].gap_to, gaps[0].gap_count), (1, 6, 6))
            self.assertEqual(events, [7, 8, 9, 10])

    def test_disconnect_subscription_raises_after_buffered_items(self) -> None:
        with Store() as s, s.subscribe(2, overflow=Overflow.DISCONNECT) as sub:
            fill(s, 5)
            got = []
            with self.assertRaises(transom.DisconnectedError):
                for batch in sub.batches(timeout=WAIT):
                    got.extend(batch.sequences())
            self.assertEqual(got, [1, 2])

    def test_store_close_ends_the_iteration_after_buffered_items(self) -> None:
        s = Store()
        fill(s, 5)
        c = s.cursor()
        first = c.pull_batch(2, timeout=0).sequences()
        s.close()
        rest = [seq for b in c for seq in b.sequences()]
        self.assertEqual(first + rest, [1, 2, 3, 4, 5])
        c.close()

    def test_close_from_another_thread_wakes_a_blocked_pull(self) -> None:
        with Store() as s:
            c = s.cursor(start="end")
            entered = threading.Event()
            batches: List[int] = []

            def consumer() -> None:
                entered.set()
                for b in c:  # blocks without limit; ends when the canal closes
                    batches.append(len(b))

            t = threading.Thread(target=consumer)
            t.start()
            self.assertTrue(entered.wait(WAIT))
            c.close()
            t.join(WAIT)
            self.assertFalse(t.is_alive())
            with self.assertRaises(transom.ClosedError):
                c.pull_batch()

    def test_close_keeps_the_canal_and_a_subscription_drains_its_buffer(self) -> None:
        with Store() as s:
            sub = s.subscribe(8)
            fill(s, 3)
            sub.close()
            sub.close()  # idempotent
            self.assertTrue(sub.closed)
            fill(s, 2)  # after the close: not received
            self.assertEqual([seq for b in sub for seq in b.sequences()], [1, 2, 3])
            with self.assertRaises(transom.ClosedError):
                sub.pull_batch(timeout=0)
            with self.assertRaises(transom.ClosedError):
                sub.interrupt()
            sub.free()
            with s.cursor() as c:
                c.pull_batch(2, timeout=0)
                c.ack(2)
                c.close()
                for call in (c.rewind, c.checkpoint, lambda: c.ack(2), lambda: c.pull_batch(timeout=0)):
                    with self.assertRaises(transom.ClosedError):
                        call()
            self.assertTrue(c.closed)

    def test_worker_calls_python_with_batches_and_acks(self) -> None:
        with Store() as s:
            fill(s, 600)
            got: "queue.Queue[int]" = queue.Queue()
            seen: List[int] = []

            def on_batch(batch: transom.Batch) -> WorkerAnswer:
                seen.extend(batch.sequences())
                if len(seen) >= 600:
                    got.put(len(seen))
                    return WorkerAnswer.STOP
                return WorkerAnswer.CONTINUE

            c = s.cursor()
            before = transom.live_callbacks()
            w = c.spawn_worker(on_batch, max_batch=100)
            self.assertTrue(c.closed)  # the worker owns the canal now
            self.assertEqual(got.get(timeout=WAIT), 600)
            self.assertEqual(w.join(WAIT), WorkerExit.CALLBACK_STOPPED)
            self.assertEqual(seen, list(range(1, 601)))
            w.close()
            self.assertEqual(transom.live_callbacks(), before)  # its drop ran

    def test_worker_stop_and_join_and_store_close(self) -> None:
        s = Store()
        c = s.cursor(start="end")
        w = c.spawn_worker(lambda b: None)
        self.assertIsNone(w.join(0.01))
        s.close()
        self.assertEqual(w.join(WAIT), WorkerExit.CLOSED)
        w.close()
        s2 = Store()
        w2 = s2.cursor().spawn_worker(lambda b: None)
        self.assertEqual(w2.stop_and_join(WAIT), WorkerExit.STOPPED)
        w2.close()
        s2.close()


if __name__ == "__main__":
    unittest.main()
