"""asyncio on the pollable descriptors (transom.aio): each awaitable returns what arrives after
it started waiting, several awaits share one loop, a cancelled await consumes nothing (the item
goes to the next receive), and closing a handle wakes its waiters with ClosedError.

No sleeps: events are triggered from the loop itself (call_soon) after the awaits started, and
every await is bounded by asyncio.wait_for(..., WAIT)."""

from __future__ import annotations

import asyncio
import unittest
from typing import Any, Awaitable, List, TypeVar

from support import WAIT, transom

from transom import (
    ClosedError,
    Conversation,
    ExitKind,
    ExitReason,
    OnCrash,
    ParticipantCrashedError,
    Runtime,
    Store,
    WorkerExit,
    aio,
)

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, WAIT)

    return asyncio.run(bounded())


async def started(task: "asyncio.Task[Any]") -> None:
    """Lets `task` run up to its first suspension (waiting for its descriptor)."""
    for _ in range(3):
        await asyncio.sleep(0)  # a yield to the loop, not a timed sleep
    assert not task.done()


class MailboxTests(unittest.TestCase):
    def setUp(self) -> None:
        self.rt = Runtime(2)

    def tearDown(self) -> None:
        self.rt.close()

    def test_receive_waits_for_a_message_sent_later(self) -> None:
        mb = self.rt.open_mailbox()

        async def main() -> bytes:
            task = asyncio.ensure_future(aio.receive(mb))
            await started(task)
            self.rt.send(mb.pid, b"hello")
            m = await task
            return bytes(m.data)

        self.assertEqual(run(main()), b"hello")
        mb.close()

    def test_receive_returns_at_once_when_a_message_is_queued(self) -> None:
        mb = self.rt.open_mailbox()
        self.rt.send(mb.pid, b"ready")

        async def main() -> bytes:
            return bytes((await aio.receive(mb)).data)

        self.assertEqual(run(main()), b"ready")
        mb.close()

    def test_a_cancelled_receive_consumes_nothing(self) -> None:
        mb = self.rt.open_mailbox()

        async def main() -> List[bytes]:
            # Timed out by wait_for: the message sent afterwards goes to the next receive.
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(aio.receive(mb), 0.05)
            # Cancelled after the message arrived but before the task ran again: still queued.
            task = asyncio.ensure_future(aio.receive(mb))
            await started(task)
            self.rt.send(mb.pid, b"one")
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            self.rt.send(mb.pid, b"two")
            first = bytes((await aio.receive(mb)).data)
            m = mb.receive(0)
            assert m is not None
            return [first, bytes(m.data)]

        self.assertEqual(run(main()), [b"one", b"two"])
        mb.close()

    def test_two_receives_on_one_mailbox_get_one_message_each(self) -> None:
        mb = self.rt.open_mailbox()

        async def one() -> bytes:
            return bytes((await aio.receive(mb)).data)

        async def main() -> List[bytes]:
            a = asyncio.ensure_future(one())
            b = asyncio.ensure_future(one())
            await started(a)
            await started(b)
            self.rt.send(mb.pid, b"x")
            self.rt.send(mb.pid, b"y")
            return sorted(await asyncio.gather(a, b))

        self.assertEqual(run(main()), [b"x", b"y"])
        mb.close()

    def test_closing_the_mailbox_wakes_its_waiter_with_closed_error(self) -> None:
        mb = self.rt.open_mailbox()

        async def main() -> None:
            task = asyncio.ensure_future(aio.receive(mb))
            await started(task)
            mb.close()
            with self.assertRaises(ClosedError):
                await task

        run(main())

    def test_an_exited_mailbox_raises_closed_error(self) -> None:
        mb = self.rt.open_mailbox()

        async def main() -> None:
            task = asyncio.ensure_future(aio.receive(mb))
            await started(task)
            mb.exit()
            with self.assertRaises(ClosedError):
                await task

        run(main())
        mb.close()


