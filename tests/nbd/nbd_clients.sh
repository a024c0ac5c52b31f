#!/usr/bin/env bash
# nbd_clients.sh PLUGIN.so - nbdkit-ustorport-plugin under real NBD clients
# (docs/nbd.md).  For the virtual ramdisk and the virtio miniport on a
# virtio-blk device: nbdinfo (size, capabilities against what the LUN
# reported), qemu-io (patterns at many offsets, aligned and not, FUA,
# flush), nbdcopy (a random file in and out, byte-identical), fio with the
# nbd engine and crc32c verification, trim and zero reading back zeroes
# where the LUN promises it, and no verifier reports.
# Exit 77 (ctest SKIP) only when a client tool is missing.
set -u

plugin=${1:?usage: nbd_clients.sh PATH/nbdkit-ustorport-plugin.so}
size=$((64 * 1024 * 1024))

for tool in nbdkit nbdinfo nbdcopy qemu-io fio timeout cmp head; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed (scripts/setup.sh installs nbdkit, libnbd-bin, qemu-utils, fio)"
        exit 77
    fi
done
if ! fio --enghelp 2>/dev/null | grep -qw nbd; then
    echo "SKIP: this fio has no nbd ioengine (fio --enghelp does not list nbd)"
    exit 77
fi
[ -f "$plugin" ] || { echo "FAIL: no plugin at $plugin (build target nbdkit-ustorport-plugin)"; exit 1; }

# libustorport uses initial-exec TLS (fast IRQL/CPU lookups); nbdkit
# dlopen()s the plugin, so the TLS must fit glibc's static TLS surplus,
# which is too small by default for some builds.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.rtld.optional_static_tls=65536"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ustor-nbd.XXXXXX")
server_pid=""

# Sanitizer builds: nbdkit runs with the sanitizer runtime preloaded.
. "$(dirname "$0")/nbdkit_wrap.sh"
ustor_nbdkit_wrap "$tmp"
failures=0

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        # nbdkit finishes outstanding requests and unloads the plugin
        for _ in $(seq 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "FAIL: nbdkit did not exit within 10 s of SIGTERM"
            failures=$((failures + 1))
            kill -9 "$server_pid" 2>/dev/null
        fi
        wait "$server_pid" 2>/dev/null
        server_pid=""
    fi
}
trap 'stop_server; rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL [$label]: $*"
    failures=$((failures + 1))
}

# start_server LABEL PLUGIN-ARGS...: nbdkit in the foreground (-f) as our
# child, verbose log in $tmp/LABEL.log, Unix socket $sock.
start_server() {
    label=$1
    shift
    sock=$tmp/$label.sock
    log=$tmp/$label.log
    uri="nbd+unix:///?socket=$sock"
    nbdkit -f -v --exit-with-parent -U "$sock" "$plugin" "$@" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 200); do
        [ -S "$sock" ] && grep -q "ustor: serving LUN" "$log" 2>/dev/null && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "nbdkit did not come up within 20 s; its log:"
    cat "$log"
    stop_server
    return 1
}

# The LUN's properties as the plugin logged them ("key=0|1").
lun_flag() {
    sed -n "s/.*ustor: serving LUN.* $1=\([01]\).*/\1/p" "$log" | head -1
}

# expect_can WHAT 0|1
expect_can() {
    timeout 20 nbdinfo --can "$1" "$uri"
    local got=$?
    # nbdinfo --can: 0 yes, 2 no, anything else an error
    [ "$got" = 0 ] || [ "$got" = 2 ] || { fail "nbdinfo --can $1 failed (status $got)"; return; }
    local yes=$((got == 0 ? 1 : 0))
    [ "$yes" = "$2" ] || fail "nbdinfo says can $1 = $yes, the LUN says $2"
}

# qemu_io CMDS...: runs qemu-io on the export; fails on error or mismatch.
qemu_io() {
    local args=()
    for c in "$@"; do args+=(-c "$c"); done
    local out
    out=$(timeout 60 qemu-io -f raw "${args[@]}" "$uri" 2>&1)
    local st=$?
    if [ $st -ne 0 ] || grep -qiE "fail|error|mismatch" <<<"$out"; then
        fail "qemu-io (status $st): $(grep -iE 'fail|error|mismatch' <<<"$out" | head -5)"
        return 1
    fi
    return 0
}

