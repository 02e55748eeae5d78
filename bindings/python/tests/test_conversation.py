"""Supervised conversations from Python: requests and replies (checked against the awaited
requests), crash policies, crash callbacks as Python callables (added and removed by id),
await_crash, state, close."""

from __future__ import annotations

import queue
import time
import threading
import unittest
from typing import List

from support import WAIT, transom

from transom import Conversation, CrashInfo, ExitKind, ExitReason, OnCrash, Phase, Runtime


def echo_behaviour(rt: Runtime):
    def echo(self_pid: int, msg: transom.Message) -> None:
        req = msg.request()
        rt.reply(self_pid, req.conversation, req.request_id, b"re:" + req.payload)

    return echo


class ConversationTests(unittest.TestCase):
    def setUp(self) -> None:
        self.rt = Runtime(2)

    def tearDown(self) -> None:
        self.rt.close()

    def test_request_reply_with_spawned_python_participant(self) -> None:
        with Conversation(self.rt, [echo_behaviour(self.rt)], on_crash=OnCrash.FAIL) as conv:
            rid = conv.send(b"ping")
            reply = conv.receive(WAIT)
            assert reply is not None
            self.assertEqual((reply.request_id, reply.payload), (rid, b"re:ping"))
            self.assertIsNone(conv.receive(0))
            st = conv.state()
            self.assertEqual(st.phase, Phase.ACTIVE)
            self.assertEqual((st.sent, st.received, st.crashed), (1, 1, 0))
            self.assertEqual(len(st.participants), 1)
            self.assertTrue(st.participants[0].spawned)
            self.assertEqual(len(st.traceparent), 55)

    def test_large_reply_grows_the_receive_buffer(self) -> None:
        big = bytes(range(256)) * 100
        with Conversation(self.rt, [echo_behaviour(self.rt)], on_crash=OnCrash.FAIL) as conv:
            conv.send(big)
            reply = conv.receive(WAIT)
            assert reply is not None
            self.assertEqual(reply.payload, b"re:" + big)

    def test_mailbox_participant_replies_and_request_carries_trace(self) -> None:
        mb = self.rt.open_mailbox()
        with Conversation(self.rt, [mb.pid], on_crash=OnCrash.FAIL) as conv:
            rid = conv.send(b"q")
            m = mb.receive(WAIT)
            assert m is not None
            req = m.request()
            self.assertEqual((req.request_id, req.payload, req.conversation), (rid, b"q", conv.pid))
            self.assertEqual(req.traceparent.split("-")[1], conv.state().traceparent.split("-")[1])
            mb.reply(req.conversation, req.request_id, b"a")
            # Answered: another reply to it, or to an id never sent, is refused, not dropped.
            with self.assertRaises(transom.NotFoundError):
                mb.reply(req.conversation, req.request_id, b"again")
            with self.assertRaises(transom.NotFoundError):
                mb.reply(req.conversation, req.request_id + 100, b"unknown")
            reply = conv.receive(WAIT)
            assert reply is not None
            self.assertEqual((reply.sender, reply.payload), (mb.pid, b"a"))
        mb.exit()
        mb.close()

    def test_crash_callback_await_crash_and_fail_policy(self) -> None:
        crashes: "queue.Queue[CrashInfo]" = queue.Queue()
        mb = self.rt.open_mailbox()
        conv = Conversation(self.rt, [mb.pid], on_crash=OnCrash.FAIL)
        cid = conv.add_crash_callback(crashes.put)
        self.assertGreater(cid, 0)
        self.assertFalse(conv.has_crashed)
        self.assertIsNone(conv.await_crash(0))
        before = time.monotonic_ns()
        mb.exit(ExitReason(ExitKind.ERROR, 5, "participant failed"))
        info = conv.await_crash(WAIT)
        assert info is not None
        self.assertEqual(info.participant, mb.pid)
        self.assertEqual(info.participant_index, 0)
        # CLOCK_MONOTONIC, like time.monotonic_ns().
        self.assertTrue(before <= info.observed_at_ns <= time.monotonic_ns())
        self.assertEqual(info.reason, ExitReason(ExitKind.ERROR, 5, "participant failed"))
        self.assertEqual(info.policy, OnCrash.FAIL)
        self.assertEqual(crashes.get(timeout=WAIT), info)
        self.assertTrue(conv.has_crashed)
        with self.assertRaises(transom.ParticipantCrashedError):
            conv.receive(WAIT)
        self.assertEqual(conv.state().phase, Phase.FAILED)
        # Registered after the crash: replayed at once, on this thread.
        late: List[CrashInfo] = []
        conv.add_crash_callback(late.append)
        self.assertEqual(late, [info])
        conv.close()
        mb.close()

    def test_a_removed_crash_callback_is_not_called_and_is_released(self) -> None:
        a, b = self.rt.open_mailbox(), self.rt.open_mailbox()
        keep = self.rt.open_mailbox()
        seen_removed: List[int] = []
        seen_kept: "queue.Queue[int]" = queue.Queue()
        with Conversation(self.rt, [a.pid, b.pid, keep.pid], on_crash=OnCrash.ROUTE_TO_NEXT) as conv:
            before = transom.live_callbacks()
            removed = conv.add_crash_callback(lambda i: seen_removed.append(i.participant))
            kept = conv.add_crash_callback(lambda i: seen_kept.put(i.participant))
            self.assertNotEqual(removed, kept)
            self.assertEqual(transom.live_callbacks(), before + 2)
            a.exit(ExitKind.KILLED)
            self.assertEqual(seen_kept.get(timeout=WAIT), a.pid)
            conv.remove_crash_callback(removed)
            self.assertEqual(transom.live_callbacks(), before + 1)  # released by the removal
            with self.assertRaises(transom.NotFoundError):
                conv.remove_crash_callback(removed)
            b.exit(ExitKind.KILLED)
            self.assertEqual(seen_kept.get(timeout=WAIT), b.pid)
            self.assertEqual(seen_removed, [a.pid])
        self.assertEqual(transom.live_callbacks(), before)
        keep.exit()
        for m in (a, b, keep):
            m.close()

    def test_route_to_next_resends_in_flight_requests(self) -> None:
        dead = self.rt.open_mailbox()
        with Conversation(self.rt, [dead.pid, echo_behaviour(self.rt)], on_crash=OnCrash.ROUTE_TO_NEXT) as conv:
            rid = conv.send(b"work", to=dead.pid)
            self.assertIsNotNone(dead.receive(WAIT))
            dead.exit(ExitKind.KILLED)
            reply = conv.receive(WAIT)
            assert reply is not None
            self.assertEqual((reply.request_id, reply.payload), (rid, b"re:work"))
        dead.close()

    def test_compensate_callback_gets_in_flight_requests(self) -> None:
        seen: "queue.Queue[list]" = queue.Queue()

        def compensate(pid: int, reason: ExitReason, in_flight: List[transom.InFlight]) -> bool:
            seen.put([(r.request_id, r.payload) for r in in_flight])
            return True

        mb = self.rt.open_mailbox()
        other = self.rt.open_mailbox()
        with Conversation(self.rt, [mb.pid, other.pid], on_crash=OnCrash.COMPENSATE, compensate=compensate) as conv:
            rid = conv.send(b"lost", to=mb.pid)
            mb.exit(ExitKind.KILLED)
            self.assertEqual(seen.get(timeout=WAIT), [(rid, b"lost")])
            self.assertIsNotNone(conv.await_crash(WAIT))
            self.assertNotEqual(conv.state().phase, Phase.FAILED)
        mb.close()
        other.exit()
        other.close()

    def test_close_wakes_a_blocked_receive(self) -> None:
        mb = self.rt.open_mailbox()
        conv = Conversation(self.rt, [mb.pid], on_crash=OnCrash.FAIL)
        entered = threading.Event()
        outcome: List[BaseException] = []

        def receiver() -> None:
            entered.set()
            try:
                conv.receive(WAIT)
            except transom.TransomError as e:
                outcome.append(e)

        t = threading.Thread(target=receiver)
        t.start()
        self.assertTrue(entered.wait(WAIT))
        conv.close()  # wakes the receive (CLOSED), waits for it, then frees
        t.join(WAIT)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(outcome), 1)
        self.assertIsInstance(outcome[0], transom.ClosedError)
        with self.assertRaises(transom.ClosedError):
            conv.send(b"x")
        mb.exit()
        mb.close()

    def test_conversation_timeout_is_enforced(self) -> None:
        mb = self.rt.open_mailbox()
        with Conversation(self.rt, [mb.pid], on_crash=OnCrash.FAIL, timeout=0.05) as conv:
            with self.assertRaises(transom.DeadlineExceededError):
                conv.receive(WAIT)
            self.assertEqual(conv.state().phase, Phase.DEADLINE_EXCEEDED)
        mb.exit()
        mb.close()

    def test_open_with_dead_participant_and_durable_mode_fail(self) -> None:
        mb = self.rt.open_mailbox()
        mb.exit()
        before = transom.live_callbacks()
        with self.assertRaises(transom.NoProcError):
            Conversation(self.rt, [mb.pid, lambda p, m: None], on_crash=OnCrash.FAIL)
        self.assertEqual(transom.live_callbacks(), before)  # the spawned behaviour was dropped
        with self.assertRaises(transom.UnsupportedError):
            Conversation(self.rt, [lambda p, m: None], on_crash=OnCrash.FAIL, mode=transom.Mode.DURABLE)
        with self.assertRaises(transom.InvalidArgumentError):
            Conversation(self.rt, [lambda p, m: None], on_crash=0)  # type: ignore[arg-type]
        mb.close()


if __name__ == "__main__":
    unittest.main()
