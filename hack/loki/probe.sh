#!/usr/bin/env bash
# Starts the pinned Loki (hack/loki.sh) with hack/loki/loki-local.yaml on free
# 127.0.0.1 ports and a temporary directory, runs ./probe against it, and
# stops it again. The Markdown goes to stdout (docs/loki-responses.md records
# it); Loki's own log is printed to stderr if the probe fails.
#
# Usage: hack/loki/probe.sh [-case ID]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
loki=$("$here/../loki.sh")
LOKI_DIR=$(mktemp -d "${TMPDIR:-/tmp}/loki-probe.XXXXXX")
# Two free ports: bind to port 0 and read back what the kernel chose.
read -r LOKI_HTTP_PORT LOKI_GRPC_PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
export LOKI_DIR LOKI_HTTP_PORT LOKI_GRPC_PORT

"$loki" -target=all -config.file="$here/loki-local.yaml" -config.expand-env=true >"$LOKI_DIR/loki.log" 2>&1 &
pid=$!
cleanup() {
	if kill "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$LOKI_DIR"
}
trap cleanup EXIT

addr=http://127.0.0.1:$LOKI_HTTP_PORT
for _ in $(seq 1 120); do
	[ "$(curl -s "$addr/ready" || true)" = ready ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$LOKI_DIR/loki.log" >&2; echo "Loki exited before it was ready" >&2; exit 1; }
	sleep 1
done
[ "$(curl -s "$addr/ready" || true)" = ready ] || { cat "$LOKI_DIR/loki.log" >&2; echo "Loki not ready after 120s" >&2; exit 1; }
curl -s "$addr/loki/api/v1/status/buildinfo" >&2; echo >&2
(cd "$here" && go run ./probe -addr "$addr" "$@") || { tail -50 "$LOKI_DIR/loki.log" >&2; exit 1; }
