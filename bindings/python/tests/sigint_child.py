"""The child process of test_sigint.py: ``python sigint_child.py CALL``.

1. Sets up what CALL blocks on, then blocks in it for 1 s with a timeout and prints the CPU time
   the process used meanwhile: ``idle <cpu seconds> <wall seconds> <result>``.
2. Blocks in CALL without a timeout. Once the call is inside its wait loop (its first wait slice
   ended with nothing) it prints ``ready``; the parent then sends a real SIGINT.
3. Prints ``interrupted <time.monotonic()>`` where KeyboardInterrupt is caught (the parent
   compares it with the time it sent the signal: the same clock system-wide).
4. Uses the same handle again and prints ``again <what it got>``.

Anything else (the call returned, another exception) ends the child with a non-zero status."""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

import support  # noqa: F401  (the package from the source tree unless installed)

import transom
from transom import _wait

WAIT = 30.0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# Each setup returns (block(timeout) -> result, again() -> str, cleanup()).
Setup = Tuple[Callable[[Optional[float]], Any], Callable[[], str], Callable[[], None]]


def mailbox() -> Setup:
    rt = transom.Runtime(workers=1)
    mb = rt.open_mailbox()

    def again() -> str:
        rt.send(mb.pid, b"after")
        m = mb.receive(WAIT)
        assert m is not None
        return m.bytes().decode()

    return mb.receive, again, lambda: (mb.close(), rt.close())


def _conversation() -> Tuple[transom.Runtime, transom.Conversation]:
    rt = transom.Runtime(workers=1)

    def echo(self_pid: int, msg: transom.Message) -> Optional[int]:
        req = msg.request()
        if req.payload == b"crash":
            return 9  # the participant exits with ERROR, code 9: a crash
        rt.reply(self_pid, req.conversation, req.request_id, b"re:" + req.payload)
        return None

    return rt, transom.Conversation(rt, [echo], on_crash=transom.OnCrash.FAIL)


def conversation_receive() -> Setup:
    rt, conv = _conversation()

    def again() -> str:
        conv.send(b"after")
        r = conv.receive(WAIT)
        assert r is not None
        return r.payload.decode()

    return conv.receive, again, lambda: (conv.close(), rt.close())


def await_crash() -> Setup:
    rt, conv = _conversation()

    def again() -> str:
        conv.send(b"crash")
        info = conv.await_crash(WAIT)
        assert info is not None
        return f"{info.reason.kind.name}:{info.reason.code}"

    return conv.await_crash, again, lambda: (conv.close(), rt.close())


def _store_canal(subscription: bool) -> Tuple[transom.Store, transom.Canal]:
    store = transom.Store()
    canal = store.subscribe(64) if subscription else store.cursor(start="begin")
    return store, canal


def pull(subscription: bool) -> Setup:
    store, canal = _store_canal(subscription)

    def block(timeout: Optional[float]) -> Any:
        b = canal.pull_batch(16, timeout=timeout)
        return (len(b), b.timed_out)

    def again() -> str:
        store.append("s", b"after")
        b = canal.pull_batch(16, timeout=WAIT)
        return ",".join(p.decode() for p in b.payloads())

    return block, again, lambda: (canal.free(), store.free())


def iterate() -> Setup:
    store, canal = _store_canal(False)

    def block(timeout: Optional[float]) -> Any:
        if timeout is not None:
            return [len(b) for b in canal.batches(16, timeout=timeout)]
        for _ in canal:  # `for batch in canal`: no limit
            return "a batch"
        return "ended"

    def again() -> str:
        store.append("s", b"after")
        for b in canal:
            return ",".join(p.decode() for p in b.payloads())
        return "ended"

    return block, again, lambda: (canal.free(), store.free())


def _worker(callback: Callable[[transom.Batch], Any]) -> Tuple[transom.Store, transom.Worker]:
    store = transom.Store()
    worker = store.cursor(start="begin").spawn_worker(callback)
    return store, worker


def join() -> Setup:
    store, worker = _worker(lambda batch: None)

    def again() -> str:
        worker.stop()
        ex = worker.join(WAIT)
        assert ex is not None
        return ex.name

    return worker.join, again, lambda: (worker.close(), store.free())


def stop_and_join() -> Setup:
    # The callback is busy (waiting for `release`), so stop_and_join waits for it to return.
    entered, release = threading.Event(), threading.Event()

    def busy(batch: transom.Batch) -> None:
        entered.set()
        release.wait(WAIT)

    store, worker = _worker(busy)
    store.append("s", b"work")
    assert entered.wait(WAIT)

    def again() -> str:
        release.set()
        ex = worker.stop_and_join(WAIT)
        assert ex is not None
        return ex.name

    return worker.stop_and_join, again, lambda: (worker.close(), store.free())


CALLS: Dict[str, Callable[[], Setup]] = {
    "mailbox.receive": mailbox,
    "conversation.receive": conversation_receive,
    "conversation.await_crash": await_crash,
    "cursor.pull_batch": lambda: pull(False),
    "subscription.pull_batch": lambda: pull(True),
    "for batch in canal": iterate,
    "worker.join": join,
    "worker.stop_and_join": stop_and_join,
}


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    # Whatever the parent's disposition (a shell may start children with SIGINT ignored): the
    # default Python handler, which raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    block, again, cleanup = CALLS[sys.argv[1]]()

    c0, w0 = cpu(), time.monotonic()
    result = block(1.0)
    c1, w1 = cpu(), time.monotonic()
    say(f"idle {c1 - c0:.6f} {w1 - w0:.6f} {result!r}")

    def ready() -> None:
        _wait._on_idle_slice = None
        say("ready")

    _wait._on_idle_slice = ready
    try:
        result = block(None)
    except KeyboardInterrupt:
        t = time.monotonic()
        say(f"interrupted {t!r}")
    else:
        say(f"returned {result!r}")
        return 1
    finally:
        _wait._on_idle_slice = None
    say("again " + again())
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
