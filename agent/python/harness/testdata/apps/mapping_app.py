"""Logs one record of every shape the mapping must handle. Run with a stub
OpenTelemetry API on PYTHONPATH (testdata/otelapi) for the span cases."""

import logging
import sys

logging.basicConfig(level=1, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("mapping")
log.setLevel(1)


class Weird(object):
    def __str__(self):
        return "weird-object"


for lv in (5, 10, 11, 13, 15, 20, 22, 25, 30, 31, 35, 40, 43, 45, 50, 53, 55):
    log.log(lv, "level %d", lv, extra={"case": "level", "lv": lv})

log.warning("text %s %d", "args", 7, extra={"case": "args"})
log.info({"structured": True, "n": 3}, extra={"case": "dict-body"})
log.info(Weird(), extra={"case": "object-body"})
log.info("types", extra={
    "case": "types", "s": "str", "i": -42, "big": 2 ** 70, "f": 1.5, "t": True, "fz": False, "zero": 0,
    "empty": "", "b": b"\x00\x01", "l": [1, "two", 3.0], "d": {"k": "v", "n": 1}, "o": Weird(), "none": None,
})
log.info("unicode \u00e9\u4e2d\U0001F600 \udcff", extra={"case": "unicode"})
try:
    raise KeyError("missing-key")
except KeyError:
    log.exception("caught", extra={"case": "exception"})

trace = None
try:
    from opentelemetry import trace
except ImportError:
    pass
if trace is not None:
    with trace.use_span(trace.NonRecordingSpan(trace.SpanContext(
            trace_id=0x0102030405060708090a0b0c0d0e0f10, span_id=0x1112131415161718,
            is_remote=False, trace_flags=trace.TraceFlags(1)))):
        log.info("inside span", extra={"case": "span"})
log.info("outside span", extra={"case": "no-span"})
print("done", file=sys.stderr)
