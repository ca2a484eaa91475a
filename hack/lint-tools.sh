#!/usr/bin/env bash
# Installs the linters `make vet` runs, each at a pinned version, and prints
# the path of each one asked for (one per line, in the order asked).
#
#   golangci-lint  built from its Go module, pinned by the `tool` directive in
#                  hack/tools/go.mod (a module of its own, so the linters'
#                  dependencies never enter the operator's go.mod). The binary
#                  is cached outside the repository, keyed by its version and
#                  by the Go toolchain that built it (golangci-lint refuses to
#                  lint code for a newer Go than the one it was built with).
#   ShellCheck     Debian's package, installed with apt-get only when no
#                  ShellCheck is on PATH. Pinned to the version Debian 12
#                  (bookworm) ships; another version is used with a warning,
#                  since its findings may differ.
#   ruff           from the Python package index into a virtualenv in the cache,
#                  keyed by version.
#
# Usage: hack/lint-tools.sh [golangci-lint|shellcheck|ruff ...]  (default: all)
# Progress goes to stderr. The cache is AUTOTEL_CACHE, else
# $XDG_CACHE_HOME/autotel, else ~/.cache/autotel.
set -euo pipefail

RUFF_VERSION=0.17.5
SHELLCHECK_VERSION=0.9.0
SHELLCHECK_DEB=0.9.0-1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
mkdir -p "$cache_root"

# lock NAME: one install at a time per tool and cache, so parallel `make`
# runs (or two clones) wait for the first install instead of racing it. The
# lock is released when the subshell that took it exits.
lock() {
	exec 9>"$cache_root/$1.lock"
	flock 9
}

golangci_lint() (
	local version gover dir out tmp
	version=$(cd "$here/tools" && go list -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)
	gover=$(go env GOVERSION)
	dir="$cache_root/golangci-lint-$version-$gover"
	out="$dir/golangci-lint"
	lock "golangci-lint-$version-$gover"
	if [ ! -x "$out" ]; then
		echo "building golangci-lint $version with $gover into $dir (first time only, several minutes)" >&2
		start=$(date +%s)
		mkdir -p "$dir"
		tmp="$out.tmp.$$"
		# Build to a temporary name so an interrupted build never looks cached.
		(cd "$here/tools" && go build -trimpath -o "$tmp" github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
		mv "$tmp" "$out"
		echo "built golangci-lint in $(($(date +%s) - start))s" >&2
	fi
	echo "$out"
)

shellcheck_bin() (
	local path have
	lock shellcheck
	if ! path=$(command -v shellcheck); then
		if [ "$(id -u)" != 0 ]; then
			echo "shellcheck is not installed: run 'apt-get install -y shellcheck=$SHELLCHECK_DEB' as root (or install shellcheck $SHELLCHECK_VERSION another way)" >&2
			return 1
		fi
		echo "installing shellcheck $SHELLCHECK_DEB with apt-get" >&2
		# The package lists may be missing on a fresh machine; one update fixes that.
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "shellcheck=$SHELLCHECK_DEB" >&2; then
			apt-get update -q >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q "shellcheck=$SHELLCHECK_DEB" >&2
		fi
		path=$(command -v shellcheck)
	fi
	have=$("$path" --version | sed -n 's/^version: //p')
	if [ "$have" != "$SHELLCHECK_VERSION" ]; then
		echo "warning: $path is shellcheck $have, the project pins $SHELLCHECK_VERSION; findings may differ" >&2
	fi
	echo "$path"
)

ruff_bin() (
	local dir out tmp
	dir="$cache_root/ruff-$RUFF_VERSION"
	out="$dir/bin/ruff"
	lock "ruff-$RUFF_VERSION"
	if [ ! -x "$out" ]; then
		echo "installing ruff $RUFF_VERSION into $dir" >&2
		# Install into a temporary virtualenv and rename, so an interrupted
		# install never looks cached.
		tmp="$dir.tmp.$$"
		rm -rf "$tmp" "$dir"
		python3 -m venv "$tmp" >&2
		"$tmp/bin/python" -m pip install -q "ruff==$RUFF_VERSION" >&2
		mv "$tmp" "$dir"
	fi
	# The wheel puts ruff's own executable (not a Python entry-point script
	# that would hard-code the temporary path) in bin/, so the rename is safe.
	echo "$out"
)

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(golangci-lint shellcheck ruff)
for tool in "${wanted[@]}"; do
	case "$tool" in
	golangci-lint) golangci_lint ;;
	shellcheck) shellcheck_bin ;;
	ruff) ruff_bin ;;
	*)
		echo "unknown tool '$tool' (known: golangci-lint shellcheck ruff)" >&2
		exit 1
		;;
	esac
done
