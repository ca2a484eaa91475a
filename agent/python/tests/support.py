"""Test helpers: a local OTLP/HTTP JSON receiver (http.server) and a pod-like
PYTHONPATH layout for subprocesses.

The real protobuf/OTLP-JSON decoding checks live in the Go harness; these
helpers only need to count and look at records, so subprocess tests export
OTLP/JSON and this receiver reads it with the json module."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

try:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
except ImportError:  # Python < 3.7 is not supported
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
BOOT = os.path.join(SRC, "opentelemetry", "instrumentation", "auto_instrumentation")

if SRC not in sys.path:
    sys.path.insert(0, SRC)


class Receiver(object):
    """Collects OTLP/JSON log requests. status/retry_after make every
    request fail; bodies keeps raw request bodies."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.records = []
        self.connections = set()
        self.status = 0
        self.retry_after = None
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with receiver.lock:
                    receiver.connections.add(self.client_address)
                    status, retry_after, delay = receiver.status, receiver.retry_after, receiver.delay
                    receiver.requests.append((time.monotonic(), dict(self.headers), body, status))
                if delay:
                    time.sleep(delay)
                if status:
                    self.send_response(status)
                    if retry_after is not None:
                        self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("Content-Type") == "application/json":
                    doc = json.loads(body.decode("utf-8"))
                    with receiver.lock:
                        for rl in doc.get("resourceLogs", []):
                            res = dict((a["key"], _value(a["value"])) for a in rl["resource"].get("attributes", []))
                            for sl in rl.get("scopeLogs", []):
                                for lr in sl.get("logRecords", []):
                                    receiver.records.append(_record(res, sl.get("scope", {}).get("name", ""), lr))
                out = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, cond, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                recs = list(self.records)
            if cond(recs):
                return recs
            time.sleep(0.02)
        with self.lock:
            return list(self.records)


def _value(v):
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "boolValue" in v:
        return v["boolValue"]
    if "doubleValue" in v:
        return v["doubleValue"]
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return dict((x["key"], _value(x["value"])) for x in v["kvlistValue"].get("values", []))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def _record(res, scope, lr):
    return {
        "resource": res,
        "scope": scope,
        "body": _value(lr.get("body", {})),
        "severity": lr.get("severityNumber", 0),
        "text": lr.get("severityText", ""),
        "attributes": dict((a["key"], _value(a["value"])) for a in lr.get("attributes", [])),
        "trace_id": lr.get("traceId", ""),
    }


class PodLayout(object):
    """The agent copied to a temp folder as the init container lays it
    out, plus the environment the webhook would set."""

    def __init__(self, with_package=True):
        self.dir = tempfile.mkdtemp(prefix="autotel-agent-test-")
        self.volume = os.path.join(self.dir, "otel-auto-instrumentation-python")
        shutil.copytree(SRC, self.volume, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if not with_package:
            shutil.rmtree(os.path.join(self.volume, "autotel_agent"))
        self.boot = os.path.join(self.volume, "opentelemetry", "instrumentation", "auto_instrumentation")

    def env(self, endpoint=None, app_path=None, **extra):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.dir,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": ":".join([self.boot] + ([app_path] if app_path else []) + [self.volume]),
            "OTEL_SERVICE_NAME": "svc",
            "OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.name=pod-1,service.instance.id=ns.pod-1.c",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_BLRP_SCHEDULE_DELAY": "50",
        }
        if endpoint:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        env.update(extra)
        return env

    def run(self, code, env, timeout=60, **kw):
        return subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, universal_newlines=True, cwd=self.dir, **kw)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
