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
# shellcheck source=hack/lib/cache.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/cache.sh"
bin_dir=$(cache_dir "helm-$HELM_VERSION")
out="$bin_dir/helm"

# build_helm TARGET: `go install mod@version` builds with helm's own go.mod
# and go.sum, so every dependency is the one that release pins, and nothing
# enters a go.mod of this repository. Helm reports the version from these
# variables; unstamped builds call themselves "v4.x" or "v3.x".
build_helm() {
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath \
		-ldflags "-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION -X helm.sh/helm/$major/internal/version.gitTreeState=clean" \
		"helm.sh/helm/$major/cmd/helm@$HELM_VERSION")
	mv "$tmp/helm" "$1"
}

cache_lock "$bin_dir"
if [ ! -x "$out" ]; then
	echo "building helm $HELM_VERSION into $bin_dir; the first build takes a few minutes" >&2
	cache_build "$out" "built helm $HELM_VERSION" build_helm
fi
echo "$out"
