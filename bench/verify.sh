#!/usr/bin/env bash
# verify.sh - what data verification costs the main job: `ustor run`'s
# default workload (the virtio miniport on the simulated virtio-blk
# device, 4 KiB random reads and writes, 2 jobs x QD 16) with each
# --verify method, the methods alternating within each repetition (each
# repetition starting with the next one) so that host load falls on all
# alike, after one unrecorded warm-up run.  Prints I/Os per second, median (min-max),
# and each method over --verify=0.
#
#   bench/verify.sh [--reps=N] [--scale=X] [--quick] [--long] [--markdown]
#
# --scale multiplies the 5 s per run; --quick is --scale=0.4 --reps=2.
# Other bench options (--no-pin) are accepted and ignored, so run-all.sh
# can pass its options on.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench}
reps=3
scale=1
markdown=0
for a in "$@"; do
    case "$a" in
    --reps=*) reps=${a#--reps=} ;;
    --scale=*) scale=${a#--scale=} ;;
    --quick) scale=0.4 reps=2 ;;
    --long) scale=5 ;;
    --markdown) markdown=1 ;;
    --no-pin) ;;
    --help | -h)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "verify.sh: unknown option '$a'; expected --reps=N, --scale=X, --quick, --long, --markdown" >&2
        exit 2
        ;;
    esac
done
case "$reps" in '' | *[!0-9]* | 0)
    echo "verify.sh: --reps=$reps is not a positive whole number" >&2
    exit 2
    ;;
esac
ms=$(awk -v s="$scale" 'BEGIN { v = int(5000 * s); if (v < 200) v = 200; print v }')

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target ustor >/dev/null
USTOR=$BUILD_DIR/cli/ustor

methods=(0 pattern crc32c md5)
declare -A got
# Warm-up, not recorded: the first run after a build or an idle spell is
# slower (page cache, the host's scheduler).
"$USTOR" run --runtime=1s --quiet --verify=0 >/dev/null
for ((r = 0; r < reps; r++)); do
    # Each repetition starts with the next method, so none always runs
    # first or after md5.
    for ((k = 0; k < ${#methods[@]}; k++)); do
        m=${methods[$(((r + k) % ${#methods[@]}))]}
        out=$("$USTOR" run --runtime="${ms}ms" --quiet --verify="$m") || {
            echo "verify.sh: ustor run --verify=$m failed:" >&2
            echo "$out" >&2
            exit 1
        }
        # The results table's "total" row: ios, iops, MiB/s, errors.
        iops=$(awk '/^results/ { r = 1 } r && $1 == "total" { print $3; exit }' <<<"$out")
        [ -n "$iops" ] || { echo "verify.sh: no IOPS in ustor run's report for --verify=$m" >&2; exit 1; }
        got[$m]="${got[$m]:-} $iops"
    done
done

# median (min-max) of a list of numbers, in thousands
stat() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f (%.1f-%.1f)", m / 1000, v[1] / 1000, v[NR] / 1000 }'; }
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
    print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

title="ustor run, default workload, each --verify method, k I/Os per second, median (min-max) of $reps reps of $((ms / 1000)).$(((ms % 1000) / 100)) s"
base=$(median "${got[0]}")
if [ "$markdown" = 1 ]; then
    printf '\n#### %s\n\n| --verify | kIOPS | vs --verify=0 |\n|---|---|---|\n' "$title"
else
    printf '\n== %s\n\n%-10s %-26s %s\n' "$title" "--verify" "kIOPS" "vs --verify=0"
fi
for m in "${methods[@]}"; do
    ratio=$(awk -v a="$(median "${got[$m]}")" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')
    if [ "$markdown" = 1 ]; then
        printf '| %s | %s | %s |\n' "$m" "$(stat "${got[$m]}")" "$ratio"
    else
        printf '%-10s %-26s %s\n' "$m" "$(stat "${got[$m]}")" "$ratio"
    fi
done
echo
echo "crc32c and pattern check every read against what was written (the default is crc32c); md5 is plain C."
