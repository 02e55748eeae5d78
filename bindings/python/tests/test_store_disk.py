"""The on-disk store's retention and statistics from Python: config keywords, truncate,
first_sequence, stats, read_sequence and TruncatedError below the first retained sequence."""

from __future__ import annotations

import tempfile
import unittest

from support import transom

from transom import Store, StoreStats, Sync


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

    def test_in_memory_truncate_is_unsupported(self) -> None:
        with Store() as s:
            s.append("a", b"x")
            self.assertEqual(s.stats().events, 1)
            self.assertEqual(s.stats().segments, 0)
            with self.assertRaises(transom.UnsupportedError):
                s.truncate(1)


if __name__ == "__main__":
    unittest.main()
