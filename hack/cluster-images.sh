#!/usr/bin/env bash
# Builds the images the local cluster (hack/cluster.sh) runs, as docker-archive
# tarballs made by cmd/autotel-image from directory trees, and imports them
# into the node's containerd. No Docker engine and no container registry: root
# filesystems are assembled from Debian packages.
#
# Usage: hack/cluster-images.sh build NAME...    print each tarball's path
#        hack/cluster-images.sh import NAME...   build, then import into the running cluster
#        hack/cluster-images.sh list             names and tags
#
# Names (tags are autotel.local/<repo>:dev; pods use imagePullPolicy
# IfNotPresent or Never):
#   busybox          Debian's busybox-static: a shell and coreutils for test pods
#   examples-flask   examples/flask on Debian's python3 + python3-flask
#   examples-gunicorn, examples-uvicorn   the other two samples, same base layer
#   python-agent     autotel's Python agent (agent/python/src), the image the
#                    operator's init container copies /autoinstrumentation from
#   collector        the autotel collector (see collector_binary)
#
# The Python root filesystem is cached under $AUTOTEL_CACHE/rootfs, keyed by
# the exact Debian package versions, so a rebuild happens only when Debian
# publishes a new version of a package in it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
images="$cache_root/images"
TAG=dev
# Bump when the way a root filesystem is assembled changes, so caches rebuild.
ROOTFS_RECIPE=1

# Debian bookworm packages, pinned to their upstream versions (the glob takes
# Debian's security rebuilds of the same version).
PYTHON_PACKAGES=("python3=3.11.2-*" "python3-flask=2.2.2-*" "gunicorn=20.1.0-*" "python3-uvicorn=0.17.6-*" "python3-fastapi=0.92.0-*")
BUSYBOX_PACKAGES=("busybox-static=1:1.35.0-*")
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { echo "images: $*" >&2; }
die() { echo "images: error: $*" >&2; exit 1; }

image_tool() {
	local out="$cache_root/tools/autotel-image"
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/autotel-image) || die "building cmd/autotel-image failed"
	echo "$out"
}

# ---------------------------------------------------------------- root filesystems

# The full dependency closure of the packages, as "name=version" lines, from
# apt's own resolver run against an empty package database.
resolve() {
	local out
	if ! out=$(apt-get install -s -qq --no-install-recommends -o Dir::State::status=/dev/null "$@" 2>&1); then
		say "refreshing Debian package lists (apt-get update)"
		apt-get update -qq >&2 || die "apt-get update failed; check the machine's Debian package sources"
		out=$(apt-get install -s -qq --no-install-recommends -o Dir::State::status=/dev/null "$@" 2>&1) ||
			die "cannot resolve $*: $out
If Debian moved one of them to a new upstream version, update the pins in $0"
	fi
	awk '$1 == "Inst" { v = $3; gsub(/[()]/, "", v); print $2 "=" v }' <<<"$out" | sort
}

