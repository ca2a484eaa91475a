#!/usr/bin/env bash
# Builds the images the local cluster (hack/cluster.sh) runs and imports them
# into the node's containerd. The images, their tags and contents are the
# table in internal/imagebuild; cmd/autotel-image builds them as
# docker-archive tarballs (no Docker engine, no registry: root filesystems
# come from Debian packages). This script is the glue: build the tool, call
# it, hand the tarballs to `hack/cluster.sh import`.
#
# Usage: hack/cluster-images.sh build NAME...    print each tarball's path
#        hack/cluster-images.sh import NAME...   build, then import into the running cluster
#        hack/cluster-images.sh list             names and tags
#
# Names: busybox, examples-flask, examples-gunicorn, examples-uvicorn,
# examples-java, examples-nodejs, python-agent, autoinstrumentation-python,
# autoinstrumentation-java, autoinstrumentation-nodejs, collector, operator,
# cli (`list` says what each holds).
# Tags are autotel.local/<repo>, tag dev; pods use imagePullPolicy IfNotPresent or Never.
# Environment: AUTOTEL_CACHE (tarballs under <cache>/images/v<N>, Debian root
# filesystems under <cache>/rootfs), AUTOTEL_PYTHON_AGENT_TREE,
# AUTOTEL_COLLECTOR_BIN, AUTOTEL_COLLECTOR_MODULE, AUTOTEL_COLLECTOR_PKG
# (see docs/local-cluster.md).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
export AUTOTEL_CACHE=$cache_root

die() { echo "images: error: $*" >&2; exit 1; }

image_tool() {
	local out="$cache_root/tools/autotel-image"
	# go build is incremental: a no-op when nothing changed.
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/autotel-image) || die "building cmd/autotel-image failed"
	echo "$out"
}

case "${1:-}" in
build | import)
	cmd=$1
	shift
	[ $# -gt 0 ] || die "usage: $0 $cmd NAME..."
	tool=$(image_tool)
	tarballs=$("$tool" build --repo "$repo" "$@") || die "building $* failed"
	if [ "$cmd" = import ]; then
		# shellcheck disable=SC2086 # one path per line, no spaces in the cache's paths
		"$here/cluster.sh" import $tarballs
		echo "images: imported: $*" >&2
	else
		echo "$tarballs"
	fi
	;;
list)
	tool=$(image_tool)
	"$tool" list
	;;
*) die "usage: $0 build|import NAME... | list" ;;
esac
