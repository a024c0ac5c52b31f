#!/usr/bin/env bash
# bench-nbd.sh [PLUGIN.so] - the same fio jobs against nbdkit's memory
# plugin and against nbdkit-ustorport-plugin on the virtual ramdisk, on
# this machine, one run each; prints both and ours/memory (target >= 0.9).
#
# Jobs (fio --ioengine=nbd over a Unix socket): 4 KiB randread and
# randwrite at iodepth 32, 1 MiB sequential read at iodepth 8.
#   BENCH_RUNTIME   seconds per job (default 10)
#   BENCH_SIZE      export size (default 256M)
#   BENCH_THREADS   nbdkit --threads (default 16)
#   BENCH_USTOR_ARGS extra plugin arguments (default
#                   miniport-args=complete=inline; "" for the miniport's default)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
plugin=${1:-}
if [ -z "$plugin" ]; then
    for cand in "$here"/../../build/*/nbd/nbdkit-ustorport-plugin.so; do
        [ -f "$cand" ] && plugin=$cand && break
    done
fi
[ -n "$plugin" ] && [ -f "$plugin" ] ||
    { echo "bench-nbd: give the plugin: bench-nbd.sh PATH/nbdkit-ustorport-plugin.so" >&2; exit 2; }
for tool in nbdkit nbdinfo fio; do
    command -v "$tool" >/dev/null || { echo "bench-nbd: $tool is not installed" >&2; exit 2; }
done
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "bench-nbd: this fio lacks the nbd engine" >&2; exit 2; }

runtime=${BENCH_RUNTIME:-10}
size=${BENCH_SIZE:-256M}
threads=${BENCH_THREADS:-16}
# The virtual ramdisk completes inline: no DPC hop, as a RAM disk would
ustor_args=${BENCH_USTOR_ARGS-miniport-args=complete=inline}
# libustorport's initial-exec TLS must fit in a dlopen()ed library's share
export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.rtld.optional_static_tls=65536"

load=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-nbd.XXXXXX")
servers=""
cleanup() {
    for p in $servers; do kill "$p" 2>/dev/null; done
    for p in $servers; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

declare -A pids socks

start() { # start NAME PLUGIN ARGS...
    local name=$1
    shift
    local sock=$tmp/$name.sock
    nbdkit -f --exit-with-parent --threads="$threads" -U "$sock" "$@" >"$tmp/$name.log" 2>&1 &
    pids[$name]=$!
    socks[$name]=$sock
    servers="$servers $!"
    for _ in $(seq 300); do
        [ -S "$sock" ] && nbdinfo --size "nbd+unix:///?socket=$sock" >/dev/null 2>&1 && return 0
        kill -0 "${pids[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench-nbd: nbdkit $* did not start:" >&2
    cat "$tmp/$name.log" >&2
    exit 1
}

# job TARGET NAME RW BS IODEPTH -> prints "IOPS MiB/s"
job() {
    local out
    out=$(timeout $((runtime + 60)) fio --name="$2" --ioengine=nbd \
        --uri="nbd+unix:///?socket=${socks[$1]}" --rw="$3" --bs="$4" --iodepth="$5" \
        --size="$size" --time_based --runtime="$runtime" --ramp_time=1 --group_reporting \
        --output-format=terse --terse-version=3 2>/dev/null)
    # terse v3: field 7/8 read KiB/s and IOPS, 48/49 the same for writes
    awk -F';' -v w="$([[ $3 == *write* ]] && echo 1 || echo 0)" '$1 == "3" {
        bw = w ? $48 : $7; iops = w ? $49 : $8
        printf "%.0f %.1f\n", iops, bw / 1024 }' <<<"$out"
}

# Both servers run side by side (idle while the other is measured) and
# each job runs against one then the other, so that drift in the
# machine's load hits both alike.
start memory memory "$size"
start ustor "$plugin" miniport=ramdisk size="$size" verifier=off $ustor_args
for target in memory ustor; do
    # fill once so that reads see written data on both
    fio --name=fill --ioengine=nbd --uri="nbd+unix:///?socket=${socks[$target]}" --rw=write \
        --bs=1m --iodepth=8 --size="$size" >/dev/null 2>&1
done

declare -A result
jobs=("randread-4k randread 4k 32" "randwrite-4k randwrite 4k 32" "seqread-1m read 1m 8")
for j in "${jobs[@]}"; do
    for target in memory ustor; do
        result[$target.${j%% *}]=$(job $target $j)
    done
done

printf '%-14s %14s %14s %14s %14s %8s\n' job "memory IOPS" "memory MiB/s" "ustor IOPS" "ustor MiB/s" ratio
worst=""
for j in "${jobs[@]}"; do
    set -- $j
    read -r mi mb <<<"${result[memory.$1]}"
    read -r ui ub <<<"${result[ustor.$1]}"
    ratio=$(awk -v u="$ui" -v m="$mi" 'BEGIN { printf "%.2f", (m > 0 ? u / m : 0) }')
    printf '%-14s %14s %14s %14s %14s %8s\n' "$1" "$mi" "$mb" "$ui" "$ub" "$ratio"
    worst=$(awk -v a="${worst:-$ratio}" -v b="$ratio" 'BEGIN { print (b < a ? b : a) }')
done
echo "lowest ratio ustor/memory: $worst (target >= 0.9); $runtime s per job, nbdkit --threads=$threads,"
echo "$(nproc) CPUs, load average before: $load; ustor: miniport=ramdisk verifier=off $ustor_args"