class ConversationTests(unittest.TestCase):
    def setUp(self) -> None:
        self.rt = Runtime(2)

    def tearDown(self) -> None:
        self.rt.close()

    def test_receive_a_reply_and_serve_the_participant_in_the_same_loop(self) -> None:
        mb = self.rt.open_mailbox()
        with Conversation(self.rt, [mb.pid], on_crash=OnCrash.FAIL) as conv:

            async def participant() -> None:
                req = (await aio.receive(mb)).request()
                mb.reply(req.conversation, req.request_id, b"re:" + req.payload)

            async def main() -> Any:
                waiting = asyncio.ensure_future(aio.receive(conv))
                serving = asyncio.ensure_future(participant())
                await started(waiting)
                rid = conv.send(b"q")
                reply = await waiting
                await serving
                return rid, reply

            rid, reply = run(main())
            self.assertEqual((reply.request_id, reply.sender, reply.payload), (rid, mb.pid, b"re:q"))
        mb.close()

    def test_a_cancelled_reply_receive_leaves_the_reply_for_the_next(self) -> None:
        mb = self.rt.open_mailbox()
        with Conversation(self.rt, [mb.pid], on_crash=OnCrash.FAIL) as conv:

            async def main() -> bytes:
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(aio.receive(conv), 0.05)
                conv.send(b"q")
                req = (await aio.receive(mb)).request()
                mb.reply(req.conversation, req.request_id, b"kept")
                return (await aio.receive(conv)).payload

            self.assertEqual(run(main()), b"kept")
        mb.close()

    def test_crash_and_the_receive_report_a_participant_crash(self) -> None:
        mb = self.rt.open_mailbox()
        with Conversation(self.rt, [mb.pid], on_crash=OnCrash.FAIL) as conv:

            async def main() -> Any:
                crash = asyncio.ensure_future(aio.crash(conv))
                receive = asyncio.ensure_future(aio.receive(conv))
                await started(crash)
                await started(receive)
                mb.exit(ExitReason(ExitKind.ERROR, 3, "boom"))
                info = await crash
                with self.assertRaises(ParticipantCrashedError):
                    await receive
                again = await aio.crash(conv)  # the first crash, at once
                return info, again

            info, again = run(main())
            self.assertEqual((info.participant, info.reason.code), (mb.pid, 3))
            self.assertEqual(again.participant, mb.pid)
        mb.close()

    def test_close_ends_crash_waits_with_closed_error(self) -> None:
        mb = self.rt.open_mailbox()
        conv = Conversation(self.rt, [mb.pid], on_crash=OnCrash.ROUTE_TO_NEXT)

        async def main() -> None:
            task = asyncio.ensure_future(aio.crash(conv))
            await started(task)
            conv.close()
            with self.assertRaises(ClosedError):
                await task

        run(main())
        mb.close()

    def test_wrong_handle_types_are_refused(self) -> None:
        async def main() -> None:
            with self.assertRaises(TypeError):
                await aio.receive("mailbox")  # type: ignore[arg-type]
            with self.assertRaises(TypeError):
                await aio.crash(None)  # type: ignore[arg-type]
            with self.assertRaises(TypeError):
                await aio.join(None)  # type: ignore[arg-type]
            with self.assertRaises(TypeError):
                await aio.pull_batch(None)  # type: ignore[arg-type]

        run(main())


