"""A stand-in for the OpenTelemetry API's opentelemetry.trace, reduced to
the names and behaviour the agent relies on (get_current_span(),
Span.get_span_context(), SpanContext.trace_id/span_id/trace_flags/is_valid)
and that apps use to activate a span (use_span, NonRecordingSpan). The real
package cannot be installed on the test machine (no Debian package); this
keeps the same shapes: ids are ints, flags an int subclass, the current
span lives in a contextvar and defaults to an invalid span."""

import contextlib
import contextvars

INVALID_TRACE_ID = 0
INVALID_SPAN_ID = 0


class TraceFlags(int):
    DEFAULT = 0x00
    SAMPLED = 0x01


class SpanContext(object):
    def __init__(self, trace_id, span_id, is_remote, trace_flags=TraceFlags(0)):
        self.trace_id = trace_id
        self.span_id = span_id
        self.is_remote = is_remote
        self.trace_flags = trace_flags

    @property
    def is_valid(self):
        return self.trace_id != INVALID_TRACE_ID and self.span_id != INVALID_SPAN_ID


class NonRecordingSpan(object):
    def __init__(self, context):
        self._context = context

    def get_span_context(self):
        return self._context

    def is_recording(self):
        return False


INVALID_SPAN = NonRecordingSpan(SpanContext(INVALID_TRACE_ID, INVALID_SPAN_ID, False))
_current = contextvars.ContextVar("current_span", default=INVALID_SPAN)


def get_current_span(context=None):
    return _current.get()


@contextlib.contextmanager
def use_span(span, end_on_exit=False):
    token = _current.set(span)
    try:
        yield span
    finally:
        _current.reset(token)
