"""quickstart.py - transom from Python: a slot manager, a supervised conversation whose
participant crashes, and an event store read through a cursor.

    pip install bindings/python
    TRANSOM_LIBRARY=/path/to/libtransom.so python3 quickstart.py
    (without TRANSOM_LIBRARY the system's libtransom.so.0.2 is used, e.g. from the Debian package)
"""

import threading

import transom

# Slot memory: store, read through a zero-copy view, remove.
with transom.Manager.concurrent(capacity=64, slot_size=128) as manager:
    token = manager.store(b"hello from Python")
    with manager.read(token) as view:
        print("read back:", bytes(view.payload).decode())
    manager.remove(token)

# A conversation: one participant answers, the other crashes on b"boom"; ROUTE_TO_NEXT re-sends
# the crashed participant's request to the survivor.
crashed = threading.Event()
with transom.Runtime(workers=2) as rt:

    def participant(fragile):
        def handle(self_pid, msg):
            req = msg.request()
            if req is None:
                return 0
            if fragile and bytes(req.payload) == b"boom":
                return 7  # a non-zero status crashes this process
            rt.reply(self_pid, req.conversation, req.request_id, b"ok: " + bytes(req.payload))
            return 0

        return handle

    def on_crash(info):
        print("crash callback: participant", info.participant, "exit code", info.reason.code)
        crashed.set()

    with transom.Conversation(
        rt, [participant(False), participant(True)], on_crash=transom.OnCrash.ROUTE_TO_NEXT
    ) as conv:
        conv.add_crash_callback(on_crash)
        for question in (b"ping", b"boom"):
            conv.send(question)
            reply = conv.receive(timeout=5.0)
            print("reply to", question.decode() + ":", bytes(reply.payload).decode())
        assert crashed.wait(5.0)

# An in-memory event store and a cursor pulling batches.
with transom.Store() as store:
    for i in range(3):
        store.append("orders", f"order {i}".encode(), kind=1)
    with store.cursor() as cursor:
        batch = cursor.pull_batch(16, timeout=1.0)
        print("pulled", len(batch), "events:", [bytes(item.payload).decode() for item in batch])
