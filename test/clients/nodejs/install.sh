#!/usr/bin/env bash
# Installs the OpenTelemetry Operator's Node.js auto-instrumentation image
# contents from npm, laid out as the image lays them out, and the test app's
# dependencies, into a cache outside the repository. Idempotent: a cache
# built from the same lock files is reused.
#
# Layout of <cache>/autoinstrumentation (the image's /autoinstrumentation,
# which its init container copies with `cp -r /autoinstrumentation/. ...`):
#   node_modules/, package.json        the pinned packages, production only
#   register.js, utils.js, index.js    auto-instrumentations-node's build/src,
#                                      copied to the top as the image does
#   autoinstrumentation.js             a hard link to register.js: the path
#                                      the operator's NODE_OPTIONS requires
# and <cache>/app/node_modules for test/clients/nodejs/app.
#
# Usage: test/clients/nodejs/install.sh    prints the cache directory.
# Needs node (the pinned packages declare ^18.19.0 || >=20.6.0) and npm.
set -euo pipefail

# The auto-instrumentations-node release the operator's image pins; see
# package.json for the rest of the set.
VERSION=0.78.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
dest="$cache_root/nodejs-autoinstr-$VERSION"

fail() {
	echo "install.sh: $*" >&2
	echo "install.sh: to fix: put Node.js >= 20.6 and npm on PATH, make sure 'npm ping' succeeds (npm's registry must be reachable), then rerun $here/install.sh" >&2
	exit 1
}

command -v node >/dev/null || fail "node is not on PATH"
command -v npm >/dev/null || fail "npm is not on PATH"
grep -q "\"@opentelemetry/auto-instrumentations-node\": \"$VERSION\"" "$here/package.json" ||
	fail "package.json does not pin auto-instrumentations-node $VERSION; update VERSION here too"

# The cache is keyed by everything that decides its contents.
stamp=$(cat "$here/package.json" "$here/package-lock.json" "$here/app/package.json" "$here/app/package-lock.json" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
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

echo "installing the Node.js auto-instrumentation $VERSION into $dest (about a minute)" >&2
work=$(mktemp -d "$cache_root/.nodejs-autoinstr-XXXXXX")
trap 'rm -rf "$work"' EXIT

# --ignore-scripts: nothing in the set needs a build step (protobufjs's
# postinstall only prints a version warning), and scripts would make the
# result depend on more than the lock file.
npm_ci() {
	(cd "$1" && npm ci --omit=dev --ignore-scripts --engine-strict --no-audit --no-fund --loglevel=error >&2) ||
		fail "npm ci failed in $1 (see above)"
}

mkdir -p "$work/build" "$work/app"
cp "$here/package.json" "$here/package-lock.json" "$work/build/"
npm_ci "$work/build"

image="$work/autoinstrumentation"
mkdir -p "$image"
mv "$work/build/node_modules" "$work/build/package.json" "$image/"
cp -r "$image/node_modules/@opentelemetry/auto-instrumentations-node/build/src/." "$image/"
ln "$image/register.js" "$image/autoinstrumentation.js"
chmod -R go+r "$image"
rm -rf "$work/build"

cp "$here/app/package.json" "$here/app/package-lock.json" "$work/app/"
npm_ci "$work/app"

echo "$stamp" >"$work/.stamp"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "installed in $dest" >&2
echo "$dest"
