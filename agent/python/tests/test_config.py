import unittest

import support  # noqa: F401
from autotel_agent import _config


def load(**env):
    return _config.load(env)


class EndpointTest(unittest.TestCase):
    def test_default(self):
        c = load()
        self.assertTrue(c.otlp)
        self.assertEqual(c.endpoint, "http://localhost:4318/v1/logs")
        self.assertEqual(c.protocol, "http/protobuf")
        self.assertEqual(c.problems, [])

    def test_generic_gets_path_appended(self):
        self.assertEqual(load(OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318").endpoint, "http://c:4318/v1/logs")
        self.assertEqual(load(OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318/").endpoint, "http://c:4318/v1/logs")
        self.assertEqual(load(OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318/base").endpoint, "http://c:4318/base/v1/logs")

    def test_signal_specific_is_verbatim_and_wins(self):
        c = load(OTEL_EXPORTER_OTLP_ENDPOINT="http://a:1", OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="https://b:2/custom")
        self.assertEqual(c.endpoint, "https://b:2/custom")

    def test_invalid_endpoint_turns_export_off(self):
        for bad in ("otel-collector:4318", "grpc://c:4317", "http://c:99999"):
            c = load(OTEL_EXPORTER_OTLP_ENDPOINT=bad)
            self.assertFalse(c.otlp, bad)
            self.assertTrue(c.problems, bad)


class ProtocolTest(unittest.TestCase):
    def test_json(self):
        self.assertEqual(load(OTEL_EXPORTER_OTLP_PROTOCOL="http/json").protocol, "http/json")
        self.assertEqual(load(OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
                              OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="http/protobuf").protocol, "http/protobuf")

    def test_grpc_is_refused_clearly(self):
        c = load(OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        self.assertFalse(c.otlp)
        self.assertIn("grpc", c.problems[0])

    def test_otlp_proto_http_means_protobuf(self):
        c = load(OTEL_LOGS_EXPORTER="otlp_proto_http", OTEL_EXPORTER_OTLP_PROTOCOL="http/json")
        self.assertTrue(c.otlp)
        self.assertEqual(c.protocol, "http/protobuf")


class ExportersTest(unittest.TestCase):
    def test_names(self):
        c = load(OTEL_LOGS_EXPORTER="console")
        self.assertEqual((c.otlp, c.console), (False, True))
        c = load(OTEL_LOGS_EXPORTER="otlp, console")
        self.assertEqual((c.otlp, c.console), (True, True))
        c = load(OTEL_LOGS_EXPORTER="none")
        self.assertEqual((c.otlp, c.console), (False, False))
        c = load(OTEL_LOGS_EXPORTER="zipkin")
        self.assertEqual((c.otlp, c.console), (False, False))
        self.assertIn("zipkin", c.problems[0])

    def test_disabled(self):
        self.assertTrue(load(OTEL_SDK_DISABLED="TRUE").disabled)
        self.assertFalse(load(OTEL_SDK_DISABLED="false").disabled)
        c = load(OTEL_SDK_DISABLED="yes")
        self.assertFalse(c.disabled)
        self.assertTrue(c.problems)


class ValuesTest(unittest.TestCase):
    def test_headers(self):
        c = load(OTEL_EXPORTER_OTLP_HEADERS="a=1, b = x%20y ,bad,=v", OTEL_EXPORTER_OTLP_LOGS_HEADERS="")
        self.assertEqual(c.headers, [("a", "1"), ("b", "x y")])
        self.assertEqual(len(c.problems), 2)
        self.assertEqual(load(OTEL_EXPORTER_OTLP_HEADERS="a=1", OTEL_EXPORTER_OTLP_LOGS_HEADERS="b=2").headers, [("b", "2")])

    def test_resource_attributes(self):
        c = load(OTEL_RESOURCE_ATTRIBUTES="k8s.pod.name=a,x=%2C%3D,k8s.pod.name=b,,junk")
        self.assertEqual(c.resource_attributes, [("x", ",="), ("k8s.pod.name", "b")])
        self.assertEqual(len(c.problems), 1)

    def test_numbers(self):
        c = load(OTEL_EXPORTER_OTLP_TIMEOUT="2500", OTEL_BLRP_SCHEDULE_DELAY="200", OTEL_BLRP_EXPORT_TIMEOUT="40000",
                 OTEL_BLRP_MAX_QUEUE_SIZE="100", OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="500")
        self.assertEqual((c.timeout, c.schedule_delay, c.export_timeout, c.max_queue_size), (2.5, 0.2, 40.0, 100))
        self.assertEqual(c.max_export_batch_size, 100, "batch size is capped at the queue size")
        self.assertEqual(c.exit_timeout, 10.0)
        self.assertEqual(len(c.problems), 1)

    def test_bad_numbers_fall_back(self):
        c = load(OTEL_BLRP_MAX_QUEUE_SIZE="lots", OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="0", OTEL_EXPORTER_OTLP_TIMEOUT="-1")
        self.assertEqual((c.max_queue_size, c.max_export_batch_size, c.timeout), (2048, 512, 10.0))
        self.assertEqual(len(c.problems), 3)

    def test_signal_specific_timeout_and_compression(self):
        c = load(OTEL_EXPORTER_OTLP_TIMEOUT="1000", OTEL_EXPORTER_OTLP_LOGS_TIMEOUT="3000",
                 OTEL_EXPORTER_OTLP_COMPRESSION="gzip")
        self.assertEqual((c.timeout, c.compression), (3.0, "gzip"))
        c = load(OTEL_EXPORTER_OTLP_COMPRESSION="zstd")
        self.assertIsNone(c.compression)
        self.assertTrue(c.problems)

    def test_limits(self):
        c = load(OTEL_ATTRIBUTE_COUNT_LIMIT="10", OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT="5")
        self.assertEqual((c.attribute_count_limit, c.attribute_value_length_limit), (10, 5))
        c = load(OTEL_ATTRIBUTE_COUNT_LIMIT="10", OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT="3")
        self.assertEqual(c.attribute_count_limit, 3)

    def test_switches(self):
        c = load(AUTOTEL_PYTHON_CAPTURE_STDOUT="true", AUTOTEL_PYTHON_CAPTURE_STDERR="True",
                 AUTOTEL_PYTHON_FLUSH_ON_SIGTERM="false", OTEL_PYTHON_LOG_CODE_ATTRIBUTES="false", OTEL_LOG_LEVEL="DEBUG")
        self.assertEqual((c.capture_stdout, c.capture_stderr, c.flush_on_sigterm, c.code_attributes, c.debug),
                         (True, True, False, False, True))
        d = load()
        self.assertEqual((d.capture_stdout, d.capture_stderr, d.flush_on_sigterm, d.code_attributes, d.debug),
                         (False, False, True, True, False))


if __name__ == "__main__":
    unittest.main()
