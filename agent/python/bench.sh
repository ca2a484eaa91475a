#!/usr/bin/env bash
# Benchmarks of autotel's Python log agent (not tests: nothing is asserted).
#   1. ns per logger.info() call without / with the agent, side by side in
#      one process; records/s one process exports (bench/bench_logging.py,
#      against the harness's OTLP receiver);
#   2. request latency of Flask under gunicorn without the agent and with
#      it while the collector is up, down and slow (Go benchmark).
# Knobs: BENCH_CALLS (default 100000), BENCH_ROUNDS (5), BENCH_REQUESTS (2000).
set -euo pipefail
cd "$(dirname "$0")"
python=${AUTOTEL_TEST_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
receiver_pid=
cleanup() {
	if [ -n "$receiver_pid" ]; then kill "$receiver_pid" 2>/dev/null || true; wait "$receiver_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

(cd harness && env -u GOFLAGS go build -o "$tmp/otlp-receiver" ./cmd/otlp-receiver)
"$tmp/otlp-receiver" >"$tmp/receiver.txt" 2>&1 &
receiver_pid=$!
for _ in $(seq 100); do [ -s "$tmp/receiver.txt" ] && break; sleep 0.05; done
read -r url stats <"$tmp/receiver.txt"
echo "== agent cost and export throughput (load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
PYTHONDONTWRITEBYTECODE=1 "$python" bench/bench_logging.py "$url" "$stats"
echo "4. interpreter start-up"
"$python" bench/bench_startup.py

echo
echo "== request latency, Flask under gunicorn (1 worker), GET /hello"
(cd harness && env -u GOFLAGS go test -count=1 -run '^$' -bench RequestLatency -benchtime "${BENCH_REQUESTS:-2000}x" ./ | grep -E '^(Benchmark|cpu)')
