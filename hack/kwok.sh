#!/usr/bin/env bash
# Builds kwok (Kubernetes WithOut Kubelet: fake nodes whose pods its stages
# move to Running), the node simulator the scale tier (test/scale) runs
# against the real kube-apiserver, from kwok's Go module at the version
# pinned in hack/kwok/go.mod (a module of its own, so kwok's dependencies
# never enter the operator's go.mod), and caches it outside the repository
# keyed by version.
#
# kwok does nothing without stages (how nodes and pods change status): next
# to the binary goes stages-fast.yaml, kwok's own "fast" stages from the
# same module (nodes Ready at once; pods Running at once, completed and
# deletions finished), for `kwok --config`.
#
# Usage: hack/kwok.sh   prints the binary's path on stdout; build progress
# goes to stderr.
set -euo pipefail

KWOK_VERSION=v0.8.0 # keep in step with the require in hack/kwok/go.mod
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib/cache.sh
. "$here/lib/cache.sh"

cache_pinned "$here/kwok" sigs.k8s.io/kwok "$KWOK_VERSION"

bin_dir=$(cache_dir "kwok-$KWOK_VERSION")
out="$bin_dir/kwok"

build_kwok() {
	(cd "$here/kwok" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1" sigs.k8s.io/kwok/cmd/kwok)
}

cache_lock "$bin_dir"
if [ ! -x "$out" ]; then
	echo "building kwok $KWOK_VERSION into $bin_dir (first time only)" >&2
	cache_build "$out" "built kwok" build_kwok
fi
if [ ! -s "$bin_dir/stages-fast.yaml" ]; then
	src=$(cd "$here/kwok" && go mod download sigs.k8s.io/kwok && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
	for f in node/fast/node-initialize.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		echo "---"
		cat "$src/$f"
	done >"$bin_dir/stages-fast.yaml.tmp"
	mv "$bin_dir/stages-fast.yaml.tmp" "$bin_dir/stages-fast.yaml"
fi
echo "$out"
