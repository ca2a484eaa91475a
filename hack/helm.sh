#!/usr/bin/env bash
# Builds the helm binary from its Go module at a pinned release and caches it
# outside the repository, keyed by version, the way hack/kube-binaries.sh does
# for the Kubernetes binaries (no prebuilt downloads are reachable here).
#
# Usage: hack/helm.sh
# Prints the path of the helm binary on stdout; build progress goes to stderr.
# HELM_VERSION overrides the pin (e.g. a v3 release, to check the chart with
# the older major: HELM_VERSION=v3.22.0 hack/helm.sh).
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v4.3.1}
major=${HELM_VERSION%%.*}
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
bin_dir="$cache_root/helm-$HELM_VERSION/bin"
out="$bin_dir/helm"

mkdir -p "$bin_dir"
# One build at a time per cache: parallel test tiers (or two clones) wait
# for the first build instead of racing it.
exec 9>"$bin_dir.lock"
flock 9
if [ ! -x "$out" ]; then
	echo "building helm $HELM_VERSION into $bin_dir; the first build takes a few minutes" >&2
	start=$(date +%s)
	# `go install mod@version` builds with helm's own go.mod and go.sum, so
	# every dependency is the one that release pins, and nothing enters a
	# go.mod of this repository. Helm reports the version from these
	# variables; unstamped builds call themselves "v4.x" or "v3.x".
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath \
		-ldflags "-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION -X helm.sh/helm/$major/internal/version.gitTreeState=clean" \
		"helm.sh/helm/$major/cmd/helm@$HELM_VERSION")
	# Moved into place only when complete, so an interrupted build never
	# looks cached.
	mv "$tmp/helm" "$out.tmp"
	mv "$out.tmp" "$out"
	echo "built helm $HELM_VERSION in $(($(date +%s) - start))s" >&2
fi
echo "$out"
