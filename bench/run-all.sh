#!/usr/bin/env bash
# run-all.sh - builds the benchmarks (Release) and runs them all, writing
# a Markdown summary to bench/results/latest.md (and to stdout).
#
#   bench/run-all.sh            default run (about two minutes on 2 cores)
#   bench/run-all.sh --quick    shorter runs, 3 repetitions
#   bench/run-all.sh --long     5x the work per repetition
#
# Any options are passed to every program (see <program> --help).
# BUILD_DIR overrides the build directory (default build/bench).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench}
OUT_DIR=$ROOT/bench/results
OUT=$OUT_DIR/latest.md
JOBS=${JOBS:-2}

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target bench >/dev/null

mkdir -p "$OUT_DIR"
TMP=$OUT.tmp
{
    echo "# ustorport benchmarks"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- options: ${*:-(defaults)}"
    echo "- CPUs: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    echo "- kernel: $(uname -sr)"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    # bench/results is this script's own output (the summary being
    # written is already there): not a change to the tree measured.
    if command -v git >/dev/null 2>&1 && git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
        echo "- tree: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" status --porcelain -- . ':!bench/results' | grep -q . && echo ' (with uncommitted changes)')"
    fi
    echo "- compiler flags: CMAKE_BUILD_TYPE=Release"
} > "$TMP"
cat "$TMP"

status=0
for b in bench_port bench_scaling bench_locks bench_interrupt bench_verifier bench_memory bench_digest; do
    if ! "$BUILD_DIR/bench/$b" --markdown "$@" 2>"$OUT_DIR/$b.stderr" | tee -a "$TMP"; then
        echo "**$b failed** (stderr in bench/results/$b.stderr)" | tee -a "$TMP"
        status=1
    fi
    # Keep stderr only when it says something.
    [ -s "$OUT_DIR/$b.stderr" ] || rm -f "$OUT_DIR/$b.stderr"
done
# The main job with each verification method (a script: it runs `ustor`).
if ! BUILD_DIR=$BUILD_DIR "$ROOT/bench/verify.sh" --markdown "$@" 2>"$OUT_DIR/verify.stderr" | tee -a "$TMP"; then
    echo "**verify.sh failed** (stderr in bench/results/verify.stderr)" | tee -a "$TMP"
    status=1
fi
[ -s "$OUT_DIR/verify.stderr" ] || rm -f "$OUT_DIR/verify.stderr"

{
    echo
    echo "## Targets"
    echo
    grep -h -- '-> \(MET\|NOT MET\)' "$TMP" | sed 's/^ */- /'
    echo
    echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$TMP"
mv "$TMP" "$OUT"
echo
echo "written to $OUT"
exit $status
