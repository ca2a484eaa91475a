"""Cost of the agent to the app, and how fast one process exports.

Usage: bench_logging.py RECEIVER_URL STATS_URL

1. ns per logger.info() call without and with the agent, side by side in
   the same process, rounds interleaved (so drift hits both alike), for
   the common app setups: a console handler (to /dev/null), no handler at
   all, and a call with extra= fields. With the agent, the export thread
   runs during the measurement (it shares the GIL with the app, which is
   part of the cost); its queue is made large enough that no record is
   dropped, so every call pays the full enqueue.
2. records/s one process exports end to end (map, queue, encode, POST,
   acknowledged by the receiver), protobuf and JSON; and the encoder
   alone.
3. With default settings, logging flat out for a few seconds: how much
   gets exported and how much is dropped (the bounded queue at work).
"""

import functools
import json
import logging
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

import autotel_agent  # noqa: E402
from autotel_agent import _config, _otlp  # noqa: E402

N = int(os.environ.get("BENCH_CALLS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def stats(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read().decode())


def wait_received(stats_url, target, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = stats(stats_url)
        if s["records"] >= target:
            return s
        time.sleep(0.005)
    raise SystemExit("receiver got %s of %d records" % (stats(stats_url), target))


def new_agent(receiver, **env):
    e = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver, "OTEL_SERVICE_NAME": "bench",
         "OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=bench.pod.c,k8s.pod.name=pod"}
    e.update(env)
    return autotel_agent.Agent(_config.load(e))


CHUNK = 1000


def time_calls(fn, n, between=None):
    """Wall ns per call, timing chunks of CHUNK calls; between() runs
    untimed after each chunk (draining the agent's queue keeps it at the
    size it has in a real app, instead of a backlog of n records that the
    garbage collector would have to walk)."""
    total = 0
    for _ in range(n // CHUNK):
        start = time.perf_counter_ns()
        for _ in range(CHUNK):
            fn()
        total += time.perf_counter_ns() - start
        if between is not None:
            between()
    return total / (n // CHUNK * CHUNK)


def cpu_per_call(fn, n, after=None):
    """Process CPU ns per call, including the work after() waits for (the
    export thread's encoding and sending)."""
    start = time.process_time_ns()
    for _ in range(n):
        fn()
    if after is not None:
        after()
    return (time.process_time_ns() - start) / n


def per_call(receiver, setups):
    print("1. cost of one logger.info() call, median of %d rounds of %d calls" % (ROUNDS, N))
    print("   call: wall ns at the call site (queue drained between chunks of %d calls, untimed)" % CHUNK)
    print("   cpu:  process CPU ns per call including the export thread's encoding and sending")
    print("   %-34s %9s %9s %8s | %9s %9s %8s" % ("setup", "call", "+agent", "added", "cpu", "+agent", "added"))
    root = logging.getLogger()
    for name, configure, call in setups:
        saved = (root.handlers[:], root.level)
        configure()
        # idle: the export thread sleeps through each chunk (pure call-site
        # cost); busy: default batching, the thread works meanwhile.
        idle = new_agent(receiver, OTEL_BLRP_MAX_QUEUE_SIZE=str(N + CHUNK),
                         OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=str(N + CHUNK), OTEL_BLRP_SCHEDULE_DELAY="3600000")
        busy = new_agent(receiver, OTEL_BLRP_MAX_QUEUE_SIZE=str(N + CHUNK))
        base, with_agent, cpu_base, cpu_agent = [], [], [], []
        for _ in range(ROUNDS):
            base.append(time_calls(call, N))
            cpu_base.append(cpu_per_call(call, N))
            idle.start()
            with_agent.append(time_calls(call, N, between=functools.partial(idle.processor.flush, 120)))
            idle.bridge.uninstall()
            busy.start()
            cpu_agent.append(cpu_per_call(call, N, after=functools.partial(busy.processor.flush, 120)))
            busy.bridge.uninstall()
        dropped = idle.processor.total_dropped() + busy.processor.total_dropped()
        idle.stop()
        busy.stop()
        root.handlers, root.level = saved
        m = statistics.median
        b, a, cb, ca = m(base), m(with_agent), m(cpu_base), m(cpu_agent)
        print("   %-34s %9.0f %9.0f %8.0f | %9.0f %9.0f %8.0f%s" % (name, b, a, a - b, cb, ca, ca - cb,
                                                               "  (%d dropped!)" % dropped if dropped else ""))


def export_rate(receiver, stats_url, protocol, n=100000):
    agent = new_agent(receiver, OTEL_BLRP_MAX_QUEUE_SIZE=str(n), OTEL_BLRP_SCHEDULE_DELAY="60000",
                      OTEL_EXPORTER_OTLP_PROTOCOL=protocol)
    log = logging.getLogger("bench.rate")
    log.setLevel(logging.INFO)
    log.propagate = True
    before = stats(stats_url)["records"]
    agent.start()
    start = time.perf_counter()
    for i in range(n):
        log.info("record %d of the export benchmark", i, extra={"seq": i})
    emitted = time.perf_counter()
    agent.processor.flush(120)
    wait_received(stats_url, before + n)
    done = time.perf_counter()
    agent.stop()
    print("   %-14s %8.0f records/s end to end (emitting took %.2fs, export finished %.2fs after)"
          % (protocol, n / (done - start), emitted - start, done - emitted))


def encoder_rate():
    cfg = _config.load({"OTEL_SERVICE_NAME": "bench"})
    res = autotel_agent.build_resource(cfg)
    rec = logging.LogRecord("bench.enc", logging.INFO, "/app/x.py", 10, "record %d of the benchmark", (1,), None, "f")
    from autotel_agent._bridge import map_record
    items = [map_record(rec)] * 512
    for name, fn in (("protobuf", lambda: _otlp.encode_request(res.proto, items, _otlp.NO_LIMITS)),
                     ("json", lambda: _otlp.encode_request_json(res.json, items, _otlp.NO_LIMITS))):
        start = time.perf_counter()
        k = 0
        while time.perf_counter() - start < 2:
            fn()
            k += 1
        print("   encode %-8s %8.0f records/s (batches of 512)" % (name, k * 512 / (time.perf_counter() - start)))


def flat_out(receiver, stats_url, seconds=5.0):
    agent = new_agent(receiver)
    log = logging.getLogger("bench.flat")
    log.setLevel(logging.INFO)
    before = stats(stats_url)["records"]
    agent.start()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            log.info("flat out %d", n)
            n += 1
    elapsed = time.perf_counter() - start
    agent.processor.flush(60)
    exported, dropped = agent.processor.exported, agent.processor.total_dropped()
    agent.stop()
    got = stats(stats_url)["records"] - before
    print("3. logging flat out for %.0fs with default settings (queue 2048, batch 512):" % seconds)
    print("   %d records logged (%.0f/s), %d exported (%.0f/s), %d dropped (queue full); receiver counted %d"
          % (n, n / elapsed, exported, exported / elapsed, dropped, got))


def main():
    receiver, stats_url = sys.argv[1], sys.argv[2]
    devnull = open(os.devnull, "w")
    root = logging.getLogger()
    log = logging.getLogger("bench.app")

    def console():
        h = logging.StreamHandler(devnull)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.handlers = [h]
        root.setLevel(logging.INFO)

    def bare():
        root.handlers = []
        root.setLevel(logging.INFO)

    setups = [
        ("console handler (to /dev/null)", console, lambda: log.info("request %s done in %d ms", "abc", 12)),
        ("no handler (root at INFO)", bare, lambda: log.info("request %s done in %d ms", "abc", 12)),
        ("console handler + extra= (3 keys)", console,
         lambda: log.info("order placed", extra={"order_id": 42, "user": "u1", "amount": 9.5})),
    ]
    print("python %s, %s" % (sys.version.split()[0], sys.executable))
    per_call(receiver, setups)
    print("2. export throughput of one process")
    export_rate(receiver, stats_url, "http/protobuf")
    export_rate(receiver, stats_url, "http/json")
    encoder_rate()
    flat_out(receiver, stats_url)
    print("receiver: %s" % json.dumps(stats(stats_url)))


if __name__ == "__main__":
    main()
