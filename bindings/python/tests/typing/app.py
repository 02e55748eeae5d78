"""A small user program over the public API, checked with ``mypy --strict`` by
tests/test_typing.py (and run by it, so it stays a working program, not only a typed one).

It touches every public family: Store (append, read, gates), canals (cursor, subscription,
iteration, ack), workers, Manager (HEAP, CONCURRENT, STATIC; views, reservations, the thread
hand-over), Runtime, Mailbox, Conversation (replies, crash callbacks, await_crash, state) and the
error hierarchy."""

from __future__ import annotations

import threading
from typing import List, Optional, Tuple

import transom


def store_and_canals() -> List[bytes]:
    seen: List[bytes] = []
    with transom.Store() as store:
        def gate(ev: transom.GateEvent) -> Optional[Tuple[int, str]]:
            return (1, "empty payloads are refused") if not ev.payload else None

        gate_id: int = store.add_gate(gate)
        receipt: transom.Receipt = store.append("orders-1", b"created", kind=1)
        assert receipt.sequence == 1
        try:
            store.append("orders-1", b"")
        except transom.RejectedError as e:
            assert e.status == transom.ERR_REJECTED
        store.remove_gate(gate_id)
        receipts: List[transom.Receipt] = store.append_batch(
            [transom.AppendEvent("orders-1", b"paid", kind=2), transom.AppendEvent("orders-2", b"created")]
        )
        assert [r.sequence for r in receipts] == [2, 3]
        events: List[transom.Event] = store.read("orders-1")
        assert [e.payload for e in events] == [b"created", b"paid"]

        with store.cursor(start="begin") as cursor:
            batch: transom.Batch
            for batch in cursor.batches(256, timeout=0):
                item: transom.Item
                for item in batch:
                    seen.append(bytes(item.payload))
                cursor.ack(batch.last_sequence)

        with store.subscribe(16, overflow=transom.Overflow.DROP_OLDEST) as sub:
            store.append("orders-3", b"live")
            live: transom.Batch = sub.pull_batch(8, timeout=5.0)
            seen.extend(live.payloads())

        worker_seen: List[int] = []
        done = threading.Event()

        def on_batch(b: transom.Batch) -> transom.WorkerAnswer:
            worker_seen.extend(b.sequences())
            if 4 in worker_seen:
                done.set()
                return transom.WorkerAnswer.STOP
            return transom.WorkerAnswer.CONTINUE

        canal: transom.Canal = store.cursor(start="begin")
        worker: transom.Worker = canal.spawn_worker(on_batch, max_batch=2)
        assert done.wait(5.0)
        ended: Optional[transom.WorkerExit] = worker.join(timeout=5.0)
        assert ended == transom.WorkerExit.CALLBACK_STOPPED
        worker.close()
        canal.free()
    return seen


def memory() -> int:
    total = 0
    heap: transom.Manager = transom.Manager.heap(capacity=8, slot_size=64)
    with heap:
        token: transom.Token = heap.store(b"hello", transom.Header(trace_id=7))
        view: transom.ReadView
        with heap.read(token) as view:
            header: transom.Header = view.header
            total += header.trace_id + len(view.payload)
        with heap.reserve(3) as res:
            res.payload[:] = b"abc"
            t2: transom.Token = res.commit()
        total += len(heap.take(t2))
        stats: transom.Stats = heap.stats()
        total += stats.in_use

        def elsewhere() -> None:
            heap.transfer_to_current_thread()   # the documented hand-over
            heap.remove(token)

        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        try:
            heap.available
        except transom.ThreadingError as e:
            assert e.owner != e.caller
        heap.transfer_to_current_thread()
        assert heap.available == 8

    with transom.Manager.concurrent(16, 32) as shared, transom.Manager.static(4, 32) as fixed:
        tokens = [shared.store(bytes([i])) for i in range(4)]
        total += sum(len(shared.take(t)) for t in tokens)
        total += len(fixed.take(fixed.store(b"static")))
    return total


def actors() -> str:
    with transom.Runtime(workers=2) as rt, rt.open_mailbox() as mb:
        def echo(self_pid: int, msg: transom.Message) -> Optional[int]:
            req: transom.Request = msg.request()
            if req.payload == b"boom":
                return 7  # ends the process with TRANSOM_EXIT_ERROR, code 7: a crash
            rt.reply(self_pid, req.conversation, req.request_id, b"re:" + req.payload)
            return None

        crashes: List[transom.CrashInfo] = []
        with transom.Conversation(rt, [echo], on_crash=transom.OnCrash.FAIL, timeout=30.0) as conv:
            cb_id: int = conv.add_crash_callback(crashes.append)
            conv.send(b"hello", to=0)
            reply: Optional[transom.Reply] = conv.receive(timeout=5.0)
            assert reply is not None
            conv.send(b"boom")
            info: Optional[transom.CrashInfo] = conv.await_crash(timeout=5.0)
            assert info is not None and info.reason.kind == transom.ExitKind.ERROR and info.reason.code == 7
            state: transom.ConversationState = conv.state()
            assert state.phase == transom.Phase.FAILED
            conv.remove_crash_callback(cb_id)

        rt.send(mb.pid, b"ping")
        msg: Optional[transom.Message] = mb.receive(timeout=5.0)
        assert msg is not None and msg.bytes() == b"ping"
        try:
            rt.send(0, b"nobody")
        except transom.NoProcError as e:
            assert e.status == transom.ERR_NOPROC and isinstance(e, transom.TransomError)
        return reply.payload.decode()


def main() -> None:
    assert transom.version() == transom.VERSION
    print(store_and_canals(), memory(), actors())
    print("typing app: ok")


if __name__ == "__main__":
    main()
