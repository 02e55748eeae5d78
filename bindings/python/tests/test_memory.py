"""Slot memory managers from Python: store/read/take, zero-copy reserve/commit and write views,
stale tokens, borrow rules, every kind."""

from __future__ import annotations

import threading
import unittest

from support import WAIT, transom

from transom import Header, Manager, ManagerKind, MemoryClass, MemoryKind


def managers(capacity: int = 4, slot_size: int = 64):
    yield Manager.heap(capacity, slot_size)
    yield Manager.concurrent(capacity, slot_size)
    yield Manager.static(capacity, slot_size)


class MemoryTests(unittest.TestCase):
    def test_store_read_take_round_trip_on_every_kind(self) -> None:
        for mgr in managers():
            with self.subTest(kind=mgr), mgr:
                tok = mgr.store(b"hello", Header(trace_id=7, sequence=3, flags=transom.FLAG_FIRST_IN_BATCH))
                with mgr.read(tok) as view:
                    self.assertEqual(bytes(view.payload), b"hello")
                    self.assertTrue(view.payload.readonly)
                    h = view.header
                    self.assertEqual((h.trace_id, h.sequence, h.payload_len), (7, 3, 5))
                    self.assertEqual(h.qos, transom.QOS_BEST_EFFORT)
                self.assertEqual(mgr.peek_header(tok).trace_id, 7)
                self.assertEqual(mgr.take(tok), b"hello")
                self.assertEqual(mgr.available, mgr.capacity)

    def test_read_view_is_zero_copy_and_ends_with_the_block(self) -> None:
        with Manager.heap(2, 16) as mgr:
            tok = mgr.store(b"abc")
            with mgr.write(tok) as w:
                w.payload[:3] = b"xyz"
            with mgr.read(tok) as v:
                payload = v.payload
                self.assertEqual(bytes(payload), b"xyz")
            with self.assertRaises(ValueError):  # released with the view: no dangling read
                bytes(payload)

    def test_reserve_commit_and_abort(self) -> None:
        with Manager.concurrent(2, 32) as mgr:
            with mgr.reserve(4) as r:
                r.payload[:] = b"data"
                tok = r.commit(Header(sequence=9))
            self.assertEqual(mgr.take(tok), b"data")
            with mgr.reserve(4) as r:
                pass  # not committed: aborted
            self.assertEqual(mgr.available, 2)
            with self.assertRaises(transom.StaleTokenError):
                mgr.remove(r.token)

    def test_stale_token_is_refused_after_reuse(self) -> None:
        with Manager.heap(1, 8) as mgr:
            old = mgr.store(b"a")
            mgr.remove(old)
            new = mgr.store(b"b")
            with self.assertRaises(transom.StaleTokenError) as cm:
                mgr.read(old)
            self.assertEqual(cm.exception.status, transom.errors.ERR_STALE_TOKEN)
            self.assertEqual(mgr.take(new), b"b")

    def test_errors_carry_status_and_detail(self) -> None:
        with Manager.heap(1, 4) as mgr:
            with self.assertRaises(transom.TooLargeError) as cm:
                mgr.store(b"12345")
            self.assertIsInstance(cm.exception, transom.TransomError)
            self.assertTrue(cm.exception.detail)
            mgr.store(b"1")
            with self.assertRaises(transom.NoFreeSlotsError):
                mgr.store(b"2")
            self.assertEqual(mgr.stats().failed_allocs, 1)
            self.assertEqual(mgr.stats().retired, 0)
            with self.assertRaises(transom.BadTokenError):
                mgr.read(transom.Token(0))

    def test_borrowed_slot_refuses_remove_and_clear(self) -> None:
        with Manager.heap(2, 8) as mgr:
            tok = mgr.store(b"x")
            with mgr.read(tok):
                with self.assertRaises(transom.BorrowedError):
                    mgr.remove(tok)
                with self.assertRaises(transom.BorrowedError):
                    mgr.clear()
            mgr.clear()
            self.assertEqual(mgr.available, 2)

    def test_write_view_length_change_is_validated(self) -> None:
        with Manager.heap(1, 8) as mgr:
            tok = mgr.store(b"ab")
            with mgr.write(tok) as w:
                self.assertEqual(w.capacity, 8)
                w.payload[:5] = b"hello"
                w.set_len(5)
            self.assertEqual(mgr.peek_header(tok).payload_len, 5)
            w = mgr.write(tok)
            w.set_len(9)
            with self.assertRaises(transom.TooLargeError):
                w.release()
            self.assertEqual(mgr.take(tok), b"hello")

    def test_write_view_header_is_checked_on_release_and_reverted(self) -> None:
        with Manager.heap(1, 8) as mgr:
            tok = mgr.store(b"ab", Header(qos=transom.QOS_BACKGROUND, flags=transom.FLAG_LAST_IN_BATCH))
            for bad in (Header(qos=200, sequence=4), Header(flags=0xFF, sequence=4)):
                w = mgr.write(tok)
                w.set_header(bad)
                with self.assertRaises(transom.InvalidArgumentError):
                    w.release()
                h = mgr.peek_header(tok)  # the view ended; qos and flags reverted
                self.assertEqual((h.qos, h.flags), (transom.QOS_BACKGROUND, transom.FLAG_LAST_IN_BATCH))
                self.assertEqual(h.sequence, 4)  # a caller field keeps its edit
            with mgr.write(tok) as w:
                w.set_header(Header(qos=0, flags=transom.FLAG_DEGRADE_ALLOWED))
            h = mgr.peek_header(tok)
            self.assertEqual((h.qos, h.flags), (transom.QOS_BEST_EFFORT, transom.FLAG_DEGRADE_ALLOWED))

    def test_tokens_are_values_that_name_their_manager(self) -> None:
        with Manager.heap(2, 8) as mgr:
            a = mgr.store(b"a")
            self.assertNotEqual(a.key, 0)
            self.assertTrue(a)
            self.assertFalse(transom.Token())
            self.assertEqual(transom.Token(a.key, a.slot), a)
            self.assertEqual(len({a, transom.Token(a.key, a.slot), mgr.store(b"b")}), 2)
            with self.assertRaises(ValueError):
                mgr.read(transom.Token(-1, 0))
            with self.assertRaises(transom.BadTokenError):
                mgr.read(transom.Token(a.key + 1, a.slot))

    def test_tokens_of_other_managers_are_refused_after_hundreds_of_managers(self) -> None:
        with Manager.heap(2, 8) as first:
            ta = first.store(b"A")
            firsts = []
            for i in range(300):
                with Manager.concurrent(2, 8) if i % 2 else Manager.static(2, 8) as mgr:
                    t = mgr.store(b"m")
                    self.assertNotIn(t, firsts)
                    with self.assertRaises(transom.BadTokenError):
                        mgr.read(ta)
                    with self.assertRaises(transom.BadTokenError):
                        mgr.remove(ta)
                    if firsts:  # a token kept from a freed manager
                        with self.assertRaises(transom.BadTokenError):
                            mgr.read(firsts[-1])
                    firsts.append(t)
            self.assertEqual(first.take(ta), b"A")

    def test_static_manager_over_caller_storage_and_properties(self) -> None:
        need = transom.required_bytes(3, 16)
        storage = bytearray(need)
        cls = MemoryClass(MemoryKind.DEVICE, 2)
        with Manager.static(3, 16, storage, memory_class=cls) as mgr:
            self.assertEqual((mgr.capacity, mgr.slot_size), (3, 16))
            self.assertEqual(mgr.memory_class, cls)
            tok = mgr.store(b"in caller memory")
            self.assertEqual(mgr.peek_header(tok).memory_class, cls)
        with self.assertRaises(transom.InvalidArgumentError):
            Manager(ManagerKind.STATIC, 3, 16, storage=bytearray(need - 1))
        with self.assertRaises(transom.InvalidArgumentError):  # no storage at all (NULL)
            Manager(ManagerKind.STATIC, 3, 16, storage=bytearray(0))

    def test_capacity_zero_is_legal(self) -> None:
        with Manager.heap(0, 8) as mgr:
            with self.assertRaises(transom.NoFreeSlotsError):
                mgr.store(b"")

    def test_closing_the_manager_ends_outstanding_views(self) -> None:
        mgr = Manager.heap(1, 8)
        tok = mgr.store(b"abc")
        view = mgr.read(tok)
        payload = view.payload
        mgr.close()
        with self.assertRaises(ValueError):
            bytes(payload)
        view.release()  # no effect after close, and no crash
        with self.assertRaises(transom.ClosedError):
            mgr.store(b"x")

    def test_concurrent_manager_from_threads(self) -> None:
        with Manager.concurrent(64, 8) as mgr:
            errors = []
            start = threading.Barrier(4)

            def work(k: int) -> None:
                try:
                    start.wait(WAIT)
                    for i in range(500):
                        data = bytes([k, i % 256])
                        tok = mgr.store(data)
                        with mgr.read(tok) as v:
                            assert bytes(v.payload) == data
                        assert mgr.take(tok) == data
                except BaseException as e:  # reported below
                    errors.append(e)

            threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(WAIT)
            self.assertEqual(errors, [])
            self.assertEqual(mgr.available, 64)

    def test_default_header(self) -> None:
        self.assertEqual(transom.default_header().qos, transom.QOS_BEST_EFFORT)


if __name__ == "__main__":
    unittest.main()
