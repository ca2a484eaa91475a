import json
import math
import struct
import unittest

import support  # noqa: F401 - puts src/ on sys.path
from autotel_agent import _otlp


def item(body="b", attrs=None, sev=9, text="INFO", scope="s", trace=(0, 0, 0)):
    return (1000, 2000, sev, text, scope, body, attrs or [], trace[0], trace[1], trace[2])


class VarintTest(unittest.TestCase):
    def test_known_encodings(self):
        cases = {0: b"\x00", 1: b"\x01", 127: b"\x7f", 128: b"\x80\x01", 300: b"\xac\x02",
                 (1 << 63) - 1: b"\xff" * 8 + b"\x7f", (1 << 64) - 1: b"\xff" * 9 + b"\x01"}
        for n, want in cases.items():
            self.assertEqual(_otlp.varint(n), want, n)
            self.assertEqual(_otlp._read_varint(want, 0), (n, len(want)))


class AnyValueTest(unittest.TestCase):
    def test_scalars(self):
        self.assertEqual(_otlp.any_value("hi"), b"\x0a\x02hi")
        self.assertEqual(_otlp.any_value(""), b"\x0a\x00", "an empty string is still a set oneof")
        self.assertEqual(_otlp.any_value(True), b"\x10\x01")
        self.assertEqual(_otlp.any_value(False), b"\x10\x00")
        self.assertEqual(_otlp.any_value(0), b"\x18\x00")
        self.assertEqual(_otlp.any_value(-1), b"\x18" + b"\xff" * 9 + b"\x01")
        self.assertEqual(_otlp.any_value(1.5), b"\x21" + struct.pack("<d", 1.5))
        self.assertEqual(_otlp.any_value(None), b"")
        self.assertEqual(_otlp.any_value(b"\x00"), b"\x3a\x01\x00")

    def test_int_beyond_int64_is_a_string(self):
        self.assertEqual(_otlp.any_value(1 << 64), _otlp.any_value(str(1 << 64)))

    def test_containers(self):
        self.assertEqual(_otlp.any_value((1,)), b"\x2a\x04\x0a\x02\x18\x01")
        kv = b"\x0a\x01a\x12\x02\x18\x01"
        self.assertEqual(_otlp.any_value({"a": 1}), b"\x32" + bytes([len(kv) + 2]) + b"\x0a" + bytes([len(kv)]) + kv)

    def test_surrogates_are_escaped_not_invalid_utf8(self):
        b = _otlp.utf8("a\udcffb")
        b.decode("utf-8")  # valid
        self.assertEqual(b, b"a\\udcffb")


class RecordTest(unittest.TestCase):
    def fields(self, data):
        return [(f, w) for f, w, _ in _otlp._fields(data)]

    def test_field_numbers_and_wire_types(self):
        rec = _otlp.encode_log_record(item(attrs=[("k", "v")], trace=(5, 6, 1)), _otlp.NO_LIMITS)
        self.assertEqual(self.fields(rec), [(1, 1), (11, 1), (2, 0), (3, 2), (5, 2), (6, 2), (8, 5), (9, 2), (10, 2)])
        got = dict((f, v) for f, _, v in _otlp._fields(rec))
        self.assertEqual(bytes(got[9]), (5).to_bytes(16, "big"))
        self.assertEqual(bytes(got[10]), (6).to_bytes(8, "big"))

    def test_no_trace_context_means_no_fields(self):
        rec = _otlp.encode_log_record(item(sev=0, text=""), _otlp.NO_LIMITS)
        self.assertEqual(self.fields(rec), [(1, 1), (11, 1), (5, 2)])

    def test_count_limit_sets_dropped(self):
        attrs = [("a%d" % i, i) for i in range(5)]
        rec = _otlp.encode_log_record(item(attrs=attrs), _otlp.Limits(count=2))
        got = [(f, v) for f, _, v in _otlp._fields(rec)]
        self.assertEqual(len([1 for f, _ in got if f == 6]), 2)
        self.assertIn((7, 3), got)

    def test_value_length_limit(self):
        rec = _otlp.encode_log_record(item(attrs=[("s", "abcdef"), ("l", ("abcdef", 1))]), _otlp.Limits(count=None, value_length=3))
        self.assertIn(b"abc", rec)
        self.assertNotIn(b"abcd", rec)

    def test_request_groups_by_scope(self):
        req = _otlp.encode_request(_otlp.encode_resource([("service.name", "x")]),
                                   [item(scope="a"), item(scope="b"), item(scope="a")], _otlp.NO_LIMITS)
        (f, w, rl), = list(_otlp._fields(req))
        self.assertEqual((f, w), (1, 2))
        scopes = [v for f, _, v in _otlp._fields(rl) if f == 2]
        self.assertEqual(len(scopes), 2)
        counts = sorted(len([1 for f, _, _ in _otlp._fields(s) if f == 2]) for s in scopes)
        self.assertEqual(counts, [1, 2])


