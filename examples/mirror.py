"""mirror.py - mirror an event store to a NATS JetStream stream from Python.

    nats-server -js &                       # Debian: apt-get install nats-server
    pip install bindings/python
    python3 mirror.py [nats://127.0.0.1:4222]   # or TRANSOM_NATS_URL

Appends 1000 events to an on-disk store while a mirror ships them, in sequence order and
exactly once, to the JetStream stream ORDERS_<pid> (created by the mirror). With no server
reachable the mirror retries in the background and the store keeps working.
"""

import os
import sys
import tempfile

import transom

url = (sys.argv[1:] or [os.environ.get("TRANSOM_NATS_URL") or "nats://127.0.0.1:4222"])[0]

with tempfile.TemporaryDirectory() as d, transom.Store(d, sync=transom.Sync.ALWAYS) as store:
    # One stream per store (a different store on the same stream stops with DivergedError) and
    # one subject prefix per stream of a server.
    with transom.Mirror.start(store, url, f"ORDERS_{os.getpid()}", subject_prefix=f"orders{os.getpid()}") as mirror:
        last = 0
        for i in range(1000):
            last = store.append("orders.eu", f"order {i}".encode(), kind=1).sequence
        shipped = mirror.wait(last, timeout=3.0)
        st = mirror.status()
        print(f"mirror {st.state.name}: shipped {st.shipped} of {st.store_head} (lag {st.lag})")
        if not shipped and st.state != transom.MirrorState.RUNNING:
            print(f"no JetStream server reachable at {url} ({st.error_message or 'still connecting'}):")
            print("start one with: nats-server -js")
        mirror.close()  # awaits the acknowledgements in flight
