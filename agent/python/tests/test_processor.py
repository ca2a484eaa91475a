import io
import socket
import threading
import time
import unittest

import support
from autotel_agent import _config, _diag, _export, _processor
from autotel_agent import Resource, build_resource

P = _processor


class Local(object):
    busy = False


def config(**env):
    base = {"OTEL_BLRP_SCHEDULE_DELAY": "20"}
    base.update(env)
    return _config.load(base)


class FakeOTLP(object):
    """Scripted exporter: results is a list of Result (the last repeats);
    gate, when set, blocks every send until released."""

    def __init__(self, results=None, gate=None):
        self.results = list(results or [_export.Result(True)])
        self.gate = gate
        self.batches = []
        self.attempts = []
        self.forgot = False

    def prepare(self):
        pass

    def encode(self, resource, items, limits):
        return list(items)

    def send(self, body, timeout):
        self.attempts.append((time.monotonic(), len(body), timeout))
        if self.gate is not None:
            self.gate.wait(timeout)
            if not self.gate.is_set():
                return _export.Result(False, retryable=True, message="timed out")
        res = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if res.ok:
            self.batches.append(body)
        return res

    def forget_connection(self):
        self.forgot = True


def processor(cfg, otlp):
    diag = _diag.Diag(stream=io.StringIO())
    return P.Processor(cfg, lambda: build_resource(cfg), otlp, None, diag, Local()), diag


def items(n, start=0):
    return [(i, i, 9, "INFO", "s", "r%d" % i, [], 0, 0, 0) for i in range(start, start + n)]


class BatchingTest(unittest.TestCase):
    def test_batches_and_flush(self):
        otlp = FakeOTLP()
        p, _ = processor(config(OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="4", OTEL_BLRP_SCHEDULE_DELAY="60000"), otlp)
        for it in items(10):
            p.emit(it)
        self.assertTrue(p.flush(5))
        self.assertEqual([len(b) for b in otlp.batches], [4, 4, 2])
        self.assertEqual(p.exported, 10)
        self.assertTrue(p.shutdown(1))
        self.assertEqual(p.total_dropped(), 0)

    def test_full_batch_wakes_the_thread(self):
        otlp = FakeOTLP()
        p, _ = processor(config(OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="5", OTEL_BLRP_SCHEDULE_DELAY="60000"), otlp)
        for it in items(5):
            p.emit(it)
        deadline = time.monotonic() + 5
        while not otlp.batches and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual([len(b) for b in otlp.batches], [5], "a full batch goes out without waiting for the delay")
        p.shutdown(1)

    def test_thread_starts_lazily(self):
        p, _ = processor(config(), FakeOTLP())
        self.assertIsNone(p._thread)
        p.emit(items(1)[0])
        self.assertTrue(p._thread.daemon)
        p.shutdown(1)