class CanalTests(unittest.TestCase):
    def test_async_for_yields_batches_until_close(self) -> None:
        with Store() as s, s.subscribe(16) as sub:

            async def main() -> List[int]:
                seqs: List[int] = []

                async def consume() -> None:
                    async for batch in aio.batches(sub):
                        seqs.extend(batch.sequences())

                task = asyncio.ensure_future(consume())
                await started(task)
                s.append("orders", b"1")
                s.append("orders", b"2")
                await started(task)  # hands out the first batch, waits again
                s.append("orders", b"3")
                sub.close()  # the buffered item first, then the loop ends
                await task
                return seqs

            self.assertEqual(run(main()), [1, 2, 3])

    def test_async_for_directly_over_a_canal(self) -> None:
        with Store() as s, s.cursor(start="begin") as c:
            s.append("orders", b"1")
            s.append("orders", b"2")

            async def main() -> List[int]:
                seqs: List[int] = []
                async for batch in c:
                    seqs.extend(batch.sequences())
                    if len(seqs) >= 2:
                        c.interrupt()
                return seqs

            self.assertEqual(run(main()), [1, 2])

    def test_pull_batch_waits_for_a_commit_and_interrupt_gives_an_empty_batch(self) -> None:
        with Store() as s, s.cursor(start="end") as c:

            async def main() -> Any:
                task = asyncio.ensure_future(aio.pull_batch(c))
                await started(task)
                s.append("orders", b"x")
                batch = await task
                seqs = batch.sequences()
                task = asyncio.ensure_future(aio.pull_batch(c))
                await started(task)
                c.interrupt()
                interrupted = await task
                return seqs, len(interrupted), interrupted.interrupted

            self.assertEqual(run(main()), ([1], 0, True))

    def test_a_cancelled_pull_leaves_the_items_in_the_canal(self) -> None:
        with Store() as s, s.subscribe(16) as sub:

            async def main() -> List[int]:
                task = asyncio.ensure_future(aio.pull_batch(sub))
                await started(task)
                s.append("orders", b"kept")
                task.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await task
                return (await aio.pull_batch(sub)).sequences()

            self.assertEqual(run(main()), [1])

    def test_join_reports_how_the_worker_ended(self) -> None:
        with Store() as s:
            seen: List[int] = []
            worker = s.subscribe(16).spawn_worker(lambda b: seen.extend(b.sequences()))

            async def main() -> WorkerExit:
                task = asyncio.ensure_future(aio.join(worker))
                await started(task)
                worker.stop()
                return await task

            self.assertEqual(run(main()), WorkerExit.STOPPED)
            worker.close()


class ConcurrencyTests(unittest.TestCase):
    def test_one_loop_waits_on_every_kind_of_handle_at_once(self) -> None:
        rt = Runtime(2)
        try:
            with Store() as s, s.subscribe(16) as sub, s.cursor(start="end") as cur:
                inbox = rt.open_mailbox()
                participant = rt.open_mailbox()
                conv = Conversation(rt, [participant.pid], on_crash=OnCrash.FAIL)
                worker = s.subscribe(16).spawn_worker(lambda b: None)

                async def note() -> bytes:
                    return bytes((await aio.receive(inbox)).data)

                async def serve() -> None:
                    req = (await aio.receive(participant)).request()
                    participant.reply(req.conversation, req.request_id, b"done")

                async def main() -> Any:
                    tasks = [
                        asyncio.ensure_future(aio.pull_batch(sub)),
                        asyncio.ensure_future(aio.pull_batch(cur)),
                        asyncio.ensure_future(note()),
                        asyncio.ensure_future(aio.receive(conv)),
                        asyncio.ensure_future(aio.join(worker)),
                        asyncio.ensure_future(serve()),
                    ]
                    for t in tasks:
                        await started(t)
                    s.append("orders", b"e")
                    rt.send(inbox.pid, b"note")
                    conv.send(b"q")
                    worker.stop()
                    sub_batch, cur_batch, text, reply, ended, _ = await asyncio.gather(*tasks)
                    return sub_batch.sequences(), cur_batch.sequences(), text, reply.payload, ended

                self.assertEqual(run(main()), ([1], [1], b"note", b"done", WorkerExit.STOPPED))
                worker.close()
                conv.close()
                participant.close()
                inbox.close()
        finally:
            rt.close()


if __name__ == "__main__":
    unittest.main()
