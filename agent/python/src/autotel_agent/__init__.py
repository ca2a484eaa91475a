"""autotel's Python log agent: exports `logging` records (and, when asked,
print()/stdout/stderr lines) as OTLP logs, with the Python standard
library only.

It is started by the sitecustomize.py that the autotel operator puts first
on PYTHONPATH (opentelemetry/instrumentation/auto_instrumentation/, the
folder upstream's injection already points at), so every Python process of
the container runs it before the app. See README.md for the variables.
"""

import atexit
import os
import sys
import threading

from . import _config, _diag, _otlp
from ._bridge import Bridge
from ._capture import Capture, CapturingStream
from ._export import ConsoleExporter, OTLPHTTPExporter
from ._processor import Processor

__version__ = "0.1.0"
SDK_NAME = "autotel"

__all__ = ["start", "get_agent", "flush", "Agent", "__version__"]


class _Local(threading.local):
    # True while this thread runs agent code (or is the export thread):
    # logging and output capture ignore it, which breaks every loop.
    busy = False


_local = _Local()
_agent = None
_hooks_registered = False


class Resource(object):
    """One process's resource, encoded once for every batch."""

    def __init__(self, attrs):
        self.attrs = attrs
        self.dict = dict(attrs)
        self.proto = _otlp.encode_resource(attrs)
        self.json = _otlp.json_resource(attrs)

    @property
    def instance_id(self):
        return self.dict.get("service.instance.id")


def build_resource(config, pid=None, ppid=None):
    """service.name, OTEL_RESOURCE_ATTRIBUTES, telemetry.sdk.*, process.*,
    and a service.instance.id that is unique per process.

    Every process exports with its own service.instance.id: the webhook's
    value (<namespace>.<pod>.<container>) with "-<pid>" appended, so the
    workers of one pod stay apart and still share the pod's prefix. Without
    a configured id the process gets a random UUID, as the OpenTelemetry
    SDK does. Forked children compute theirs again after the fork."""
    pid = os.getpid() if pid is None else pid
    ppid = os.getppid() if ppid is None else ppid
    attrs = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": SDK_NAME,
        "telemetry.sdk.version": __version__,
    }
    for k, v in config.resource_attributes:
        attrs[k] = v
    if config.service_name:
        attrs["service.name"] = config.service_name
    elif not attrs.get("service.name"):
        attrs["service.name"] = _config.default_service_name()
    base = attrs.get("service.instance.id")
    if base:
        attrs["service.instance.id"] = "%s-%d" % (base, pid)
    else:
        import uuid  # only processes without a configured id pay for it
        attrs["service.instance.id"] = str(uuid.uuid4())
    attrs["process.pid"] = pid
    attrs["process.parent_pid"] = ppid
    attrs["process.runtime.name"] = sys.implementation.name
    attrs["process.runtime.version"] = "%d.%d.%d" % sys.version_info[:3]
    return Resource(list(attrs.items()))


def _real_stdout():
    s = sys.stdout
    return getattr(s, "_autotel_wrapped", None) or s


class Agent(object):
    def __init__(self, config, diag=None):
        self.config = config
        self.diag = diag or _diag.Diag(debug=config.debug)
        otlp = OTLPHTTPExporter(config, __version__) if config.otlp else None
        console = ConsoleExporter(_real_stdout) if config.console else None
        self.processor = Processor(config, lambda: build_resource(config), otlp, console, self.diag, _local)
        self.bridge = Bridge(self.processor.emit, _local, self.diag, config.code_attributes)
        self.captures = []
        self._streams = []
        self._exit_deadline = None
        self._reported = None
        self.started = False

    def start(self):
        self.bridge.install()
        for name, enabled in (("stdout", self.config.capture_stdout), ("stderr", self.config.capture_stderr)):
            stream = getattr(sys, name)
            if not enabled or stream is None:
                continue
            cap = Capture(self.processor.emit, _local, self.diag, name)
            self.captures.append(cap)
            self._streams.append((name, stream))
            setattr(sys, name, CapturingStream(stream, cap, self.diag))
        self.started = True
        self.diag.debug("started: %s, service.instance.id %s, capture stdout=%s stderr=%s" % (
            ("OTLP %s to %s" % (self.config.protocol, self.config.endpoint)) if self.config.otlp else "no OTLP export",
            self.processor.resource.instance_id, self.config.capture_stdout, self.config.capture_stderr))

    def stop(self, timeout=None):
        """Undoes start() and exports what is left (tests, benchmarks)."""
        self.started = False
        self.bridge.uninstall()
        for name, stream in self._streams:
            if getattr(getattr(sys, name), "_autotel_wrapped", None) is stream:
                setattr(sys, name, stream)
        self._streams = []
        return self.processor.shutdown(self.config.exit_timeout if timeout is None else timeout)

    def flush(self, timeout=5.0):
        for cap in self.captures:
            cap.flush_pending()
        return self.processor.flush(timeout)

    def after_fork_child(self):
        self.diag.after_fork()
        for cap in self.captures:
            cap.after_fork_child()
        self.processor.after_fork_child()
        self._exit_deadline = None
        self._reported = None
        self.diag.debug("forked: service.instance.id %s" % self.processor.resource.instance_id)

    def exit_flush(self, final):
        """Process exit, in two steps sharing one time budget: when
        threads are being shut down (the last moment a multiprocessing
        child passes through before os._exit) and at atexit (catches what
        the app logs in its own atexit handlers)."""
        import time
        now = time.monotonic()
        if self._exit_deadline is None:
            self._exit_deadline = now + self.config.exit_timeout
        # Records that arrive after the budget is spent still get a short try.
        remaining = max(self._exit_deadline - now, 0.5)
        for cap in self.captures:
            cap.flush_pending()
        if final:
            self.processor.shutdown(remaining)
        else:
            self.processor.flush(remaining, hard=True)
        total = (self.processor.exported, self.processor.total_dropped())
        if total != self._reported and (total[1] or self.config.debug):
            self._reported = total
            self.diag.write(self.processor.summary())


