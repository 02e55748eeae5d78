"""STATIC and HEAP managers belong to one thread: a call from another thread raises ThreadingError
naming both threads before anything reaches C (before this, eight threads sharing a HEAP manager
got StaleTokenError on tokens just stored and leaked slots); ``transfer_to_current_thread``
hands one over; CONCURRENT managers stay free-threaded."""

from __future__ import annotations

import queue
import threading
import unittest
from typing import Any, Callable, Iterator, List, Optional, Tuple

from support import WAIT, transom

from transom import Manager, ManagerKind, ThreadingError, Token
from transom._ffi import lib

THREADS = 8


class CountCalls:
    """Counts calls of one C function of the library (restored on exit)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def __enter__(self) -> "CountCalls":
        self.real = getattr(lib, self.name)

        def counting(*args: Any) -> Any:
            self.calls += 1
            return self.real(*args)

        setattr(lib, self.name, counting)
        return self

    def __exit__(self, *exc: Any) -> None:
        setattr(lib, self.name, self.real)


def on_threads(n: int, fn: Callable[[int], Any]) -> List[Tuple[str, Any]]:
    """Runs ``fn(i)`` on ``n`` threads started together; ``[(thread name, result or exception)]``."""
    start = threading.Barrier(n)
    results: List[Optional[Tuple[str, Any]]] = [None] * n

    def run(i: int) -> None:
        start.wait(WAIT)
        try:
            results[i] = (threading.current_thread().name, fn(i))
        except BaseException as e:
            results[i] = (threading.current_thread().name, e)

    threads = [threading.Thread(target=run, args=(i,), name=f"worker-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    return [r for r in results if r is not None]


def owned_managers() -> Iterator[Manager]:
    yield Manager.heap(16, 64)
    yield Manager.static(16, 64)


class OwnedManagers(unittest.TestCase):
    def test_eight_threads_get_threading_error_before_c_and_nothing_leaks(self) -> None:
        for m in owned_managers():
            with self.subTest(kind=m.kind.name), m:
                main = threading.current_thread()
                self.assertEqual(m.owner_thread, main.ident)
                with CountCalls("transom_manager_store") as store:
                    results = on_threads(THREADS, lambda i: m.store(bytes([i])))
                self.assertEqual(store.calls, 0, "no call reached C")
                self.assertEqual(len(results), THREADS)
                for name, r in results:
                    self.assertIs(type(r), ThreadingError)
                    self.assertIsInstance(r, transom.TransomError)
                    self.assertIsInstance(r, RuntimeError)
                    self.assertEqual(r.status, transom.ERR_WRONG_STATE)
                    self.assertEqual(r.owner, main.ident)
                    self.assertNotEqual(r.caller, main.ident)
                    self.assertIn(
                        f"this {m.kind.name} manager belongs to thread 'MainThread' (ident {main.ident}) "
                        f"and was called from thread {name!r} (ident {r.caller})",
                        str(r),
                    )
                    self.assertIn("manager.transfer_to_current_thread()", str(r))
                # Nothing was stored, nothing leaked, and the owner goes on as before.
                self.assertEqual(m.stats(), transom.Stats(0, 0, 0, 0))
                self.assertEqual(m.available, 16)
                tok = m.store(b"mine")
                self.assertEqual(m.take(tok), b"mine")

    def test_every_call_and_view_is_guarded(self) -> None:
        with Manager.heap(4, 32) as m:
            tok = m.store(b"abc")
            view = m.write(tok)
            res = m.reserve(2)
            calls: List[Callable[[], Any]] = [
                lambda: m.read(tok),
                lambda: m.peek_header(tok),
                lambda: m.remove(tok),
                lambda: m.take(tok),
                lambda: m.clear(),
                lambda: m.available,
                lambda: m.capacity,
                lambda: m.slot_size,
                lambda: m.memory_class,
                lambda: m.stats(),
                lambda: m.reserve(1),
                lambda: view.header,
                lambda: view.set_len(1),
                lambda: view.set_header(transom.Header()),
                lambda: view.release(),
                lambda: res.commit(),
                lambda: res.abort(),
            ]
            results = on_threads(1, lambda _: [self._raises(c) for c in calls])
            self.assertEqual(results[0][1], [ThreadingError] * len(calls))
            # The owner still holds the view and the reservation: both work.
            view.set_len(2)
            view.release()
            res.payload[:] = b"xy"
            t2 = res.commit()
            self.assertEqual((m.take(tok), m.take(t2)), (b"ab", b"xy"))

    @staticmethod
    def _raises(call: Callable[[], Any]) -> Any:
        try:
            call()
        except BaseException as e:
            return type(e)
        return None

    def test_transfer_hands_the_manager_from_thread_to_thread(self) -> None:
        """A relay: each of eight threads takes the manager from a queue, makes itself the owner,
        reads and frees the previous thread's message, stores its own and passes it on."""
        for m in owned_managers():
            with self.subTest(kind=m.kind.name), m:
                first = m.store(b"from main")
                handoff: "queue.Queue[Tuple[Manager, Token]]" = queue.Queue()
                handoff.put((m, first))
                seen: List[bytes] = []

                def relay(i: int) -> None:
                    mgr, tok = handoff.get(timeout=WAIT)
                    mgr.transfer_to_current_thread()
                    self.assertEqual(mgr.owner_thread, threading.get_ident())
                    seen.append(mgr.take(tok))
                    handoff.put((mgr, mgr.store(f"from {i}".encode())))

                for i in range(THREADS):  # one after the other: each waits for the queue
                    t = threading.Thread(target=relay, args=(i,))
                    t.start()
                    t.join(WAIT)
                _, last = handoff.get_nowait()
                self.assertEqual(seen, [b"from main"] + [f"from {i}".encode() for i in range(THREADS - 1)])
                # The last relay thread owns it (and has ended): main must take it back.
                with self.assertRaises(ThreadingError):
                    m.take(last)
                m.transfer_to_current_thread()
                self.assertEqual(m.take(last), f"from {THREADS - 1}".encode())
                self.assertEqual(m.stats().in_use, 0)

    def test_transfer_is_refused_while_a_call_runs_on_the_owner(self) -> None:
        with Manager.heap(4, 32) as m:
            with m._use():  # as if the owner were inside a call right now
                results = on_threads(1, lambda _: m.transfer_to_current_thread())
            err = results[0][1]
            self.assertIs(type(err), ThreadingError)
            self.assertIn("cannot hand this HEAP manager over to thread 'worker-0'", str(err))
            self.assertIn("a call on thread 'MainThread'", str(err))
            self.assertEqual(m.owner_thread, threading.get_ident())

    def test_close_and_transfer_of_a_closed_manager(self) -> None:
        m = Manager.heap(4, 32)
        tok = m.store(b"x")
        on_threads(1, lambda _: m.close())  # closing is allowed from any thread
        self.assertTrue(m.closed)
        with self.assertRaises(transom.ClosedError):
            m.take(tok)
        with self.assertRaises(transom.ClosedError):
            m.transfer_to_current_thread()


class ConcurrentManager(unittest.TestCase):
    def test_eight_threads_share_a_concurrent_manager(self) -> None:
        with Manager.concurrent(THREADS * 4, 32) as m:
            self.assertIsNone(m.owner_thread)
            m.transfer_to_current_thread()  # does nothing
            self.assertIsNone(m.owner_thread)

            def work(i: int) -> int:
                for k in range(300):
                    payload = f"{i}:{k}".encode()
                    tok = m.store(payload)
                    if m.take(tok) != payload:
                        raise AssertionError("another thread's payload")
                return i

            results = on_threads(THREADS, work)
            self.assertEqual(sorted(r for _, r in results), list(range(THREADS)))
            self.assertEqual(m.stats().in_use, 0)
            self.assertEqual(m.kind, ManagerKind.CONCURRENT)


if __name__ == "__main__":
    unittest.main()
