#!/usr/bin/env bash
# Issue 24's last test: a fresh clone's `.ci/run`, N times in a row (default 5), with a CPU
# burner pinned to core 0 throughout. Usage: scripts/ci_with_burner.sh [COMMIT] [N]
# Each run's output goes to $OUT/run-K.txt and a line per run to $OUT/log; it stops at the
# first failure. Run it with nothing else heavy on the machine (it takes ~25 min a run).
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
commit="${1:-$(git -C "$repo" rev-parse HEAD)}"
runs="${2:-5}"
OUT="${OUT:-/tmp/ci-burner}"
mkdir -p "$OUT"
taskset -c 0 python3 -c 'while 1: pass' &
burner=$!
trap 'kill $burner 2>/dev/null' EXIT
for k in $(seq "$runs"); do
    clone="$(mktemp -d)" && chmod 755 "$clone"  # (uid 65534 runs the clone in the tests)
    git clone -q "$repo" "$clone" && git -C "$clone" checkout -q "$commit" || exit 2
    start=$SECONDS
    if (cd "$clone" && bash .ci/run) >"$OUT/run-$k.txt" 2>&1; then rc=0; else rc=$?; fi
    echo "run $k rc=$rc $((SECONDS - start)) s ${commit:0:8} $(grep -E ' (passed|failed) ' "$OUT/run-$k.txt" | tr '\n' ' ')" | tee -a "$OUT/log"
    rm -rf "$clone"
    [ "$rc" = 0 ] || exit 1
done