def _official_sdk_present():
    try:
        import importlib.util
        return importlib.util.find_spec("opentelemetry.sdk") is not None
    except (ImportError, ValueError):
        return False


def _after_fork_child():
    agent = _agent
    if agent is None:
        return
    try:
        agent.after_fork_child()
    except Exception as e:  # the child process must come up regardless
        agent.diag.internal_error("fork handling", e)


def _exit_flush(final):
    agent = _agent
    if agent is not None and agent.started:
        try:
            agent.exit_flush(final=final)
        except Exception as e:  # exit must proceed
            agent.diag.internal_error("exit flush", e)


def _exit_threads():
    _exit_flush(False)


def _exit_final():
    _exit_flush(True)


def _on_sigterm(signum, frame):
    # Dying by SIGTERM skips atexit; export what is queued, then die by the
    # same signal so the exit status is what it would have been.
    import signal
    if os.getpid() == 1:
        # As PID 1 (a container's only process) the kernel ignores a
        # SIGTERM with the default action: the app would keep serving
        # until SIGKILL. Keep exporting then; only push out the queue now.
        agent = _agent
        if agent is not None and agent.started:
            try:
                agent.exit_flush(final=False)
            except Exception as e:  # the app must go on
                agent.diag.internal_error("sigterm flush", e)
        return
    _exit_final()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _register_hooks(config):
    global _hooks_registered
    if _hooks_registered:
        return
    _hooks_registered = True
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_child)
    # The export must also happen where a process ends without atexit:
    # multiprocessing children leave through threading._shutdown() and then
    # os._exit(). Python 3.9+ has a hook there; on 3.8 the function itself
    # is wrapped.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(_exit_threads)
    elif hasattr(threading, "_shutdown"):
        original_shutdown = threading._shutdown

        def _shutdown():
            _exit_threads()
            original_shutdown()

        threading._shutdown = _shutdown
    atexit.register(_exit_final)
    if config.flush_on_sigterm and threading.current_thread() is threading.main_thread():
        import signal
        if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)


def start(env=None):
    """Starts the agent for this process from the environment. Returns the
    Agent, or None when it stays off (disabled, nothing to export, or the
    official OpenTelemetry SDK is installed and owns telemetry)."""
    global _agent
    if _agent is not None:
        return _agent
    config = _config.load(env)
    diag = _diag.Diag(debug=config.debug)
    for problem in config.problems:
        diag.write(problem)
    if config.disabled:
        diag.debug("OTEL_SDK_DISABLED=true: the log agent is off")
        return None
    if _official_sdk_present():
        diag.debug("the OpenTelemetry SDK (opentelemetry.sdk) is installed: the log agent steps aside")
        return None
    if not (config.otlp or config.console):
        diag.debug("OTEL_LOGS_EXPORTER selects no exporter: the log agent is off")
        return None
    agent = Agent(config, diag)
    agent.start()
    _agent = agent
    _register_hooks(config)
    return agent


def get_agent():
    return _agent


def flush(timeout=5.0):
    """Exports what is queued now (for apps and tests that want to be sure
    before a hard exit)."""
    agent = _agent
    return agent.flush(timeout) if agent is not None else True
