#!/usr/bin/env bash
# Installs the test app's dependencies (pino) into a cache outside the
# repository: <cache>/app/node_modules for test/clients/nodejs/app.
# Idempotent: a cache built from the same lock file is reused. The
# auto-instrumentation itself is the autoinstrumentation-nodejs image of
# internal/imagebuild's table (images/sdk/nodejs), which the test unpacks.
#
# Usage: test/clients/nodejs/install.sh    prints the cache directory.
# Needs node (>= 20.6) and npm.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
dest="$cache_root/nodejs-client-app"

fail() {
	echo "install.sh: $*" >&2
	echo "install.sh: to fix: put Node.js >= 20.6 and npm on PATH, make sure 'npm ping' succeeds (npm's registry must be reachable), then rerun $here/install.sh" >&2
	exit 1
}

command -v node >/dev/null || fail "node is not on PATH"
command -v npm >/dev/null || fail "npm is not on PATH"

# The cache is keyed by everything that decides its contents.
stamp=$(cat "$here/app/package.json" "$here/app/package-lock.json" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$dest/.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$dest"
	exit 0
fi

mkdir -p "$cache_root"
# Concurrent runs (two test processes) build once.
exec 9>"$dest.lock"
flock -w 600 9 || fail "timed out waiting for another install into $dest"
if [ "$(cat "$dest/.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$dest"
	exit 0
fi

echo "installing the test app's packages into $dest" >&2
work=$(mktemp -d "$cache_root/.nodejs-client-app-XXXXXX")
trap 'rm -rf "$work"' EXIT

# --ignore-scripts: nothing in the set needs a build step, and scripts would
# make the result depend on more than the lock file.
npm_ci() {
	(cd "$1" && npm ci --omit=dev --ignore-scripts --engine-strict --no-audit --no-fund --loglevel=error >&2) ||
		fail "npm ci failed in $1 (see above)"
}

mkdir -p "$work/app"
cp "$here/app/package.json" "$here/app/package-lock.json" "$work/app/"
npm_ci "$work/app"

echo "$stamp" >"$work/.stamp"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "installed in $dest" >&2
echo "$dest"
