#!/usr/bin/env bash
# Builds the Kubernetes and etcd binaries the project needs from their Go
# modules (pinned in hack/kube/go.mod) and caches them outside the repository,
# keyed by version, so a fresh clone reuses them.
#
# Usage: hack/kube-binaries.sh [binary ...]   (default: kube-apiserver etcd kubectl)
# Prints the cache bin directory on stdout; build progress goes to stderr.
set -euo pipefail

KUBE_VERSION=v1.35.4
ETCD_VERSION=v3.6.5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
bin_dir="$cache_root/kube-$KUBE_VERSION-etcd-$ETCD_VERSION/bin"
mkdir -p "$bin_dir"
# One build at a time per cache: parallel test tiers (or two clones) wait
# for the first build instead of racing it.
exec 9>"$bin_dir.lock"
flock 9

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(kube-apiserver etcd kubectl)

pkg_of() {
	case "$1" in
	etcd) echo go.etcd.io/etcd/server/v3 ;;
	kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet) echo "k8s.io/kubernetes/cmd/$1" ;;
	*) echo "unknown binary '$1' (known: kube-apiserver etcd kubectl kubelet kube-controller-manager kube-scheduler)" >&2; return 1 ;;
	esac
}

# The version Kubernetes clients and the API server report comes from these
# variables; unstamped builds say v0.0.0 and break version-gated behaviour.
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z \
 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

for name in "${wanted[@]}"; do
	pkg=$(pkg_of "$name")
	out="$bin_dir/$name"
	if [ -x "$out" ]; then continue; fi
	echo "building $name ($pkg) into $bin_dir; the first build takes minutes" >&2
	start=$(date +%s)
	flags="$kube_ldflags"
	[ "$name" = etcd ] && flags="-s -w"
	# Build to a temporary name so an interrupted build never looks cached.
	(cd "$here/kube" && CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "$flags" -o "$out.tmp" "$pkg")
	mv "$out.tmp" "$out"
	echo "built $name in $(($(date +%s) - start))s" >&2
done
echo "$bin_dir"
