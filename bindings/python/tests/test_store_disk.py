"""The on-disk store's retention and statistics from Python: config keywords, truncate,
first_sequence, stats, read_sequence and TruncatedError below the first retained sequence; a
cursor below the first retained sequence gets one gap item for the removed range (pull, for,
async for, a named checkpoint, a worker), never a silent skip."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import unittest
from typing import List, Tuple

from support import WAIT, transom

from transom import Store, StoreStats, Sync, WorkerExit


class StoreDiskTests(unittest.TestCase):
    def test_truncate_first_sequence_stats_and_truncated_reads(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            with Store(d, segment_size=4096, index_flush_events=16) as s:
                first = s.append("r", b"payload!", kind=1)
                for _ in range(399):
                    s.append("r", b"payload!", kind=1)
                st = s.stats()
                self.assertIsInstance(st, StoreStats)
                self.assertEqual((st.events, st.last_sequence, st.first_sequence), (400, 400, 1))
                self.assertGreater(st.segments, 2)
                self.assertGreater(st.bytes_on_disk, 400 * 8)
                self.assertEqual(s.first_sequence, 1)
                self.assertEqual([e.sequence for e in s.read_sequence()], list(range(1, 401)))
                self.assertEqual([e.sequence for e in s.read_sequence(398)], [398, 399, 400])
                self.assertEqual(len(s.read_sequence(1, limit=10)), 10)
                kept = s.truncate(200)
                self.assertTrue(1 < kept <= 200)
                self.assertEqual(s.first_sequence, kept)
                self.assertEqual(s.stats().first_sequence, kept)
                with self.assertRaises(transom.TruncatedError) as cm:
                    s.read_sequence(1)
                self.assertEqual(cm.exception.status, transom.ERR_TRUNCATED)
                self.assertEqual(cm.exception.value, kept)
                with self.assertRaises(transom.TruncatedError):
                    s.get(first.id)
                with self.assertRaises(transom.TruncatedError):
                    s.read("r", 1)
                self.assertEqual(s.read_sequence(0)[0].sequence, kept)
                self.assertEqual(s.append("r", b"next").stream_version, 401)
            with Store(d, segment_size=4096) as s:
                self.assertEqual(s.first_sequence, kept)
                self.assertEqual(s.stats().frames_scanned_at_open, 0)

    def test_retention_keywords_bound_the_log(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            with Store(d, sync=Sync.NEVER, segment_size=4096, retention_bytes=3 * 4096, retention_age=3600.0) as s:
                for _ in range(2000):
                    s.append("r", b"payload!")
                st = s.stats()
                self.assertGreater(st.first_sequence, 1)
                self.assertLessEqual(st.bytes_on_disk, 5 * 4096)
        with self.assertRaises(ValueError):
            Store(retention_age=-1.0)
        with self.assertRaises(TypeError):
            Store(retention_age="1h")  # type: ignore[arg-type]

    def _truncated_store(self, d: str) -> Tuple[Store, int]:
        """400 events (payload = the sequence as text) in 4 KiB segments, a named cursor "proj"
        checkpointed at 10, then everything below 200 truncated: (store, first retained)."""
        s = Store(d, sync=Sync.NEVER, segment_size=4096)
        for i in range(1, 401):
            s.append("g", str(i).encode())
        with s.cursor(name="proj") as c:
            b = c.pull_batch(10, timeout=0)
            self.assertEqual(b.sequences(), list(range(1, 11)))
            c.ack(b.last_sequence)
            c.checkpoint()
        first = s.truncate(200)
        self.assertTrue(11 < first <= 200)
        return s, first

    def test_cursors_below_the_first_retained_sequence_get_a_gap_item(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            s, first = self._truncated_store(d)
            with s:
                # pull_batch: the gap alone in a batch of one; it counts as delivered.
                with s.cursor() as c:
                    b = c.pull_batch(1, timeout=0)
                    self.assertEqual(len(b), 1)
                    gap = b[0]
                    self.assertTrue(gap.is_gap)
                    self.assertEqual((gap.gap_from, gap.gap_to, gap.gap_count), (1, first - 1, first - 1))
                    self.assertEqual(b.sequences(), [])
                    self.assertEqual(b.last_sequence, first - 1)
                    c.ack(b.last_sequence)
                    b = c.pull_batch(1, timeout=0)
                    self.assertEqual((b[0].is_gap, b[0].sequence, b[0].payload_bytes()), (False, first, str(first).encode()))
                # Iteration: one gap, then every retained event in order.
                with s.cursor(start=5) as c:
                    gaps: List[Tuple[int, int]] = []
                    seqs: List[int] = []
                    for batch in c.batches(64, timeout=0):
                        gaps.extend((i.gap_from, i.gap_to) for i in batch if i.is_gap)
                        seqs.extend(batch.sequences())
                    self.assertEqual(gaps, [(5, first - 1)])
                    self.assertEqual(seqs, list(range(first, 401)))
                # The named cursor resumes after its checkpoint (10) with the gap {11, first - 1}.
                with s.cursor(name="proj") as c:
                    b = c.pull_batch(2, timeout=0)
                    self.assertEqual((b[0].is_gap, b[0].gap_from, b[0].gap_to), (True, 11, first - 1))
                    self.assertEqual(b[1].sequence, first)
                    c.ack(b.last_sequence)
                    c.checkpoint()
                with s.cursor(name="proj") as c:
                    b = c.pull_batch(1, timeout=0)
                    self.assertEqual((b[0].is_gap, b[0].sequence), (False, first + 1))

    def test_async_for_over_a_cursor_gets_the_gap(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            s, first = self._truncated_store(d)
            with s, s.cursor() as c:

                async def main() -> Tuple[List[Tuple[int, int]], List[int]]:
                    gaps: List[Tuple[int, int]] = []
                    seqs: List[int] = []
                    async for batch in c:
                        gaps.extend((i.gap_from, i.gap_to) for i in batch if i.is_gap)
                        seqs.extend(batch.sequences())
                        if seqs and seqs[-1] == 400:
                            c.interrupt()
                    return gaps, seqs

                async def bounded() -> Tuple[List[Tuple[int, int]], List[int]]:
                    return await asyncio.wait_for(main(), WAIT)

                gaps, seqs = asyncio.run(bounded())
                self.assertEqual(gaps, [(1, first - 1)])
                self.assertEqual(seqs, list(range(first, 401)))

    def test_a_worker_sees_the_gap(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            s, first = self._truncated_store(d)
            gaps: List[Tuple[int, int]] = []
            seqs: List[int] = []
            done = threading.Event()

            def handle(batch: transom.Batch) -> None:
                gaps.extend((i.gap_from, i.gap_to) for i in batch if i.is_gap)
                seqs.extend(batch.sequences())
                if seqs and seqs[-1] == 400:
                    done.set()

            with s, s.cursor(name="proj").spawn_worker(handle) as w:
                self.assertTrue(done.wait(WAIT))
                self.assertEqual(w.stop_and_join(WAIT), WorkerExit.STOPPED)
            self.assertEqual(gaps, [(11, first - 1)])
            self.assertEqual(seqs, list(range(first, 401)))
            # Its exit checkpoint is past the gap: the name resumes with nothing left.
            with Store(d, segment_size=4096) as s2, s2.cursor(name="proj") as c:
                self.assertEqual(len(c.pull_batch(10, timeout=0)), 0)

    def test_in_memory_truncate_is_unsupported(self) -> None:
        with Store() as s:
            s.append("a", b"x")
            self.assertEqual(s.stats().events, 1)
            self.assertEqual(s.stats().segments, 0)
            with self.assertRaises(transom.UnsupportedError):
                s.truncate(1)


if __name__ == "__main__":
    unittest.main()
