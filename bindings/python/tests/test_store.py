"""The event store from Python: appends, batches, idempotency, expected versions, reads over
streams and the causal graph, gates as Python callables, on-disk reopen and locking."""

from __future__ import annotations

import tempfile
import threading
import unittest

from support import WAIT, transom

from transom import NO_STREAM, AppendEvent, Store, Sync


class StoreTests(unittest.TestCase):
    def test_append_get_read_in_memory(self) -> None:
        with Store() as s:
            r1 = s.append("orders-1", b"created", kind=1)
            r2 = s.append("orders-1", b"paid", kind=2)
            self.assertEqual((r1.sequence, r2.sequence, r2.stream_version), (1, 2, 2))
            self.assertEqual(s.head, 2)
            e = s.get(r2.id)
            self.assertEqual((e.stream, e.kind, e.payload, e.sequence), ("orders-1", 2, b"paid", 2))
            self.assertEqual([x.payload for x in s.read("orders-1")], [b"created", b"paid"])
            self.assertEqual([x.payload for x in s.read("orders-1", from_version=2)], [b"paid"])
            self.assertEqual(s.read("nobody"), [])
            with self.assertRaises(transom.NotFoundError):
                s.get(r2.id + 1)

    def test_read_pages_through_long_streams_and_large_payloads(self) -> None:
        with Store() as s:
            s.append_batch([AppendEvent("s", bytes([i % 256]) * 1000) for i in range(700)])
            events = s.read("s")
            self.assertEqual(len(events), 700)
            self.assertEqual([e.stream_version for e in events], list(range(1, 701)))
            self.assertEqual(len(s.read("s", limit=10)), 10)

    def test_batch_is_all_or_nothing_and_versions_are_checked(self) -> None:
        with Store() as s:
            s.append("a", b"1", expected_version=NO_STREAM)
            with self.assertRaises(transom.ConflictError):
                s.append("a", b"2", expected_version=NO_STREAM)
            with self.assertRaises(transom.ConflictError):
                s.append_batch([AppendEvent("b", b"x"), AppendEvent("a", b"y", expected_version=5)])
            self.assertEqual(s.head, 1)
            rs = s.append_batch([AppendEvent("b", b"x"), AppendEvent("a", b"y", expected_version=1)])
            self.assertEqual([r.sequence for r in rs], [2, 3])

    def test_idempotency_key_returns_the_original_receipt(self) -> None:
        with Store() as s:
            r = s.append("p", b"once", idempotency_key=b"k1")
            self.assertEqual(s.append("p", b"once", idempotency_key=b"k1"), r)
            with self.assertRaises(transom.ConflictError):
                s.append("p", b"different", idempotency_key=b"k1")
            self.assertEqual(s.head, 1)

    def test_causal_graph(self) -> None:
        with Store() as s:
            root = s.append("c", b"root")
            child = s.append("c", b"child", correlation_id=root.id, causation_id=root.id)
            grandchild = s.append("c", b"gc", correlation_id=root.id, causation_id=child.id)
            self.assertEqual([e.id for e in s.ancestors(grandchild.id)], [child.id, root.id])
            corr = s.correlated(child.id)
            self.assertEqual([e.payload for e in corr][-2:], [b"child", b"gc"])

    def test_gate_rejects_with_code_and_reason_and_can_be_removed(self) -> None:
        with Store() as s:
            seen = []

            def gate(ev: transom.GateEvent):
                seen.append((ev.stream, ev.kind, ev.payload, ev.index, ev.batch_len))
                if ev.payload == b"bad":
                    return (17, "no bad events")
                return None

            gid = s.add_gate(gate)
            s.append("g", b"good", kind=3)
            with self.assertRaises(transom.RejectedError) as cm:
                s.append("g", b"bad")
            self.assertEqual(cm.exception.value, 17)
            self.assertIn("no bad events", cm.exception.detail)
            self.assertEqual(s.head, 1)
            self.assertEqual(seen[0], ("g", 3, b"good", 0, 1))
            s.remove_gate(gid)
            s.append("g", b"bad")
            with self.assertRaises(transom.NotFoundError):
                s.remove_gate(gid)

    def test_on_disk_reopen_and_directory_lock(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            with Store(d, sync=Sync.NEVER) as s:
                s.append("disk", b"persisted")
                with self.assertRaises(transom.LockedError):
                    Store(d)
            with Store(d) as s:
                self.assertEqual([e.payload for e in s.read("disk")], [b"persisted"])

    def test_appends_from_threads_get_dense_sequences(self) -> None:
        with Store() as s:
            start = threading.Barrier(4)
            seqs = []
            lock = threading.Lock()

            def writer(k: int) -> None:
                start.wait(WAIT)
                for i in range(200):
                    r = s.append(f"w{k}", b"x")
                    with lock:
                        seqs.append(r.sequence)

            ts = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(WAIT)
            self.assertEqual(sorted(seqs), list(range(1, 801)))

    def test_closed_store_raises(self) -> None:
        s = Store()
        s.close()
        s.close()  # idempotent
        self.assertTrue(s.closed)
        with self.assertRaises(transom.ClosedError) as cm:
            s.append("x", b"")
        self.assertIn("the store is closed", cm.exception.detail)  # C's answer: the handle lives
        with self.assertRaises(transom.ClosedError):
            s.head
        with self.assertRaises(transom.ClosedError):
            s.read("x")
        with self.assertRaises(transom.ClosedError):
            s.cursor()
        s.free()
        s.free()  # idempotent
        s.close()  # a freed store: nothing left to close
        with self.assertRaises(transom.ClosedError):
            s.head

    def test_close_keeps_the_object_and_releases_the_directory(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            s = Store(d)
            s.append("d", b"kept")
            s.close()
            with Store(d) as again:  # the close released the lock; the with block frees
                self.assertEqual(again.head, 1)
            self.assertTrue(again.closed)
            with self.assertRaises(transom.ClosedError):
                again.head
            s.free()

    def test_removing_an_unknown_gate_names_it(self) -> None:
        with Store() as s:
            with self.assertRaises(transom.NotFoundError) as cm:
                s.remove_gate(7)
            self.assertEqual(cm.exception.detail, "no gate with id 7")

    def test_close_removes_the_gates(self) -> None:
        s = Store()
        before = transom.live_callbacks()
        s.add_gate(lambda ev: None)
        self.assertEqual(transom.live_callbacks(), before + 1)
        s.close()
        self.assertEqual(transom.live_callbacks(), before)  # its drop ran at the close
        s.free()


if __name__ == "__main__":
    unittest.main()
