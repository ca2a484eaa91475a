#!/usr/bin/env bash
# Installs VictoriaLogs, the real Loki-protocol store the collector's
# end-to-end tests push to, with `go install` from its Go module at a pinned
# version. The binary lives outside the repository in a per-user cache keyed by
# version, so CI's fresh clones reuse it and a version bump never picks up a
# stale build.
#
# Usage: hack/collector-victorialogs.sh   prints the binary's path on stdout;
# build progress goes to stderr.
set -euo pipefail

VICTORIALOGS_VERSION=v1.52.1
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
bin_dir="$cache_root/victorialogs-$VICTORIALOGS_VERSION/bin"
out="$bin_dir/victoria-logs"

mkdir -p "$bin_dir"
# One build at a time per cache: parallel test tiers (or two clones) wait
# for the first build instead of racing it.
exec 9>"$bin_dir.lock"
flock 9
if [ ! -x "$out" ]; then
	echo "installing VictoriaLogs $VICTORIALOGS_VERSION into $bin_dir (first time only, ~2-4 minutes)" >&2
	start=$(date +%s)
	tmp=$(mktemp -d "$bin_dir/.install.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# CGO off selects VictoriaMetrics' pure-Go zstd, so no C toolchain is needed.
	# Installing into a temporary GOBIN and renaming keeps an interrupted build
	# from ever looking cached.
	CGO_ENABLED=0 GOBIN="$tmp" \
		go install -trimpath -ldflags "-s -w" \
		"github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION"
	mv "$tmp/victoria-logs" "$out"
	echo "installed VictoriaLogs in $(($(date +%s) - start))s" >&2
fi
echo "$out"
