import io
import threading
import unittest

import support  # noqa: F401
from autotel_agent import _capture, _diag, _otlp

T = _otlp


class Local(threading.local):
    busy = False


class Fake(io.StringIO):
    def isatty(self):
        return True

    def fileno(self):
        return 42


class CaptureTest(unittest.TestCase):
    def setUp(self):
        self.items = []
        self.local = Local()
        self.diag = _diag.Diag(stream=io.StringIO())
        self.cap = _capture.Capture(self.items.append, self.local, self.diag, "stdout")
        self.raw = Fake()
        self.stream = _capture.CapturingStream(self.raw, self.cap, self.diag)

    def bodies(self):
        return [i[T.T_BODY] for i in self.items]

    def test_print_is_one_record_and_still_printed(self):
        print("a", "b", 3, file=self.stream)
        self.assertEqual(self.raw.getvalue(), "a b 3\n")
        self.assertEqual(self.bodies(), ["a b 3"])
        it = self.items[0]
        self.assertEqual((it[T.T_SEVERITY], it[T.T_SEVERITY_TEXT], it[T.T_SCOPE]), (0, "", "sys.stdout"))
        self.assertEqual(it[T.T_ATTRS], (("log.iostream", "stdout"),))

    def test_partial_writes_and_multiline(self):
        self.stream.write("par")
        self.stream.write("tial")
        self.assertEqual(self.items, [])
        self.stream.write("\n")
        self.stream.write("two\nlines\n")
        self.stream.writelines(["x", "y\n"])
        self.assertEqual(self.bodies(), ["partial", "two\nlines", "xy"])

    def test_empty_lines_are_not_records(self):
        print(file=self.stream)
        self.assertEqual(self.items, [])

    def test_pending_text_is_flushed_at_exit(self):
        self.stream.write("no newline")
        self.cap.flush_pending()
        self.assertEqual(self.bodies(), ["no newline"])
        self.cap.flush_pending()
        self.assertEqual(len(self.items), 1)

    def test_long_lines_are_cut(self):
        self.stream.write("x" * (_capture.MAX_PENDING + 10))
        self.assertEqual(len(self.items), 1)

    def test_busy_threads_are_not_captured(self):
        self.local.busy = True
        print("from a log handler or the export thread", file=self.stream)
        self.local.busy = False
        self.assertEqual(self.items, [])
        self.assertIn("export thread", self.raw.getvalue())

    def test_threads_do_not_mix(self):
        barrier = threading.Barrier(2)

        def writer(name):
            self.stream.write(name + "-1 ")
            barrier.wait()
            self.stream.write(name + "-2\n")

        ts = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(sorted(self.bodies()), ["a-1 a-2", "b-1 b-2"])

    def test_stream_behaves_like_the_original(self):
        self.assertTrue(self.stream.isatty())
        self.assertEqual(self.stream.fileno(), 42)
        self.stream.custom = 1
        self.assertEqual(self.raw.custom, 1)
        self.assertIs(self.stream._autotel_wrapped, self.raw)
        with self.stream as s:
            self.assertIs(s, self.stream)

    def test_agent_errors_do_not_break_print(self):
        def broken(item):
            raise RuntimeError("agent bug")

        cap = _capture.Capture(broken, self.local, self.diag, "stderr")
        stream = _capture.CapturingStream(self.raw, cap, self.diag)
        print("still printed", file=stream)
        self.assertEqual(self.raw.getvalue(), "still printed\n")
        self.assertEqual(self.diag.internal_errors, 1)

    def test_after_fork_forgets_pending(self):
        self.stream.write("half")
        self.cap.after_fork_child()
        self.stream.write(" line\n")
        self.assertEqual(self.bodies(), [" line"])


if __name__ == "__main__":
    unittest.main()