check_export() {
    echo "== $label"
    local bs unmap lbprz wce
    bs=$(sed -n 's/.*ustor: serving LUN.* blocks of \([0-9]*\) bytes.*/\1/p' "$log" | head -1)
    unmap=$(lun_flag unmap)
    lbprz=$(lun_flag lbprz)
    wce=$(lun_flag wce)
    [ -n "$bs" ] && [ -n "$unmap" ] && [ -n "$lbprz" ] && [ -n "$wce" ] ||
        { fail "the plugin did not log the LUN's properties"; return; }

    # --- nbdinfo: size and capabilities
    local got_size
    got_size=$(timeout 20 nbdinfo --size "$uri")
    [ "$got_size" = "$size" ] || fail "nbdinfo --size: $got_size, expected $size"
    timeout 20 nbdinfo --is read-only "$uri" && fail "the export is read-only"
    expect_can write 1
    expect_can flush "$wce"
    expect_can trim "$unmap"
    expect_can zero 1
    expect_can multi-conn 1
    expect_can fua 1
    local minbs
    minbs=$(timeout 20 nbdinfo "$uri" | sed -n 's/.*block_size_minimum: \([0-9]*\).*/\1/p')
    [ "$minbs" = "$bs" ] || fail "block_size_minimum $minbs, the LUN's block is $bs"

    # --- qemu-io: patterns at many offsets, aligned and unaligned, FUA
    local cmds=() reads=() i off len pat
    for i in $(seq 0 39); do
        off=$(( (i * 1638401 + (i % 3) * 777) % (size - 200000) ))
        len=$(( (i % 4 == 0) ? 65536 : (i % 4 == 1) ? 4096 : (i % 4 == 2) ? 1000 : 131072 + 512 ))
        off=$(( i % 2 ? off : off / 4096 * 4096 ))
        pat=$(( (i * 37 + 1) % 255 + 1 ))
        if [ $((i % 5)) = 0 ]; then
            cmds+=("write -f -P $pat $off $len")
        else
            cmds+=("write -P $pat $off $len")
        fi
        reads+=("read -P $pat $off $len")
    done
    qemu_io "${cmds[@]}" "flush" && qemu_io "${reads[@]}" && echo "qemu-io: 40 patterns written and verified"
    # the last block of the device, and a write that straddles into it
    qemu_io "write -P 0x5a $((size - 4096)) 4096" "write -P 0x33 $((size - 6000)) 3000" \
        "read -P 0x33 $((size - 6000)) 3000" "read -P 0x5a $((size - 3000)) 3000"

    # --- zero and trim read back as zeroes
    qemu_io "write -P 0xab 1048576 262144" "write -z 1048576 65536" "read -P 0 1048576 65536" \
        "read -P 0xab 1114112 196608" && echo "zero: reads back zeroes"
    qemu_io "write -P 0xab 2097152 65536" "write -z -u 2097152 65536" "read -P 0 2097152 65536" &&
        echo "zero with unmap allowed: reads back zeroes"
    qemu_io "write -P 0xcd 3145728 8192" "write -z 3146000 3000" "read -P 0xcd 3145728 272" \
        "read -P 0 3146000 3000" "read -P 0xcd 3149000 3920" && echo "unaligned zero: exact"
    if [ "$unmap" = 1 ]; then
        qemu_io "write -P 0xee 4194304 131072" "discard 4194304 131072" "flush" || true
        if [ "$lbprz" = 1 ]; then
            qemu_io "read -P 0 4194304 131072" && echo "trim: reads back zeroes (LBPRZ)"
        else
            echo "trim: accepted; the LUN does not promise zeroes (LBPRZ=0), not checked"
        fi
    fi

    # --- nbdcopy: a random file in and out
    local n=$((5 * 1024 * 1024 + 4096))
    head -c "$n" /dev/urandom >"$tmp/in.bin"
    if timeout 60 nbdcopy "$tmp/in.bin" "$uri" && timeout 60 nbdcopy "$uri" "$tmp/out.bin"; then
        if cmp -n "$n" "$tmp/in.bin" "$tmp/out.bin"; then
            echo "nbdcopy: $n random bytes in and out, identical"
        else
            fail "nbdcopy: the copy differs"
        fi
    else
        fail "nbdcopy failed"
    fi
    rm -f "$tmp/in.bin" "$tmp/out.bin"

    # --- fio over the nbd engine with crc32c verification; each job covers
    # its own 16M once (io_size beyond size rewrites blocks, and fio's
    # randrw verification then checks stale headers even on nbdkit's
    # memory plugin)
    local fout
    fout=$(timeout 120 fio --name=ustor-nbd --ioengine=nbd --uri="$uri" --rw=randrw --bs=4k \
        --iodepth=16 --size=16M --numjobs=2 --offset_increment=16M --verify=crc32c --do_verify=1 --verify_fatal=1 \
        --randseed=1234 --output-format=terse 2>&1)
    local fst=$?
    if [ $fst -ne 0 ] || grep -qi "verify\|error" <<<"$fout"; then
        fail "fio (status $fst): $(head -c 600 <<<"$fout")"
    else
        echo "fio: 2 connections, randrw 4k iodepth 16 with crc32c verification: no errors"
    fi

    # --- the verifier saw nothing, the server logged no error
    if grep -E "ustor verifier|nbdkit: .*error" "$log" | grep -v "debug" | head -5 | grep -q .; then
        fail "errors in the server log: $(grep -E 'ustor verifier|error' "$log" | grep -v debug | head -5)"
    fi
}

