"""Bounded queue, batching export thread, retries, and exact accounting of
every record that does not reach the collector.

The app thread only appends a tuple to a deque (and, once per process,
starts the export thread); everything that can be slow or fail happens in
the export thread. The queue is bounded: when it is full new records are
dropped and counted, so a dead or slow collector costs the app a counter
increment, never a wait.
"""

import collections
import random
import threading
import time

from . import _otlp

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 5.0
JITTER = 0.2

# Why records were not exported; the keys of Processor.dropped.
QUEUE_FULL = "queue full"
EXPORT_FAILED = "export failed"
REJECTED = "rejected by the collector"
ENCODING = "not encodable"
AT_EXIT = "unsent at exit"
IN_FLIGHT = "in flight at exit, fate unknown"
REASONS = (QUEUE_FULL, EXPORT_FAILED, REJECTED, ENCODING, AT_EXIT, IN_FLIGHT)


class Processor(object):
    def __init__(self, config, resource_factory, otlp, console, diag, thread_local):
        self._config = config
        self._resource_factory = resource_factory
        self._otlp = otlp
        self._console = console
        self._diag = diag
        self._local = thread_local
        self._max_queue = config.max_queue_size
        self._batch_size = config.max_export_batch_size
        self._delay = config.schedule_delay
        self._limits = _otlp.Limits(config.attribute_count_limit, config.attribute_value_length_limit)
        self._reset()

    def _reset(self):
        self._queue = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._interrupt = threading.Event()
        self._thread = None
        self._waiters = []
        self._hard_deadline = None
        self._in_flight = 0
        self._closed = False
        self._unusable = None
        self.exported = 0
        self.dropped = dict((r, 0) for r in REASONS)
        self._reported_drops = 0
        self._failures = 0
        self.resource = self._resource_factory()

    # --- app thread -------------------------------------------------------

    def emit(self, item):
        q = self._queue
        if len(q) >= self._max_queue or self._closed:
            self._drop(QUEUE_FULL if not self._closed else AT_EXIT, 1)
            return
        q.append(item)
        if self._thread is None:
            self._start()
        elif len(q) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def _drop(self, reason, n):
        with self._lock:
            self.dropped[reason] += n

    def _start(self):
        with self._lock:
            if self._thread is not None:
                return
            if self._otlp is not None:
                try:
                    self._otlp.prepare()
                except Exception as e:  # e.g. unreadable CA file: report, keep the app running
                    self._unusable = "%s: %s" % (type(e).__name__, e)
            t = threading.Thread(target=self._run, name="autotel-log-export")
            t.daemon = True  # exit never waits for it; the exit flush is explicit and bounded
            self._thread = t
        try:
            t.start()
        except RuntimeError as e:  # interpreter shutting down: no new threads
            self._thread = False
            self._diag.report("thread", "cannot start the export thread (%s); records are exported at exit" % e)

    # --- control (any thread) ---------------------------------------------

    def flush(self, timeout, hard=False):
        """Exports what is queued now, waiting at most timeout seconds.
        With hard=True (process exit) no export attempt runs past the
        timeout. Returns True when everything queued was handled in time."""
        deadline = time.monotonic() + timeout
        t = self._thread
        if not t or not t.is_alive():
            # No export thread (never logged, or threads unavailable at
            # shutdown): export here, in the caller.
            self._drain(deadline if hard else None)
            return not self._queue
        done = threading.Event()
        with self._lock:
            self._waiters.append(done)
            if hard and (self._hard_deadline is None or deadline < self._hard_deadline):
                self._hard_deadline = deadline
        if hard:
            self._interrupt.set()  # a backoff wait re-checks against the deadline
        self._wake.set()
        # A little beyond the deadline: each attempt's socket timeout is
        # clipped to it, so the thread reports back shortly after.
        return done.wait(timeout + (1.0 if hard else 0.0))

    def shutdown(self, timeout):
        """Final flush at process exit. Afterwards every record emitted in
        this process is accounted for: exported or in `dropped`."""
        if self._closed:
            return True
        self._closed = True
        ok = self.flush(timeout, hard=True)
        with self._lock:
            left = len(self._queue)
            self._queue.clear()
            self.dropped[AT_EXIT] += left
            if not ok and self._in_flight:
                self.dropped[IN_FLIGHT] += self._in_flight
                self._in_flight = 0
        return ok

    def after_fork_child(self):
        """The child starts empty: records queued before the fork belong to
        the parent, which exports them itself (no duplicates), and the
        parent's lock, thread and connection are unusable here."""
        if self._otlp is not None:
            self._otlp.forget_connection()
        self._reset()

    def total_dropped(self):
        return sum(self.dropped.values())

    def summary(self):
        """The exit accounting line: every record this process emitted is
        either exported or counted here by reason."""
        parts = ["%d %s" % (self.dropped[r], r) for r in REASONS if self.dropped[r]]
        return "exported %d log records; not exported: %d%s" % (
            self.exported, self.total_dropped(), (" (" + ", ".join(parts) + ")") if parts else "")

    # --- export thread ----------------------------------------------------

    def _run(self):
        # Records and prints from this thread (http.client, encoding) must
        # never come back into the queue.
        self._local.busy = True
        while True:
            try:
                self._wake.wait(self._delay)
                self._wake.clear()
                self._drain(None)
                self._report_drops()
            except Exception as e:  # an agent bug must not kill the export thread
                self._diag.internal_error("export thread", e)
                time.sleep(self._delay)

    def _drain(self, deadline):
        """Exports everything queued, then releases the flush waiters that
        were registered before it started. deadline is a hard limit set by
        a caller exporting without the thread."""
        while True:
            with self._lock:
                waiters, self._waiters = self._waiters, []
            self._export_queued(deadline)
            self._interrupt.clear()
            for w in waiters:
                w.set()
            with self._lock:
                if not self._waiters:
                    self._hard_deadline = None
                    return

    def _current_hard_deadline(self, deadline):
        hd = self._hard_deadline
        if hd is not None and (deadline is None or hd < deadline):
            return hd
        return deadline

    def _export_queued(self, deadline):
        q = self._queue
        while q:
            hard = self._current_hard_deadline(deadline)
            if hard is not None and time.monotonic() >= hard:
                return  # shutdown() accounts for what is left
            batch = []
            try:
                for _ in range(self._batch_size):
                    batch.append(q.popleft())
            except IndexError:
                pass
            self._in_flight = len(batch)
            try:
                self._export(batch, deadline)
            finally:
                self._in_flight = 0

    def _export(self, batch, hard_deadline):
        resource = self.resource
        if self._console is not None:
            try:
                self._console.export(resource, batch)
            except Exception as e:  # a closed stdout must not stop OTLP export
                self._diag.report("console", "console exporter failed: %s: %s" % (type(e).__name__, e))
        if self._otlp is None:
            self.exported += len(batch)
            return
        if self._unusable is not None:
            self._drop(EXPORT_FAILED, len(batch))
            self._diag.report("unusable", "OTLP export is not possible: %s" % self._unusable)
            return
        try:
            body = self._otlp.encode(resource, batch, self._limits)
        except Exception as e:  # agent bug: lose this batch, keep the rest
            self._drop(ENCODING, len(batch))
            self._diag.internal_error("encoding", e)
            return
        deadline = time.monotonic() + self._config.export_timeout
        backoff = INITIAL_BACKOFF
        while True:
            hard = self._current_hard_deadline(hard_deadline)
            limit = deadline if hard is None else min(deadline, hard)
            remaining = limit - time.monotonic()
            if remaining <= 0:
                self._give_up(batch, "no time left to retry")
                return
            res = self._otlp.send(body, min(self._config.timeout, remaining))
            if res.ok:
                accepted = len(batch) - max(0, min(res.rejected, len(batch)))
                self.exported += accepted
                if res.rejected:
                    self._drop(REJECTED, len(batch) - accepted)
                    self._diag.report("partial", "the collector rejected %d of %d log records: %s"
                                      % (res.rejected, len(batch), res.message))
                if self._failures:
                    self._diag.report("recovered", "export works again after %d failed attempts" % self._failures)
                    self._failures = 0
                return
            self._failures += 1
            if not res.retryable:
                self._drop(REJECTED, len(batch))
                self._diag.report("rejected", "the collector refused %d log records, not retrying: %s"
                                  % (len(batch), res.message))
                return
            if res.retry_after is not None:
                wait = res.retry_after
            else:
                wait = backoff * random.uniform(1 - JITTER, 1 + JITTER)
                backoff = min(backoff * 2, MAX_BACKOFF)
            self._diag.report("retry", "export failed, retrying with backoff: %s" % res.message)
            if not self._sleep_until(time.monotonic() + wait, deadline, hard_deadline):
                self._give_up(batch, res.message)
                return

    def _sleep_until(self, wake_at, batch_deadline, hard_deadline):
        """Waits for the next attempt. A shutdown arriving meanwhile wakes
        the wait only to check whether the attempt still fits its deadline;
        a Retry-After or backoff is never cut short. False: it does not fit."""
        while True:
            hard = self._current_hard_deadline(hard_deadline)
            limit = batch_deadline if hard is None else min(batch_deadline, hard)
            if wake_at >= limit:
                return False
            now = time.monotonic()
            if now >= wake_at:
                return True
            self._interrupt.wait(wake_at - now)
            self._interrupt.clear()

    def _give_up(self, batch, why):
        self._drop(EXPORT_FAILED, len(batch))
        self._diag.report("give-up", "dropped %d log records after retrying: %s" % (len(batch), why))

    def _report_drops(self):
        total = self.total_dropped()
        if total != self._reported_drops and not self._closed:
            self._reported_drops = total
            parts = ["%d %s" % (self.dropped[r], r) for r in REASONS if self.dropped[r]]
            self._diag.report("drops", "log records not exported so far: %d (%s)" % (total, ", ".join(parts)))
