"""Interpreter start-up with and without the agent: `python -c pass`,
alternating, median of 20 runs each. Every Python process of an
instrumented container pays this, short helper scripts included. The agent
is copied to a temporary folder as the init container copies it into the
pod's volume; "cached" is once Python has written its bytecode cache there
(the volume is writable), "uncached" when it cannot (PYTHONDONTWRITEBYTECODE,
or a volume the app's user cannot write)."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
RUNS = 20


def run(env, code="pass"):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


tmp = tempfile.mkdtemp()
try:
    volume = os.path.join(tmp, "otel-auto-instrumentation-python")
    shutil.copytree(SRC, volume, ignore=shutil.ignore_patterns("__pycache__"))
    boot = os.path.join(volume, "opentelemetry", "instrumentation", "auto_instrumentation")
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    agent = dict(base, PYTHONPATH=boot + ":" + volume, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
                 OTEL_RESOURCE_ATTRIBUTES="service.instance.id=ns.pod.c")
    uncached = dict(agent, PYTHONDONTWRITEBYTECODE="1")
    run(agent)  # writes the bytecode cache into the volume
    without, cached, nocache, logging_only = [], [], [], []
    for _ in range(RUNS):
        without.append(run(base))
        cached.append(run(agent))
        nocache.append(run(uncached))
        logging_only.append(run(base, "import logging"))
    m = lambda xs: statistics.median(xs) * 1e3  # noqa: E731
    print("   python -c pass: %.1f ms without the agent; with it %.1f ms cached (+%.1f), %.1f ms uncached (+%.1f);"
          % (m(without), m(cached), m(cached) - m(without), m(nocache), m(nocache) - m(without)))
    print("   of which `import logging` (which most apps do anyway): +%.1f ms" % (m(logging_only) - m(without)))
finally:
    shutil.rmtree(tmp)
