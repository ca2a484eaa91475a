#!/usr/bin/env bash
# Builds Grafana Loki's single binary, the real Loki server the collector's
# Loki exporter tests push to, from Loki's Go module at the version pinned in
# hack/loki/go.mod, and caches it outside the repository keyed by version, so
# fresh clones reuse it and a version bump never picks up a stale build.
#
# Loki is AGPL-licensed: it is only a server that tests start (like etcd) and
# is never linked into an autotel binary. Its go.mod has replace directives,
# which `go install module@version` refuses, hence the tools module.
#
# Usage: hack/loki.sh   prints the binary's path on stdout; build progress
# goes to stderr.
set -euo pipefail

LOKI_VERSION=v3.7.8 # keep in step with the require in hack/loki/go.mod
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib/cache.sh
. "$here/lib/cache.sh"

pinned=$(cd "$here/loki" && go list -m -f '{{.Version}}' github.com/grafana/loki/v3)
if [ "$pinned" != "$LOKI_VERSION" ]; then
	echo "hack/loki.sh pins Loki $LOKI_VERSION but hack/loki/go.mod requires $pinned; make them agree" >&2
	exit 1
fi

bin_dir=$(cache_dir "loki-$LOKI_VERSION")
out="$bin_dir/loki"

# build_loki TARGET: Loki's release build, pure Go (netgo resolver, no cgo)
# with the version stamped where /loki/api/v1/status/buildinfo and -version
# read it. No labels build tag: Loki releases use Prometheus' default
# (stringlabels).
build_loki() {
	local vprefix=github.com/grafana/loki/v3/pkg/util/build
	local ldflags="-s -w -X $vprefix.Version=${LOKI_VERSION#v} -X $vprefix.Branch=HEAD"
	(cd "$here/loki" && CGO_ENABLED=0 go build -trimpath -tags netgo -ldflags "$ldflags" \
		-o "$1" github.com/grafana/loki/v3/cmd/loki)
}

cache_lock "$bin_dir"
if [ ! -x "$out" ]; then
	echo "building Loki $LOKI_VERSION into $bin_dir (first time only; minutes: ~500 MB of modules, a large build)" >&2
	cache_build "$out" "built Loki" build_loki
fi
echo "$out"
