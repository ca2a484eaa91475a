# shellcheck shell=bash
# Sourced by the hack/ scripts that build a pinned tool once into a per-user
# cache outside the repository, keyed by name and version, so CI's fresh
# clones reuse it and a version bump never picks up a stale build.

# cache_dir KEY: creates and prints the cache folder for KEY (e.g.
# helm-v4.3.1). AUTOTEL_CACHE, else XDG_CACHE_HOME/autotel, else
# ~/.cache/autotel holds them all.
cache_dir() {
	local dir="${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}/$1/bin"
	mkdir -p "$dir"
	echo "$dir"
}

# cache_lock DIR: holds DIR's lock (file descriptor 9) until the calling
# script exits. One build at a time per cache: parallel test tiers (or two
# clones) wait for the first build instead of racing it.
cache_lock() {
	exec 9>"$1.lock"
	flock 9
}

# cache_build OUT DONE BUILD...: runs BUILD with one more argument, the
# temporary path to write the binary to, and only then moves it to OUT, so
# an interrupted build never looks cached. Says "DONE in Ns" on stderr.
cache_build() {
	local out=$1 done=$2 start
	shift 2
	start=$(date +%s)
	"$@" "$out.tmp"
	mv "$out.tmp" "$out"
	echo "$done in $(($(date +%s) - start))s" >&2
}

# cache_pinned DIR MODULE VERSION: fails unless the tools module in DIR
# requires MODULE at VERSION, the version the calling script caches under.
cache_pinned() {
	local pinned
	pinned=$(cd "$1" && go list -m -f '{{.Version}}' "$2")
	if [ "$pinned" != "$3" ]; then
		echo "$(basename "$0") pins $2 $3 but $1/go.mod requires $pinned; make them agree" >&2
		exit 1
	fi
}