class DropAccountingTest(unittest.TestCase):
    def test_queue_full_is_counted_exactly(self):
        gate = threading.Event()
        otlp = FakeOTLP(gate=gate)
        p, _ = processor(config(OTEL_BLRP_MAX_QUEUE_SIZE="10", OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="5"), otlp)
        threads = [threading.Thread(target=lambda: [p.emit(it) for it in items(500)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gate.set()
        self.assertTrue(p.shutdown(5))
        self.assertGreater(p.dropped[P.QUEUE_FULL], 0)
        self.assertEqual(p.exported + p.total_dropped(), 2000)
        self.assertEqual(p.exported, sum(len(b) for b in otlp.batches))

    def test_emit_after_shutdown_is_counted(self):
        p, _ = processor(config(), FakeOTLP())
        p.shutdown(1)
        p.emit(items(1)[0])
        self.assertEqual(p.dropped[P.AT_EXIT], 1)


class RetryTest(unittest.TestCase):
    def test_retryable_failures_then_success(self):
        fail = _export.Result(False, retryable=True, message="503")
        otlp = FakeOTLP([fail, fail, _export.Result(True)])
        p, diag = processor(config(), otlp)
        for it in items(3):
            p.emit(it)
        self.assertTrue(p.flush(10))
        self.assertEqual(p.exported, 3)
        self.assertEqual(len(otlp.attempts), 3)
        gaps = [b[0] - a[0] for a, b in zip(otlp.attempts, otlp.attempts[1:])]
        self.assertGreaterEqual(gaps[0], P.INITIAL_BACKOFF * (1 - P.JITTER) - 0.01)
        self.assertGreaterEqual(gaps[1], 2 * P.INITIAL_BACKOFF * (1 - P.JITTER) - 0.01, "backoff grows")
        self.assertIn("retrying", diag._stream.getvalue())
        self.assertIn("works again", diag._stream.getvalue())
        p.shutdown(1)

    def test_retry_after_is_respected(self):
        otlp = FakeOTLP([_export.Result(False, retryable=True, retry_after=1.2), _export.Result(True)])
        p, _ = processor(config(), otlp)
        p.emit(items(1)[0])
        self.assertTrue(p.flush(10))
        self.assertGreaterEqual(otlp.attempts[1][0] - otlp.attempts[0][0], 1.19)
        p.shutdown(1)

    def test_non_retryable_is_rejected(self):
        otlp = FakeOTLP([_export.Result(False, retryable=False, message="HTTP 400")])
        p, diag = processor(config(), otlp)
        for it in items(4):
            p.emit(it)
        p.flush(5)
        self.assertEqual((p.exported, p.dropped[P.REJECTED], len(otlp.attempts)), (0, 4, 1))
        self.assertIn("HTTP 400", diag._stream.getvalue())
        p.shutdown(1)

    def test_partial_success(self):
        otlp = FakeOTLP([_export.Result(True, rejected=1, message="bad one")])
        p, diag = processor(config(), otlp)
        for it in items(4):
            p.emit(it)
        p.flush(5)
        self.assertEqual((p.exported, p.dropped[P.REJECTED]), (3, 1))
        self.assertIn("bad one", diag._stream.getvalue())
        p.shutdown(1)

    def test_gives_up_after_the_export_timeout(self):
        otlp = FakeOTLP([_export.Result(False, retryable=True, message="down")])
        p, diag = processor(config(OTEL_BLRP_EXPORT_TIMEOUT="1200"), otlp)
        for it in items(2):
            p.emit(it)
        p.flush(10)
        self.assertEqual((p.exported, p.dropped[P.EXPORT_FAILED]), (0, 2))
        self.assertGreaterEqual(len(otlp.attempts), 2)
        self.assertIn("dropped 2 log records after retrying", diag._stream.getvalue())
        p.shutdown(1)


class ShutdownTest(unittest.TestCase):
    def test_bounded_when_the_collector_hangs(self):
        gate = threading.Event()  # never set: every send blocks until its timeout
        otlp = FakeOTLP(gate=gate)
        p, _ = processor(config(OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="2"), otlp)
        for it in items(7):
            p.emit(it)
        start = time.monotonic()
        ok = p.shutdown(1.0)
        took = time.monotonic() - start
        self.assertLess(took, 3.0, "exit waited %.1fs" % took)
        self.assertEqual(p.exported + p.total_dropped(), 7)
        self.assertTrue(ok or p.dropped[P.IN_FLIGHT] > 0)

    def test_without_a_thread_exports_in_the_caller(self):
        otlp = FakeOTLP()
        p, _ = processor(config(), otlp)
        p._thread = False  # as when threads cannot start at interpreter shutdown
        p._queue.extend(items(3))
        self.assertTrue(p.shutdown(1))
        self.assertEqual(p.exported, 3)

    def test_after_fork_child_starts_empty(self):
        otlp = FakeOTLP(gate=threading.Event())
        p, _ = processor(config(), otlp)
        for it in items(3):
            p.emit(it)
        old_resource = p.resource
        p.after_fork_child()
        self.assertTrue(otlp.forgot)
        self.assertEqual((len(p._queue), p.exported, p.total_dropped(), p._thread), (0, 0, 0, None))
        self.assertIsNot(p.resource, old_resource)
        otlp.gate.set()


class HTTPExporterTest(unittest.TestCase):
    def setUp(self):
        self.rcv = support.Receiver()

    def tearDown(self):
        self.rcv.close()

    def exporter(self, **env):
        e = {"OTEL_EXPORTER_OTLP_ENDPOINT": self.rcv.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
        e.update(env)
        cfg = _config.load(e)
        ex = _export.OTLPHTTPExporter(cfg, "t")
        ex.prepare()
        return ex, cfg

    def body(self, ex, n=2):
        cfg = _config.load({})
        return ex.encode(build_resource(cfg), items(n), _processor._otlp.NO_LIMITS)

    def test_success_keeps_one_connection(self):
        ex, _ = self.exporter(OTEL_EXPORTER_OTLP_HEADERS="x-a=1")
        for _ in range(3):
            self.assertTrue(ex.send(self.body(ex), 5).ok)
        self.assertEqual(len(self.rcv.records), 6)
        self.assertEqual(len(self.rcv.connections), 1, "keep-alive")
        headers = self.rcv.requests[0][1]
        self.assertEqual(headers["x-a"], "1")
        self.assertTrue(headers["User-Agent"].startswith("autotel-python/"))
        ex.close()

    def test_statuses(self):
        ex, _ = self.exporter()
        for status, retryable in ((429, True), (503, True), (500, True), (400, False), (404, False)):
            self.rcv.status = status
            self.rcv.retry_after = "7"
            res = ex.send(self.body(ex), 5)
            self.assertEqual((res.ok, res.retryable), (False, retryable), status)
            self.assertEqual(res.retry_after, 7.0)
        ex.close()

    def test_connection_refused_is_retryable(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cfg = _config.load({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % port})
        ex = _export.OTLPHTTPExporter(cfg, "t")
        ex.prepare()
        res = ex.send(b"", 2)
        self.assertFalse(res.ok)
        self.assertTrue(res.retryable)

    def test_gzip(self):
        import gzip
        ex, _ = self.exporter(OTEL_EXPORTER_OTLP_COMPRESSION="gzip")
        body = self.body(ex)
        self.assertEqual(gzip.decompress(body)[:1], b"{")
        self.rcv.status = 500  # keep the receiver from parsing it
        ex.send(body, 5)
        self.assertEqual(self.rcv.requests[-1][1]["Content-Encoding"], "gzip")
        ex.close()

    def test_retry_after_dates(self):
        from email.utils import formatdate
        now = time.time()
        self.assertAlmostEqual(_export.parse_retry_after(formatdate(now + 30, usegmt=True), now=now), 30, delta=1)
        self.assertEqual(_export.parse_retry_after("junk"), None)
        self.assertEqual(_export.parse_retry_after(""), None)


class ResourceTest(unittest.TestCase):
    def test_instance_id_per_process(self):
        cfg = _config.load({"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=ns.pod.c,service.name=from-attrs"})
        r = build_resource(cfg, pid=42, ppid=1)
        self.assertEqual(r.dict["service.instance.id"], "ns.pod.c-42")
        self.assertEqual(r.dict["service.name"], "from-attrs")
        self.assertEqual((r.dict["process.pid"], r.dict["telemetry.sdk.name"]), (42, "autotel"))
        cfg = _config.load({"OTEL_SERVICE_NAME": "svc", "OTEL_RESOURCE_ATTRIBUTES": "service.name=other"})
        r1, r2 = build_resource(cfg, pid=1), build_resource(cfg, pid=1)
        self.assertEqual(r1.dict["service.name"], "svc")
        self.assertNotEqual(r1.dict["service.instance.id"], r2.dict["service.instance.id"])
        self.assertTrue(_config.load({}).service_name is None)
        self.assertTrue(build_resource(_config.load({})).dict["service.name"].startswith("unknown_service:"))
        self.assertIsInstance(r1, Resource)


if __name__ == "__main__":
    unittest.main()