deb_of() { # dir name=version: the downloaded package file (apt writes an epoch's colon as %3a)
	local name=${2%%=*} version=${2#*=} f
	for f in "$1/${name}_${version/:/%3a}_"*.deb; do
		[ -f "$f" ] && echo "$f" && return 0
	done
	return 1
}

# Extracts packages without running their maintainer scripts: a container
# needs their files, not dpkg's database or services.
build_rootfs() { # kind package...
	local kind=$1 closure key dir tmp debs p
	shift
	closure=$(resolve "$@")
	[ -n "$closure" ] || die "apt resolved no packages for $*"
	key=$( (echo "recipe $ROOTFS_RECIPE"; echo "$closure") | sha256sum | cut -c1-16)
	dir="$cache_root/rootfs/$kind-$key"
	if [ -d "$dir/rootfs" ]; then
		echo "$dir/rootfs"
		return 0
	fi
	say "assembling the $kind root filesystem from $(wc -l <<<"$closure") Debian packages into $dir"
	local t0=$SECONDS
	debs="$cache_root/debs"
	mkdir -p "$debs" "$cache_root/rootfs"
	tmp=$(mktemp -d "$cache_root/rootfs/.$kind.XXXXXX")
	local want=()
	while IFS= read -r p; do
		deb_of "$debs" "$p" >/dev/null || want+=("$p")
	done <<<"$closure"
	if [ ${#want[@]} -gt 0 ]; then
		(cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${want[@]}" >&2) || die "downloading Debian packages for $kind failed (${want[*]})"
	fi
	mkdir -p "$tmp/rootfs"
	# Debian bookworm is merged-/usr: packages still ship /bin, /lib..., which
	# must land in /usr through these links.
	for p in bin lib lib64 sbin; do
		mkdir -p "$tmp/rootfs/usr/$p"
		ln -s "usr/$p" "$tmp/rootfs/$p"
	done
	while IFS= read -r p; do
		local deb
		deb=$(deb_of "$debs" "$p") || die "package file for $p missing from $debs after download"
		dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$tmp/rootfs" ||
			die "extracting $deb failed"
	done <<<"$closure"
	mkdir -p "$tmp/rootfs/tmp" "$tmp/rootfs/etc" "$tmp/rootfs/root"
	chmod 1777 "$tmp/rootfs/tmp"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$tmp/rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/rootfs/etc/group"
	echo "$closure" >"$tmp/packages.txt"
	mv "$tmp" "$dir"
	say "assembled $kind root filesystem in $((SECONDS - t0))s ($(du -sm "$dir/rootfs" | cut -f1) MiB)"
	echo "$dir/rootfs"
}

python_rootfs() {
	local rootfs
	rootfs=$(build_rootfs python "${PYTHON_PACKAGES[@]}")
	if [ ! -f "$rootfs/../compiled" ]; then
		# What the packages' postinst would do: the shared library cache, and
		# byte-compiled modules so that every pod start does not recompile
		# the standard library and Flask on a 2-core machine.
		ldconfig -r "$rootfs"
		chroot "$rootfs" /usr/bin/python3 -m compileall -q /usr/lib/python3.11 /usr/lib/python3/dist-packages >/dev/null ||
			die "byte-compiling the Python root filesystem failed"
		touch "$rootfs/../compiled"
	fi
	echo "$rootfs"
}

busybox_rootfs() {
	local rootfs a
	rootfs=$(build_rootfs busybox "${BUSYBOX_PACKAGES[@]}")
	if [ ! -e "$rootfs/bin/sh" ]; then
		for a in $("$rootfs/bin/busybox" --list); do
			[ -e "$rootfs/bin/$a" ] || ln -s busybox "$rootfs/bin/$a"
		done
	fi
	echo "$rootfs"
}

# ---------------------------------------------------------------- hooks

# The directory the Python agent image carries at /autoinstrumentation (what
# the operator's init container copies: sitecustomize.py under
# opentelemetry/instrumentation/auto_instrumentation, plus the packages):
# $AUTOTEL_PYTHON_AGENT_TREE if set, else autotel's agent as
# agent/python/build-tree.sh writes it into the directory it is given.
python_agent_tree() {
	if [ -n "${AUTOTEL_PYTHON_AGENT_TREE:-}" ]; then
		[ -d "$AUTOTEL_PYTHON_AGENT_TREE" ] || die "AUTOTEL_PYTHON_AGENT_TREE=$AUTOTEL_PYTHON_AGENT_TREE is not a directory"
		echo "$AUTOTEL_PYTHON_AGENT_TREE"
		return
	fi
	local out="$images/python-agent-tree"
	[ -x "$repo/agent/python/build-tree.sh" ] || die "agent/python/build-tree.sh is missing; set AUTOTEL_PYTHON_AGENT_TREE to an agent tree"
	rm -rf "$out" && mkdir -p "$out"
	"$repo/agent/python/build-tree.sh" "$out" >&2 || die "agent/python/build-tree.sh failed"
	echo "$out"
}

# The collector's static binary. In order: $AUTOTEL_COLLECTOR_BIN; a build of
# the main package $AUTOTEL_COLLECTOR_PKG (default ./cmd/autotel-collector)
# inside the collector's own Go module, $AUTOTEL_COLLECTOR_MODULE (default collector).
collector_binary() {
	if [ -n "${AUTOTEL_COLLECTOR_BIN:-}" ]; then
		[ -x "$AUTOTEL_COLLECTOR_BIN" ] || die "AUTOTEL_COLLECTOR_BIN=$AUTOTEL_COLLECTOR_BIN is not an executable"
		echo "$AUTOTEL_COLLECTOR_BIN"
		return
	fi
	local module="$repo/${AUTOTEL_COLLECTOR_MODULE:-collector}" pkg=${AUTOTEL_COLLECTOR_PKG:-./cmd/autotel-collector}
	local out="$images/collector-build/autotel-collector"
	[ -d "$module/$pkg" ] || die "no collector main package at $module/$pkg; set AUTOTEL_COLLECTOR_MODULE and AUTOTEL_COLLECTOR_PKG, or AUTOTEL_COLLECTOR_BIN to a built binary"
	mkdir -p "$(dirname "$out")"
	(cd "$module" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out" "$pkg") || die "building the collector ($module/$pkg) failed"
	echo "$out"
}

# ---------------------------------------------------------------- images

tag_of() {
	case "$1" in
	busybox) echo "autotel.local/busybox:$TAG" ;;
	examples-flask | examples-gunicorn | examples-uvicorn) echo "autotel.local/examples/${1#examples-}:$TAG" ;;
	python-agent) echo "autotel.local/autoinstrumentation-python:$TAG" ;;
	collector) echo "autotel.local/collector:$TAG" ;;
	*) die "unknown image '$1' (known: busybox examples-flask examples-gunicorn examples-uvicorn python-agent collector)" ;;
	esac
}