for config in "ramdisk miniport=ramdisk" "virtio miniport=virtio device=virtio-blk" \
              "ramdisk-phys miniport=ramdisk-phys sync=full"; do
    set -- $config
    name=$1
    shift
    if start_server "$name" "$@" size=$size verifier=log; then
        check_export
        stop_server
        # the plugin closed the adapter with every request completed
        if grep -q "ustor verifier" "$log" && grep "ustor verifier" "$log" | grep -qv debug; then
            fail "verifier reports at shutdown"
        fi
    fi
done

# A write-protected LUN (ramdisk ro=1): a read-only export, writes refused.
if start_server readonly miniport=ramdisk size=1M miniport-args=ro=1 verifier=log; then
    [ "$(lun_flag wp)" = 1 ] || fail "the ro=1 ramdisk did not report write protection"
    timeout 20 nbdinfo --is read-only "$uri" || fail "the export of a write-protected LUN is writable"
    expect_can trim 0
    if timeout 30 qemu-io -f raw -c "write -P 7 0 4096" "$uri" >"$tmp/ro.out" 2>&1; then
        fail "a write to the write-protected LUN succeeded"
    else
        echo "write-protected LUN: read-only export, write refused ($(grep -io 'permission denied\|read-only[a-z ]*' "$tmp/ro.out" | head -1))"
    fi
    if timeout 30 qemu-io -r -f raw -c "read -P 0 0 4096" "$uri" >"$tmp/ro.out" 2>&1 &&
        ! grep -qi "fail" "$tmp/ro.out"; then
        echo "write-protected LUN: reads work"
    else
        fail "read of the write-protected LUN: $(cat "$tmp/ro.out")"
    fi
    stop_server
fi

# Broken miniports of the CLI tests (tests/cli/testmp.c), when built:
# a verifier violation must reach nbdkit's log at error level, and a disk
# that corrupts reads must fail qemu-io's pattern check (the checks above
# are not vacuous).
if [ -n "${USTOR_TESTMP_BADLOCK:-}" ] && [ -f "$USTOR_TESTMP_BADLOCK" ]; then
    if start_server badlock miniport="$USTOR_TESTMP_BADLOCK" device=none size=1M verifier=log; then
        timeout 30 qemu-io -f raw -c "write -P 7 0 4096" -c "read -P 7 0 4096" "$uri" >/dev/null 2>&1
        stop_server
        if grep -q "error: ustor verifier: ustor-verifier: ERROR StorPortSpinLock" "$log"; then
            echo "verifier: a StorPortSpinLock violation reached nbdkit's log as an error"
        else
            fail "no verifier error in nbdkit's log for the bad-lock miniport"
        fi
    fi
fi
if [ -n "${USTOR_TESTMP_CORRUPT:-}" ] && [ -f "$USTOR_TESTMP_CORRUPT" ]; then
    if start_server corrupt miniport="$USTOR_TESTMP_CORRUPT" device=none size=1M verifier=log; then
        if timeout 30 qemu-io -f raw -c "write -P 7 0 4096" -c "read -P 7 0 4096" "$uri" 2>&1 |
            grep -q "Pattern verification failed"; then
            echo "corrupting miniport: qemu-io's pattern check caught it"
        else
            fail "qemu-io did not notice a miniport that corrupts reads"
        fi
        stop_server
    fi
fi

if [ $failures -ne 0 ]; then
    echo "nbd_clients: $failures failure(s)"
    exit 1
fi
echo "nbd_clients: all checks passed"
exit 0
