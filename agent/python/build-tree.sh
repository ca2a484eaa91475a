#!/usr/bin/env bash
# Fills OUT with what the agent image carries at /autoinstrumentation: the
# files of src/ that image/build.py packs (no __pycache__, *.pyc, *.pyo).
# hack/cluster-images.sh calls it to build the one-node cluster's agent image.
#
# Usage: agent/python/build-tree.sh OUT   (OUT must be an empty directory)
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/src" && pwd)
out=${1:?usage: $0 OUT}
[ -d "$out" ] && [ -z "$(ls -A "$out")" ] || { echo "build-tree: $out must be an empty directory" >&2; exit 1; }

# Modification times are kept: the image builder keys its cache on them, so
# an unchanged agent does not rebuild the image on every run.
tar -C "$src" --exclude=__pycache__ --exclude='*.pyc' --exclude='*.pyo' -cf - . | tar -C "$out" -xf -
find "$out" -type d -exec chmod 755 {} +
find "$out" -type f -exec chmod 644 {} +
[ -f "$out/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py" ] ||
	{ echo "build-tree: no sitecustomize.py under $src" >&2; exit 1; }
echo "build-tree: $(find "$out" -type f | wc -l) files from $src" >&2
