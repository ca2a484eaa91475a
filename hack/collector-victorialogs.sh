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
# shellcheck source=hack/lib/cache.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/cache.sh"
bin_dir=$(cache_dir "victorialogs-$VICTORIALOGS_VERSION")
out="$bin_dir/victoria-logs"

# install_victorialogs TARGET: CGO off selects VictoriaMetrics' pure-Go
# zstd, so no C toolchain is needed.
install_victorialogs() {
	tmp=$(mktemp -d "$bin_dir/.install.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	CGO_ENABLED=0 GOBIN="$tmp" \
		go install -trimpath -ldflags "-s -w" \
		"github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION"
	mv "$tmp/victoria-logs" "$1"
}

cache_lock "$bin_dir"
if [ ! -x "$out" ]; then
	echo "installing VictoriaLogs $VICTORIALOGS_VERSION into $bin_dir (first time only, ~2-4 minutes)" >&2
	cache_build "$out" "installed VictoriaLogs" install_victorialogs
fi
echo "$out"