# A fingerprint of a file or tree: names, sizes, times, modes and link
# targets, which is all that goes into a layer besides content that changes
# with them.
fingerprint() {
	find "$1" -printf '%P %s %T@ %m %l\n' | LC_ALL=C sort
}

# Each resolved once per run (apt's resolver and `go build` take seconds on
# a busy machine); build_one runs in this shell so the results stick.
TOOL="" PY_ROOTFS="" BB_ROOTFS=""
need_tool() { if [ -z "$TOOL" ]; then TOOL=$(image_tool); fi; }
need_python_rootfs() { if [ -z "$PY_ROOTFS" ]; then PY_ROOTFS=$(python_rootfs); fi; }
need_busybox_rootfs() { if [ -z "$BB_ROOTFS" ]; then BB_ROOTFS=$(busybox_rootfs); fi; }

# Builds image $1 and sets BUILT to its tarball's path.
build_one() {
	# Sub-steps run into variables first: a failure inside "$(...)" used as an
	# argument would not stop the script.
	local name=$1 tag out app rootfs tree bin key args=() srcs=()
	tag=$(tag_of "$name")
	need_tool
	out="$images/$name.tar"
	case "$name" in
	busybox)
		need_busybox_rootfs
		rootfs=$BB_ROOTFS
		srcs=("$rootfs")
		args=(-layer "$rootfs:/" -env "$PATH_ENV" -cmd /bin/sh)
		;;
	examples-*)
		app=${name#examples-}
		need_python_rootfs
		rootfs=$PY_ROOTFS
		srcs=("$rootfs" "$repo/examples/$app/app.py")
		args=(-layer "$rootfs:/" -layer "$repo/examples/$app/app.py:/app/app.py" -env "$PATH_ENV" -env PYTHONUNBUFFERED=1 -workdir /app)
		# Keep ENV and CMD in step with examples/$app/Dockerfile.
		# shellcheck disable=SC2054 # autotel-image takes comma-separated argument lists
		case "$app" in
		flask) args+=(-env FLASK_RUN_HOST=0.0.0.0 -env FLASK_RUN_PORT=5000 -cmd python3,-m,flask,--app,app,run) ;;
		gunicorn) args+=(-env GUNICORN_CMD_ARGS=--bind=0.0.0.0:8000 -cmd python3,-m,gunicorn,app:app) ;;
		uvicorn) args+=(-env UVICORN_HOST=0.0.0.0 -env UVICORN_PORT=8000 -cmd python3,-m,uvicorn,app:app) ;;
		esac
		;;
	python-agent)
		# Like upstream's autoinstrumentation-python image: busybox for the init
		# container's `cp -r /autoinstrumentation/. <volume>`, plus the tree.
		need_busybox_rootfs
		rootfs=$BB_ROOTFS
		tree=$(python_agent_tree)
		srcs=("$rootfs" "$tree")
		args=(-layer "$rootfs:/" -layer "$tree:/autoinstrumentation" -env "$PATH_ENV")
		;;
	collector)
		bin=$(collector_binary)
		srcs=("$bin")
		args=(-layer "$bin:/autotel-collector" -entrypoint /autotel-collector)
		;;
	esac
	# Rewriting a 90 MiB tarball takes seconds; skip it when neither the
	# tool, the arguments nor any source changed.
	key=$({
		sha256sum "$TOOL" | cut -d' ' -f1
		printf '%s\n' "$tag" "${args[@]}"
		for s in "${srcs[@]}"; do fingerprint "$s"; done
	} | sha256sum | cut -d' ' -f1)
	if [ ! -f "$out" ] || [ "$(cat "$out.key" 2>/dev/null)" != "$key" ]; then
		"$TOOL" build -tag "$tag" -o "$out" "${args[@]}"
		echo "$key" >"$out.key"
	fi
	BUILT=$out
}

case "${1:-}" in
build | import)
	cmd=$1
	shift
	[ $# -gt 0 ] || die "usage: $0 $cmd NAME..."
	tarballs=()
	for n in "$@"; do
		build_one "$n"
		tarballs+=("$BUILT")
	done
	if [ "$cmd" = import ]; then
		"$here/cluster.sh" import "${tarballs[@]}"
		say "imported: $*"
	else
		printf '%s\n' "${tarballs[@]}"
	fi
	;;
list)
	for n in busybox examples-flask examples-gunicorn examples-uvicorn python-agent collector; do printf '%-18s %s\n' "$n" "$(tag_of "$n")"; done
	;;
*) die "usage: $0 build|import NAME... | list" ;;
esac
