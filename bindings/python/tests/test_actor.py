"""The actor runtime from Python: mailboxes, Python behaviours, links, monitors, exit reasons."""

from __future__ import annotations

import queue
import threading
import unittest
from typing import List, Optional, Tuple

from support import WAIT, transom

from transom import ExitKind, ExitReason, Runtime


class ActorTests(unittest.TestCase):
    def setUp(self) -> None:
        self.rt = Runtime(2)

    def tearDown(self) -> None:
        self.rt.close()

    def test_mailbox_send_receive_fifo_and_timeout(self) -> None:
        with self.rt.open_mailbox() as a, self.rt.open_mailbox() as b:
            for i in range(10):
                a.send(b.pid, bytes([i]))
            got = []
            for _ in range(10):
                m = b.receive(WAIT)
                assert m is not None
                self.assertEqual(m.sender, a.pid)
                got.append(bytes(m.data))
            self.assertEqual(got, [bytes([i]) for i in range(10)])
            self.assertIsNone(b.receive(0))

    def test_message_view_ends_at_the_next_receive(self) -> None:
        with self.rt.open_mailbox() as mb:
            self.rt.send(mb.pid, b"first")
            self.rt.send(mb.pid, b"second")
            m1 = mb.receive(WAIT)
            assert m1 is not None
            data = m1.data
            self.assertEqual(bytes(data), b"first")
            m2 = mb.receive(WAIT)
            assert m2 is not None
            self.assertEqual(m2.bytes(), b"second")
            with self.assertRaises(ValueError):
                bytes(data)
            with self.assertRaises(transom.ClosedError):
                m1.data

    def test_python_behaviour_echoes_and_exits_with_its_status(self) -> None:
        rt = self.rt

        def echo(self_pid: int, msg: transom.Message) -> Optional[int]:
            if bytes(msg.data) == b"stop":
                return 42
            rt.send_from(self_pid, msg.sender, b"echo:" + bytes(msg.data))
            return None

        reasons: "queue.Queue[Tuple[int, ExitReason]]" = queue.Queue()
        with rt.open_mailbox() as mb:
            pid, ref = rt.spawn_monitored(echo, monitor=lambda p, r: reasons.put((p, r)))
            self.assertNotEqual(ref, 0)
            mb.send(pid, b"hi")
            m = mb.receive(WAIT)
            assert m is not None
            self.assertEqual((m.sender, bytes(m.data)), (pid, b"echo:hi"))
            mb.send(pid, b"stop")
            p, reason = reasons.get(timeout=WAIT)
            self.assertEqual(p, pid)
            self.assertEqual((reason.kind, reason.code), (ExitKind.ERROR, 42))
            with self.assertRaises(transom.NoProcError):
                rt.send(pid, b"late")

    def test_link_kills_unless_trapping_and_exit_reason_is_data(self) -> None:
        with self.rt.open_mailbox(trap_exit=True) as watcher:
            victim = self.rt.open_mailbox(link=watcher.pid)
            victim.exit(ExitReason(ExitKind.ERROR, 7, "boom"))
            m = watcher.receive(WAIT)
            assert m is not None
            self.assertTrue(m.is_exit)
            self.assertEqual(m.sender, victim.pid)
            self.assertEqual(m.reason, ExitReason(ExitKind.ERROR, 7, "boom"))
            victim.close()

            plain = self.rt.open_mailbox()
            linked = self.rt.open_mailbox(link=plain.pid)
            linked.close()  # freed without exit: DROPPED, abnormal, kills the linked mailbox
            with self.assertRaises(transom.ClosedError):
                plain.receive(WAIT)
            plain.close()

    def test_closing_a_mailbox_wakes_its_blocked_receive(self) -> None:
        mb = self.rt.open_mailbox()
        entered = threading.Event()
        outcome: List[object] = []

        def receiver() -> None:
            entered.set()
            try:
                outcome.append(mb.receive(None))  # no limit of its own
            except transom.TransomError as e:
                outcome.append(e)

        t = threading.Thread(target=receiver)
        t.start()
        self.assertTrue(entered.wait(WAIT))
        mb.close()  # kills the process, waits for the receive to return, frees
        t.join(WAIT)
        self.assertFalse(t.is_alive())
        self.assertIsInstance(outcome[0], transom.ClosedError)

    def test_add_monitor_and_remove_monitor(self) -> None:
        fired: "queue.Queue[ExitReason]" = queue.Queue()
        mb = self.rt.open_mailbox()
        monitor_id = self.rt.add_monitor(mb.pid, lambda pid, r: fired.put(r))
        self.assertTrue(self.rt.remove_monitor(monitor_id))
        self.assertFalse(self.rt.remove_monitor(monitor_id))
        self.rt.add_monitor(mb.pid, lambda pid, r: fired.put(r))
        mb.exit(ExitKind.NORMAL)
        self.assertEqual(fired.get(timeout=WAIT).kind, ExitKind.NORMAL)
        self.assertTrue(fired.empty())
        mb.close()
        # Monitoring a dead pid fires at once with NOPROC.
        self.rt.add_monitor(mb.pid, lambda pid, r: fired.put(r))
        self.assertEqual(fired.get(timeout=WAIT).kind, ExitKind.NOPROC)
        # Pid 0 names no process: refused, never called.
        before = transom.live_callbacks()
        with self.assertRaises(transom.NoProcError):
            self.rt.add_monitor(0, lambda pid, r: fired.put(r))
        self.assertEqual(transom.live_callbacks(), before)
        self.assertTrue(fired.empty())

    def test_pid_zero_names_no_process(self) -> None:
        with self.rt.open_mailbox(trap_exit=True) as mb:
            for call in (
                lambda: self.rt.send(0, b"x"),
                lambda: self.rt.send_from(mb.pid, 0, b"x"),
                lambda: mb.send(0, b"x"),
                lambda: self.rt.exit(0, ExitKind.KILLED),
                lambda: self.rt.link(mb.pid, 0),
                lambda: self.rt.unlink(0, mb.pid),
            ):
                with self.assertRaises(transom.NoProcError):
                    call()
            self.assertIsNone(mb.receive(0))  # no NOPROC signal was sent to it

    def test_an_explicit_shutdown_exit_is_not_a_crash(self) -> None:
        with self.rt.open_mailbox() as stopped, self.rt.open_mailbox(link=stopped.pid) as plain:
            self.rt.exit(stopped.pid, ExitKind.SHUTDOWN)
            with self.assertRaises(transom.ClosedError):
                stopped.receive(WAIT)
            self.rt.send(plain.pid, b"alive?")
            m = plain.receive(WAIT)  # the linked process survived
            assert m is not None
            self.assertEqual(m.bytes(), b"alive?")

    def test_every_call_on_an_exited_mailbox_is_closed(self) -> None:
        with self.rt.open_mailbox() as other, self.rt.open_mailbox() as mb:
            self.rt.exit(mb.pid, ExitKind.KILLED)
            with self.assertRaises(transom.ClosedError):
                mb.exit()  # was NoProcError before 0.2
            with self.assertRaises(transom.ClosedError):
                mb.send(other.pid, b"x")
            with self.assertRaises(transom.ClosedError):
                mb.receive(0)

    def test_runtime_exit_kills_and_link_to_dead_is_noproc(self) -> None:
        mb = self.rt.open_mailbox()
        other = self.rt.open_mailbox()
        self.rt.exit(mb.pid, ExitKind.KILLED)
        with self.assertRaises(transom.ClosedError):
            mb.receive(WAIT)
        with self.assertRaises(transom.NoProcError):
            self.rt.link(other.pid, mb.pid)
        mb.close()
        other.close()

    def test_runtime_close_wakes_a_blocked_receive_and_drops_callbacks(self) -> None:
        rt = Runtime(1)
        before = transom.live_callbacks()
        rt.spawn(lambda pid, msg: None)
        mb = rt.open_mailbox()
        result: List[object] = []
        entered = threading.Event()

        def blocked() -> None:
            entered.set()
            try:
                result.append(mb.receive(WAIT))
            except transom.ClosedError as e:
                result.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        self.assertTrue(entered.wait(WAIT))
        rt.close()
        t.join(WAIT)
        self.assertFalse(t.is_alive())
        self.assertIsInstance(result[0], transom.ClosedError)
        self.assertEqual(transom.live_callbacks(), before)  # every drop ran
        mb.close()

    def test_close_waits_for_a_behaviour_inside_a_runtime_call_and_frees_on_the_closing_thread(self) -> None:
        # A behaviour on a worker is inside a runtime method (as in ``rt.reply``) when another
        # thread closes the runtime: close waits for that call to end and then frees the runtime
        # itself, joining the workers, so every behaviour's drop has run when it returns. (Were
        # the free left to the call's end, it would run on the worker, which cannot join itself:
        # the worker would outlive close and call into Python during interpreter shutdown.)
        rt = Runtime(1)
        before = transom.live_callbacks()
        inside, release = threading.Event(), threading.Event()

        def handler(pid: int, msg: transom.Message) -> None:
            with rt._use():  # what every Runtime method does around its C call, held open
                inside.set()
                release.wait(WAIT)

        freed_on: List[int] = []
        free = rt._free_fn
        assert free is not None

        def recording_free(ptr: object) -> None:
            freed_on.append(threading.get_ident())
            free(ptr)

        rt._free_fn = recording_free
        pid = rt.spawn(handler)
        rt.send(pid, b"go")
        self.assertTrue(inside.wait(WAIT))
        closer = threading.Thread(target=rt.close)
        closer.start()
        with rt._cond:  # the closer is waiting for the behaviour's call
            self.assertTrue(rt._cond.wait_for(lambda: rt._closers == 1, WAIT))
        release.set()
        closer.join(WAIT)
        self.assertFalse(closer.is_alive())
        self.assertEqual(freed_on, [closer.ident])
        self.assertEqual(transom.live_callbacks(), before)  # the behaviour was dropped, workers joined
        self.assertIsNone(rt._ptr)

    def test_callbacks_are_kept_alive_by_the_binding_until_drop(self) -> None:
        before = transom.live_callbacks()
        got: "queue.Queue[bytes]" = queue.Queue()

        def make() -> int:
            # The handler is referenced only by the binding once this returns.
            return self.rt.spawn(lambda pid, msg: got.put(bytes(msg.data)))

        pid = make()
        self.assertEqual(transom.live_callbacks(), before + 1)
        self.rt.send(pid, b"still alive")
        self.assertEqual(got.get(timeout=WAIT), b"still alive")
        done: "queue.Queue[ExitReason]" = queue.Queue()
        self.rt.add_monitor(pid, lambda p, r: done.put(r))
        self.rt.exit(pid, ExitKind.KILLED)
        self.assertEqual(done.get(timeout=WAIT).kind, ExitKind.KILLED)
        self.rt.close()  # joins the workers: every drop has run
        self.assertEqual(transom.live_callbacks(), before)


if __name__ == "__main__":
    unittest.main()