class JSONTest(unittest.TestCase):
    def test_shape(self):
        body = _otlp.encode_request_json(_otlp.json_resource([("service.name", "x")]), [
            item(body={"k": [1, 2.5, float("nan")]}, attrs=[("i", 1 << 40), ("b", b"\x01"), ("n", None)], trace=(1, 2, 1)),
        ], _otlp.NO_LIMITS)
        doc = json.loads(body.decode("utf-8"))
        rec = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
        self.assertEqual(rec["timeUnixNano"], "1000")
        self.assertEqual(rec["traceId"], "%032x" % 1)
        self.assertEqual(rec["spanId"], "%016x" % 2)
        self.assertEqual(rec["flags"], 1)
        self.assertEqual(rec["attributes"][0], {"key": "i", "value": {"intValue": str(1 << 40)}})
        self.assertEqual(rec["attributes"][1]["value"], {"bytesValue": "AQ=="})
        self.assertEqual(rec["attributes"][2]["value"], {})
        vals = rec["body"]["kvlistValue"]["values"][0]["value"]["arrayValue"]["values"]
        self.assertEqual(vals, [{"intValue": "1"}, {"doubleValue": 2.5}, {"doubleValue": "NaN"}])

    def test_surrogates_match_protobuf_text(self):
        body = _otlp.encode_request_json({}, [item(body="a\udcff")], _otlp.NO_LIMITS)
        rec = json.loads(body.decode("utf-8"))["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
        self.assertEqual(rec["body"]["stringValue"], "a\\udcff")

    def test_infinities(self):
        self.assertEqual(_otlp._json_any(math.inf), {"doubleValue": "Infinity"})
        self.assertEqual(_otlp._json_any(-math.inf), {"doubleValue": "-Infinity"})


class SanitizeTest(unittest.TestCase):
    def test_types(self):
        import enum

        class Color(enum.IntEnum):
            RED = 1

        class S(str):
            pass

        class Boom(object):
            def __str__(self):
                raise RuntimeError("no")

        self.assertIs(type(_otlp.sanitize(Color.RED)), int)
        self.assertIs(type(_otlp.sanitize(S("x"))), str)
        self.assertEqual(_otlp.sanitize(bytearray(b"ab")), b"ab")
        self.assertEqual(_otlp.sanitize([1, (2,)]), (1, (2,)))
        self.assertEqual(_otlp.sanitize({1: object}), {"1": str(object)})
        self.assertEqual(_otlp.sanitize(Boom()), "<unprintable Boom>")
        deep = []
        cur = deep
        for _ in range(20):
            nxt = []
            cur.append(nxt)
            cur = nxt
        _otlp.any_value(_otlp.sanitize(deep))  # bounded depth, encodable


class PartialSuccessTest(unittest.TestCase):
    def test_proto(self):
        inner = b"\x08\x03\x12\x02no"
        self.assertEqual(_otlp.decode_partial_success_proto(b"\x0a" + bytes([len(inner)]) + inner), (3, "no"))
        self.assertEqual(_otlp.decode_partial_success_proto(b""), (0, ""))

    def test_json(self):
        self.assertEqual(_otlp.decode_partial_success_json(b'{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"x"}}'), (2, "x"))
        self.assertEqual(_otlp.decode_partial_success_json(b"{}"), (0, ""))


if __name__ == "__main__":
    unittest.main()
