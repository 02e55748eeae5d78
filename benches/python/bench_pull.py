#!/usr/bin/env python3
"""Items/s of ``pull_batch(256)`` from Python against the same loop in C, in one run.

Fills an in-memory store with N events (16-byte payloads), then drains it with a fresh cursor per
repetition. The variants run interleaved, in ``--rounds`` rounds of ``--reps`` repetitions each,
and each reports its best drain (so a burst of load from other processes hits every variant
alike and the best figures compare like with like):

- ``c``: a C program (embedded below, compiled with ``cc -O2`` against the same library) calling
  ``transom_canal_pull_batch(c, 0, items, 256, &n)`` in a loop — the C figure;
- ``ctypes-raw``: the same call through ``transom._ffi.lib`` (the ctypes floor, no wrapper);
- ``pull_batch``: ``canal.pull_batch(256)`` — the binding's call, batch not looked at;
- ``sequences()``: ``batch.sequences()`` per batch (one pass over the items in Python);
- ``per-item``: ``for item in batch: item.sequence; item.payload`` (an Item + a zero-copy
  memoryview per event).

Usage: ``TRANSOM_LIBRARY=target/release/libtransom.so python3 benches/python/bench_pull.py
[--events N] [--reps R] [--rounds K] [--no-c]``. The C part needs ``cc`` and ``include/transom.h``;
the binding is imported from ``bindings/python`` of the same tree.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

# benches/python/bench_pull.py -> the repository root; the binding is bindings/python/transom.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import transom  # noqa: E402
from transom import AppendEvent, Store, _ffi  # noqa: E402

BATCH = 256
PAYLOAD = 16

C_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "transom.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define CHECK(x) do { transom_status s_ = (x); if (s_ < 0) { \
    fprintf(stderr, "%s: %s\n", #x, transom_status_str(s_)); return 1; } } while (0)

int main(int argc, char **argv) {
    size_t events = (size_t)strtoull(argv[1], NULL, 10);
    int reps = atoi(argv[2]);
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    transom_store *store = NULL;
    CHECK(transom_store_open(&cfg, &store));
    enum { CHUNK = 1000 };
    static transom_append batch[CHUNK];
    static unsigned char payload[PAYLOAD_LEN];
    for (size_t i = 0; i < CHUNK; i++) {
        memset(&batch[i], 0, sizeof batch[i]);
        batch[i].stream = "bench";
        batch[i].stream_len = 5;
        batch[i].payload = payload;
        batch[i].payload_len = PAYLOAD_LEN;
    }
    for (size_t done = 0; done < events; done += CHUNK) {
        size_t k = events - done < CHUNK ? events - done : CHUNK;
        CHECK(transom_store_append_batch(store, batch, k, NULL));
    }
    static transom_item items[256];
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        transom_cursor_options o;
        memset(&o, 0, sizeof o);
        transom_canal *c = NULL;
        CHECK(transom_canal_open_cursor(store, &o, &c));
        size_t total = 0, n = 0;
        unsigned long long sum = 0;
        double t0 = now();
        for (;;) {
            transom_status st = transom_canal_pull_batch(c, 0, items, 256, &n);
            if (st != TRANSOM_OK) break;
            for (size_t i = 0; i < n; i++) sum += items[i].event.sequence;
            total += n;
        }
        double dt = now() - t0;
        if (total != events) { fprintf(stderr, "pulled %zu of %zu\n", total, events); return 1; }
        if (sum == 0) return 1;
        if (dt < best) best = dt;
        transom_canal_free(c);
    }
    printf("%.0f\n", (double)events / best);
    transom_store_free(store);
    return 0;
}
"""


def fill(store: Store, events: int) -> None:
    chunk = [AppendEvent("bench", bytes(PAYLOAD)) for _ in range(1000)]
    done = 0
    while done < events:
        k = min(1000, events - done)
        store.append_batch(chunk[:k])
        done += k


def drain(store: Store, events: int, body: Callable[[transom.Canal], int], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        with store.cursor() as c:
            t0 = time.perf_counter()
            total = body(c)
            dt = time.perf_counter() - t0
        assert total == events, f"pulled {total} of {events}"
        best = min(best, dt)
    return events / best


def raw_ctypes(c: transom.Canal) -> int:
    lib = _ffi.lib
    items = (_ffi.transom_item * BATCH)()
    n = ctypes.c_size_t(0)
    ref = ctypes.byref(n)
    ptr = c._ptr
    total = 0
    while lib.transom_canal_pull_batch(ptr, 0, items, BATCH, ref) == 0:
        total += n.value
    return total


def api_len(c: transom.Canal) -> int:
    return sum(len(b) for b in c.batches(BATCH, timeout=0))


def api_sequences(c: transom.Canal) -> int:
    total = 0
    for b in c.batches(BATCH, timeout=0):
        total += len(b.sequences())
    return total


def api_items(c: transom.Canal) -> int:
    total = 0
    for b in c.batches(BATCH, timeout=0):
        for item in b:
            item.sequence
            item.payload
            total += 1
    return total


def c_figure(events: int, reps: int) -> Optional[float]:
    header_dir = os.path.join(ROOT, "include")
    if not os.path.exists(os.path.join(header_dir, "transom.h")):
        print("  (no include/transom.h: C figure skipped)", file=sys.stderr)
        return None
    lib = os.path.abspath(_ffi.library_path)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "bench_pull.c")
        exe = os.path.join(tmp, "bench_pull")
        with open(src, "w") as f:
            f.write(C_SOURCE)
        # The binary needs the SONAME (libtransom.so.0.2) at run time: link it in tmp.
        os.symlink(lib, os.path.join(tmp, "libtransom.so.0.2"))
        cc = os.environ.get("CC", "cc")
        cmd = [cc, "-std=c99", "-D_POSIX_C_SOURCE=199309L", "-O2", f"-DPAYLOAD_LEN={PAYLOAD}",
               f"-I{header_dir}", src, lib, f"-Wl,-rpath,{tmp}", "-o", exe]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"  (C figure skipped: {e})", file=sys.stderr)
            return None
        out = subprocess.run([exe, str(events), str(reps)], check=True, capture_output=True, text=True)
        return float(out.stdout.strip())


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-c", action="store_true")
    args = ap.parse_args(argv)

    print(f"library: {_ffi.library_path}")
    print(f"python: {sys.version.split()[0]}, events: {args.events}, payload: {PAYLOAD} B, "
          f"batch: {BATCH}, best of {args.rounds} x {args.reps}")
    variants = [
        ("ctypes-raw", raw_ctypes),
        ("pull_batch", api_len),
        ("sequences()", api_sequences),
        ("per-item", api_items),
    ]
    results: Dict[str, float] = {}
    with Store() as store:
        fill(store, args.events)
        for _ in range(args.rounds):
            if not args.no_c:
                c = c_figure(args.events, args.reps)
                if c is not None:
                    results["c"] = max(results.get("c", 0.0), c)
            for name, body in variants:
                rate = drain(store, args.events, body, args.reps)
                results[name] = max(results.get(name, 0.0), rate)
    base = results.get("c")
    for name in ["c"] + [n for n, _ in variants]:
        if name not in results:
            continue
        rate = results[name]
        ratio = f"  ({rate / base:.2f} x C)" if base else ""
        print(f"{name:>12}: {rate / 1e6:8.2f} M items/s{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
