#!/usr/bin/env bash
# Every test of autotel's Python log agent (agent/python/README.md):
#   - unit tests (Python unittest) under Debian's python3, and again under
#     each other CPython >= 3.8 found on the machine (pyenv's, if any);
#   - the Go harness: real Flask / gunicorn / uvicorn / FastAPI servers from
#     Debian packages, started with the environment autotel's pod webhook
#     injects, exporting to an OTLP receiver that decodes with real OTLP
#     implementations; pre-fork servers, multiprocessing, faults.
# Installs the Debian packages it needs. Exits non-zero on any failure; the
# last line is "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")" || exit 1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

passed=0
failed=0
fail_setup() {
	echo "test.sh: $*" >&2
	echo "$passed passed, $((failed + 1)) failed"
	exit 1
}

# --- Debian packages -------------------------------------------------------
need=(python3 python3-flask gunicorn python3-uvicorn python3-fastapi busybox-static)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Another apt run on the machine holds the lock for a while: wait for it.
	if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq >"$logs/apt.txt" 2>&1 &&
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >>"$logs/apt.txt" 2>&1; }; then
		cat "$logs/apt.txt" >&2
		fail_setup "could not install ${missing[*]}"
	fi
fi
debian_python=/usr/bin/python3
[ -x "$debian_python" ] || fail_setup "$debian_python missing"

# --- Python unit tests -----------------------------------------------------
interpreters=("$debian_python")
if command -v pyenv >/dev/null 2>&1; then
	for p in "$(pyenv root)"/versions/3.*/bin/python3; do
		[ -x "$p" ] && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null && interpreters+=("$p")
	done
fi
for py in "${interpreters[@]}"; do
	start=$(date +%s)
	out="$logs/unit-$(basename "$(dirname "$(dirname "$py")")").txt"
	PYTHONDONTWRITEBYTECODE=1 "$py" tests/run.py >"$out" 2>&1
	line=$(grep '^PYRESULT ' "$out" | tail -1)
	if [ -z "$line" ]; then
		cat "$out" >&2
		failed=$((failed + 1))
		echo "unit tests ($py): runner crashed" >&2
		continue
	fi
	p=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line")
	f=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || cat "$out" >&2
	echo "unit tests, $(cut -d' ' -f2 <<<"$line") ($py): $p passed, $f failed, $(($(date +%s) - start))s"
done

# --- Go harness ------------------------------------------------------------
start=$(date +%s)
# The harness module is built in workspace mode (harness/go.work), where
# -mod flags from the environment are refused.
(cd harness && env -u GOFLAGS go test -count=1 -v -timeout 15m ./... >"$logs/go.txt" 2>&1)
go_rc=$?
gp=$(grep -cE '^\s*--- PASS' "$logs/go.txt")
gf=$(grep -cE '^\s*--- FAIL' "$logs/go.txt")
if [ "$go_rc" -ne 0 ] && [ "$gf" -eq 0 ]; then
	gf=1 # build error, panic or timeout: no test line says so
fi
passed=$((passed + gp))
failed=$((failed + gf))
if [ "$gf" -ne 0 ]; then
	grep -vE '^\s*(=== RUN|--- PASS)' "$logs/go.txt" | tail -200 >&2
fi
grep -E '^\s*--- (PASS|FAIL)' "$logs/go.txt"
echo "go harness: $gp passed, $gf failed, $(($(date +%s) - start))s"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
