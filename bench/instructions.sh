#!/usr/bin/env bash
# instructions.sh - instructions per I/O of the port path and of its
# direct-call floor, per synchronization mode, one submitting thread,
# counted by callgrind.  Timings on a shared VM move by tens of percent
# between runs; instruction counts do not, so this is how a change to the
# request path is judged before the timed benchmarks confirm it.
#
#   bench/instructions.sh            all four modes
#   bench/instructions.sh virtual    one mode
#   bench/instructions.sh locks      per StorPort lock call instead (bench_locks)
#
# Each mode runs bench_port twice under callgrind (N and 2N I/Os, one
# repetition each) and divides the difference in instructions by the
# difference in I/Os, so adapter set-up and thread start cancel out.
# Needs valgrind (installed with scripts/setup.sh if missing).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench}
N=${IOS:-20000}
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(half-duplex full-duplex concurrent-channels virtual)
for m in "${modes[@]}"; do
    case "$m" in
    half-duplex | full-duplex | concurrent-channels | virtual | locks) ;;
    *)
        echo "instructions.sh: unknown mode '$m'; expected half-duplex, full-duplex, concurrent-channels, virtual or locks" >&2
        exit 2
        ;;
    esac
done
command -v valgrind >/dev/null || "$ROOT/scripts/setup.sh" valgrind
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target bench_port bench_locks >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "locks": instructions per call of each StorPort lock call that
# bench_locks makes (inclusive, from its call sites; callgrind runs one
# thread at a time, so the two-thread runs add no spinning), then drop
# it from the I/O modes.
if [[ " ${modes[*]} " == *" locks "* ]]; then
    valgrind --tool=callgrind --callgrind-out-file="$tmp/locks" \
        "$BUILD_DIR/bench/bench_locks" --reps=1 --scale=0.05 >/dev/null 2>"$tmp/locks.log" ||
        { cat "$tmp/locks.log" >&2; exit 1; }
    printf '%-40s %14s\n' "StorPort call (lock kind)" "instr/call"
    # bench_locks' loops run DpcLock, StartIoLock, InterruptLock,
    # StorPortSynchronizeAccess, then DpcLock on a STOR_DPC per thread,
    # in that order.
    callgrind_annotate --auto=yes --show-percs=no "$tmp/locks" "$ROOT/bench/bench_locks.c" 2>/dev/null |
        awk '/=> .*:StorPort(AcquireSpinLock|ReleaseSpinLock|SynchronizeAccess) / {
                ir = $1; gsub(",", "", ir); n = $NF; gsub(/[(),x]/, "", n)
                fn = $3; sub(/.*:/, "", fn)
                if (fn == "StorPortAcquireSpinLock") k++
                kind = fn == "StorPortSynchronizeAccess" ? "(empty routine)" : "(" (k == 1 ? "DpcLock" : k == 2 ? "StartIoLock" : k == 3 ? "InterruptLock" : "DpcLock, own STOR_DPC") ")"
                printf "%-40s %14.0f\n", fn " " kind, ir / n; found++
            }
            END { if (found != 9) { print "instructions.sh: expected 9 lock call sites in bench_locks, found " found > "/dev/stderr"; exit 1 } }'
    rest=()
    for m in "${modes[@]}"; do [ "$m" = locks ] || rest+=("$m"); done
    modes=("${rest[@]+"${rest[@]}"}")
    [ ${#modes[@]} -gt 0 ] || exit 0
    echo
fi

# Inclusive instructions of one bench function in a callgrind profile.
inclusive() {
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk -v fn=":$2 " 'index($0, fn) { gsub(",", "", $1); print $1; exit }'
}

printf '%-20s %14s %14s %8s\n' mode "port instr/IO" "floor instr/IO" ratio
for m in "${modes[@]}"; do
    for k in 1 2; do
        valgrind --tool=callgrind --callgrind-out-file="$tmp/$m.$k" \
            "$BUILD_DIR/bench/bench_port" --mode="$m" --threads=1 --reps=1 --ios=$((N * k)) \
            >/dev/null 2>"$tmp/$m.$k.log" || { cat "$tmp/$m.$k.log" >&2; exit 1; }
    done
    # Port I/Os per run: N plus the warm-up's N/5 + 1; the floor runs 10x.
    awk -v n="$N" -v m="$m" \
        -v p1="$(inclusive "$tmp/$m.1" null_port_thread)" -v p2="$(inclusive "$tmp/$m.2" null_port_thread)" \
        -v f1="$(inclusive "$tmp/$m.1" null_direct_thread)" -v f2="$(inclusive "$tmp/$m.2" null_direct_thread)" \
        'BEGIN {
            d = n + int(2 * n / 5) - int(n / 5);
            port = (p2 - p1) / d; flr = (f2 - f1) / (10 * d);
            if (port <= 0 || flr <= 0) { print "instructions.sh: no callgrind counts for " m > "/dev/stderr"; exit 1 }
            printf "%-20s %14.0f %14.0f %7.1fx\n", m, port, flr, port / flr
        }'
done
