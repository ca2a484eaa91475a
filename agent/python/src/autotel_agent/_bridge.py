"""From `logging` to OTLP log records.

Why not a handler in root.handlers, as the OpenTelemetry SDK does: a
visible root handler changes the app's own logging. logging.basicConfig()
becomes a no-op, Flask and werkzeug see a handler and skip adding their
console handlers, libraries that check `root.handlers` stop configuring
output, and Python's lastResort (the stderr output of an app that never
configured logging) is no longer used. All of those lose the app's console
lines. So the agent wraps Logger.callHandlers instead: the app's handlers
run exactly as before, and afterwards every record that would have reached
a root-logger handler (its logger chain propagates up to root) is
exported, which is what a NOTSET handler on the root logger receives.

The mapping follows the OpenTelemetry Python LoggingHandler
(opentelemetry-instrumentation-logging): logger name as scope, levelno to
SeverityNumber, WARNING/CRITICAL as WARN/FATAL, getMessage() as body,
extra= fields as attributes, exception.* from exc_info, code.* attributes.
"""

import logging
import sys

from . import _otlp

# LogRecord fields that are not app data (the list the OpenTelemetry
# handler uses); everything else in a record's __dict__ came from extra=.
RESERVED = frozenset((
    "asctime", "args", "created", "exc_info", "exc_text", "filename", "funcName",
    "getMessage", "message", "levelname", "levelno", "lineno", "module", "msecs",
    "msg", "name", "pathname", "process", "processName", "relativeCreated",
    "stack_info", "thread", "threadName", "taskName",
))

# Fields every LogRecord has on this Python version: a record with no more
# than these (plus the message/asctime a Formatter adds) has no extra=.
_BASE_FIELDS = len(vars(logging.LogRecord("", 0, "", 0, "", (), None)))


def _severity_table():
    table = [0] * 54
    for lv in range(10, 54):
        base, step = divmod(lv, 10)
        # 10->DEBUG(5), 20->INFO(9), 30->WARN(13), 40->ERROR(17), 50->FATAL(21);
        # the next three levels of each decade map to the 2/3/4 steps, the
        # rest of the decade to step 4.
        table[lv] = 5 + (base - 1) * 4 + min(step, 3)
    return table


SEVERITY = _severity_table()
SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def severity_number(levelno):
    if levelno < 10:
        return 0
    if levelno > 53:
        return 24
    return SEVERITY[levelno]


def trace_context():
    """(trace_id, span_id, flags) of the active span when the app uses the
    OpenTelemetry API, else None. The module is looked up, never imported:
    an app that does not use OpenTelemetry pays one dict lookup."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    sc = trace.get_current_span().get_span_context()
    if not sc.is_valid:
        return None
    return sc.trace_id, sc.span_id, int(sc.trace_flags)


def exception_attributes(exc_info, attrs):
    exc_type, value, tb = exc_info
    if exc_type is not None:
        attrs.append(("exception.type", exc_type.__name__))
    if value is not None and value.args:
        attrs.append(("exception.message", _otlp.sanitize(str(value.args[0]))))
    if tb is not None:
        import traceback
        attrs.append(("exception.stacktrace", "".join(traceback.format_exception(exc_type, value, tb))))


_VALID_BODY = (str, bytes, bool, int, float, list, tuple, dict)


def map_record(record, code_attributes=True):
    """A logging.LogRecord as an item for the export queue."""
    msg = record.msg
    d = record.__dict__
    if record.args or type(msg) is str:
        # A Formatter that already ran for this record left the formatted
        # message behind: reuse it instead of formatting twice.
        if "message" in d:
            body = d["message"]
        else:
            try:
                body = record.getMessage()
            except Exception:  # bad %-args: the app's own handlers report it
                body = _otlp._safe_str(msg)
    elif isinstance(msg, _VALID_BODY):
        # logger.info({"k": "v"}): the body keeps its structure, as in the SDK.
        body = _otlp.sanitize(msg)
    else:
        body = _otlp._safe_str(msg)

    levelno = record.levelno
    level = record.levelname
    attrs = []
    extra = len(d) - _BASE_FIELDS - ("message" in d) - ("asctime" in d)
    if extra > 0:
        for k in d:
            if k not in RESERVED:
                attrs.append((k, _otlp.sanitize(d[k])))
    if code_attributes:
        attrs.append(("code.file.path", record.pathname))
        attrs.append(("code.function.name", record.funcName))
        attrs.append(("code.line.number", record.lineno))
    ei = record.exc_info
    if ei:
        exception_attributes(ei, attrs)

    tc = trace_context()
    # The bridge sees the record synchronously, as it is created: its
    # creation time is also when it was observed (and a second clock read
    # per record is measurable on slow clocks).
    t = int(record.created * 1e9)
    return (
        t,
        t,
        SEVERITY[levelno] if 10 <= levelno <= 53 else severity_number(levelno),
        SEVERITY_TEXT.get(level, level),
        record.name,
        body,
        tuple(attrs),
        tc[0] if tc else 0,
        tc[1] if tc else 0,
        tc[2] if tc else 0,
    )


class Bridge(object):
    """Installs and removes the Logger.callHandlers wrapper."""

    def __init__(self, emit, local, diag, code_attributes=True):
        self._emit = emit
        self._local = local
        self._diag = diag
        self._code = code_attributes
        self._original = None
        self.errors = 0

    def install(self):
        original = logging.Logger.callHandlers
        if getattr(original, "_autotel", None) is not None:
            raise RuntimeError("the autotel logging bridge is already installed")
        self._original = original
        emit = self._emit
        local = self._local
        diag = self._diag
        code = self._code

        def callHandlers(self, record):
            if local.busy:
                return original(self, record)
            # Does the record reach the root logger's handlers?
            c = self
            while c.propagate and c.parent is not None:
                c = c.parent
            if c.parent is not None:
                return original(self, record)
            # busy also keeps the console lines the app's handlers write for
            # this record out of output capture: the record is exported.
            local.busy = True
            try:
                original(self, record)
            finally:
                try:
                    emit(map_record(record, code))
                except Exception as e:  # the app's logging call must never fail because of us
                    diag.internal_error("log record mapping", e)
                local.busy = False

        callHandlers._autotel = self
        callHandlers.__doc__ = original.__doc__
        logging.Logger.callHandlers = callHandlers

    def uninstall(self):
        current = logging.Logger.callHandlers
        if getattr(current, "_autotel", None) is self:
            logging.Logger.callHandlers = self._original
