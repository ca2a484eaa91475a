"""The agent's own messages. They go straight to the process's real stderr,
never through `logging` (that would feed the agent its own output), and
each kind is rate-limited so a dead collector cannot flood the app's log.
"""

import os
import sys
import threading
import time

PREFIX = "autotel-python"
INTERVAL = 60.0


class Diag(object):
    def __init__(self, debug=False, stream=None, interval=INTERVAL):
        self.debug_enabled = debug
        self._stream = stream
        self._interval = interval
        self._lock = threading.Lock()
        self._last = {}
        self._suppressed = {}
        self.internal_errors = 0

    def _out(self):
        if self._stream is not None:
            return self._stream
        # The capture wrapper, if any, exposes the stream it wraps; writing
        # there keeps these lines out of the captured records.
        s = sys.stderr
        return getattr(s, "_autotel_wrapped", None) or s or sys.__stderr__

    def write(self, msg):
        try:
            out = self._out()
            if out is not None:
                out.write("%s: pid %d: %s\n" % (PREFIX, os.getpid(), msg))
                out.flush()
        except Exception:  # stderr closed or broken: nothing left to report to
            pass

    def report(self, key, msg):
        """At most one message per key and interval; the next one says how
        many were suppressed in between."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            n = self._suppressed.pop(key, 0)
        if n:
            msg = "%s (%d similar messages suppressed)" % (msg, n)
        self.write(msg)

    def internal_error(self, where, exc):
        """An agent bug caught at the app boundary: counted and reported,
        never raised into the app."""
        self.internal_errors += 1
        self.report("internal:" + where, "internal error in %s: %s: %s (the app is unaffected; %d so far)"
                    % (where, type(exc).__name__, exc, self.internal_errors))

    def debug(self, msg):
        if self.debug_enabled:
            self.write(msg)

    def after_fork(self):
        self._lock = threading.Lock()
