"""print() and other writes to sys.stdout / sys.stderr as log records.

sys.stdout and sys.stderr are replaced by a thin wrapper that writes
through to the original stream first (the console output is unchanged) and
then buffers the text per thread. A record is emitted each time a write
ends with a newline, so one print() call, or one multi-line message a
logging handler writes at once (a traceback), is one record.

Not captured, by design: writes made while the agent's logging bridge is
exporting the same record (they would be duplicates), writes from the
agent's export thread, writes to the underlying binary buffer
(sys.stdout.buffer) or to file descriptors 1/2 directly (os.write, C code,
child processes).
"""

import threading
import time

from . import _bridge

MAX_PENDING = 64 * 1024


class _Pending(threading.local):
    parts = None
    size = 0


class Capture(object):
    def __init__(self, emit, local, diag, stream_name):
        self._emit = emit
        self._local = local
        self._diag = diag
        self.scope = "sys." + stream_name
        self._attrs = (("log.iostream", stream_name),)
        self._reset()

    def _reset(self):
        self._pending = _Pending()
        self._lock = threading.Lock()
        # Per-thread buffers, reachable from the exit flush.
        self._buffers = {}

    def after_fork_child(self):
        # Text another thread of the parent left unfinished stays the
        # parent's; the child starts with empty buffers.
        self._reset()

    def feed(self, text):
        local = self._local
        if local.busy or type(text) is not str or not text:
            return
        p = self._pending
        parts = p.parts
        if parts is None:
            parts = p.parts = []
            with self._lock:
                self._buffers[threading.get_ident()] = parts
        parts.append(text)
        p.size += len(text)
        if text[-1] == "\n" or p.size >= MAX_PENDING:
            line = "".join(parts)
            del parts[:]
            p.size = 0
            self._line(line)

    def _line(self, line):
        if line[-1:] == "\n":
            line = line[:-1]
        if not line:
            return  # print() of an empty line
        tc = _bridge.trace_context()
        now = time.time_ns()
        self._emit((now, now, 0, "", self.scope, line, self._attrs,
                    tc[0] if tc else 0, tc[1] if tc else 0, tc[2] if tc else 0))

    def flush_pending(self):
        """At exit: text without a final newline becomes a record too."""
        with self._lock:
            buffers = list(self._buffers.values())
            self._buffers.clear()
        for parts in buffers:
            if parts:
                line = "".join(parts)
                del parts[:]
                self._line(line)


class CapturingStream(object):
    """Stands in for sys.stdout/sys.stderr. Everything but write() and
    writelines() is the wrapped stream's own attribute, so isatty(),
    fileno(), encoding, buffer, reconfigure() ... behave as before."""

    def __init__(self, stream, capture, diag):
        d = self.__dict__
        d["_autotel_wrapped"] = stream
        d["_autotel_capture"] = capture
        d["_autotel_diag"] = diag

    def write(self, s):
        n = self._autotel_wrapped.write(s)
        try:
            self._autotel_capture.feed(s)
        except Exception as e:  # print() must never fail because of us
            self._autotel_diag.internal_error("output capture", e)
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._autotel_wrapped, name)

    def __setattr__(self, name, value):
        setattr(self._autotel_wrapped, name, value)

    def __iter__(self):
        return iter(self._autotel_wrapped)

    def __enter__(self):
        self._autotel_wrapped.__enter__()
        return self

    def __exit__(self, *exc):
        return self._autotel_wrapped.__exit__(*exc)

    def __repr__(self):
        return repr(self._autotel_wrapped)
