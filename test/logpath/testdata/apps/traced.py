"""What an instrumented request handler does with an incoming W3C
traceparent when the app ships the OpenTelemetry API: the request's span
is active while the handler runs, so its log records (and print() lines the
agent captures) carry the trace. Without the API, or without the header,
nothing changes and the app is the seed's."""

import contextlib

try:
    from opentelemetry import trace
except ImportError:
    trace = None


def request_span(traceparent):
    if trace is None or not traceparent:
        return contextlib.nullcontext()
    _, trace_id, span_id, flags = traceparent.split("-")
    ctx = trace.SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                            trace_flags=trace.TraceFlags(int(flags, 16)))
    return trace.use_span(trace.NonRecordingSpan(ctx))
