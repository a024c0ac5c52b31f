#!/usr/bin/env bash
# nbd_serve.sh SERVE-PROGRAM - `ustor serve`: prints a URI that real
# clients can use (Unix socket and TCP), stops cleanly on SIGINT with exit
# status 0, and rejects bad options with status 2 and a message.
# SERVE-PROGRAM is `ustor serve` or the test's stand-alone build of it.
set -u
serve=("$@")
[ ${#serve[@]} -gt 0 ] || { echo "usage: nbd_serve.sh PROGRAM [serve]"; exit 2; }
for tool in nbdkit nbdinfo qemu-io timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ustor-serve-test.XXXXXX")
pid=""

# Sanitizer builds: nbdkit runs with the sanitizer runtime preloaded.
. "$(dirname "$0")/nbdkit_wrap.sh"
ustor_nbdkit_wrap "$tmp"
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run_case LABEL ARGS...: serve, use, Ctrl-C.
run_case() {
    local label=$1
    shift
    # Files of their own per case: a previous case's server may still hold
    # its stdout for a moment after it stopped.
    local out="$tmp/out.$label" errf="$tmp/err.$label"
    "${serve[@]}" "$@" >"$out" 2>"$errf" &
    pid=$!
    local uri=""
    for _ in $(seq 300); do
        uri=$(head -1 "$out")
        [ -n "$uri" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$uri" ]; then
        fail "[$label] no URI printed; stderr: $(cat "$errf")"
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        pid=""
        return
    fi
    echo "[$label] serving at $uri"
    local size
    size=$(timeout 20 nbdinfo --size "$uri")
    [ "$size" = $((32 * 1024 * 1024)) ] || fail "[$label] nbdinfo --size says '$size', expected 33554432"
    timeout 30 qemu-io -f raw -c "write -P 0x42 4096 65536" -c "read -P 0x42 4096 65536" "$uri" \
        >"$tmp/qio" 2>&1 || fail "[$label] qemu-io: $(cat "$tmp/qio")"
    kill -INT "$pid"
    local st=""
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "[$label] still running 20 s after SIGINT"
        kill -9 "$pid"
    fi
    wait "$pid"
    st=$?
    pid=""
    [ "$st" = 0 ] || fail "[$label] exit status $st after SIGINT; stderr: $(cat "$errf")"
    grep -q "stopped" "$errf" || fail "[$label] did not report a clean stop: $(cat "$errf")"
    if [[ $uri == *socket=* ]] && [ -e "${uri#*socket=}" ]; then
        fail "[$label] the socket ${uri#*socket=} was left behind"
    fi
}

run_case unix --miniport=ramdisk --size=32M
run_case virtio-tcp --miniport=virtio --device=virtio-blk --size=32M --tcp=$((20000 + $$ % 20000))
run_case socket --miniport=ramdisk-phys --sync=concurrent --size=32M --socket="$tmp/given.sock"

# bad input: status 2 and a sentence naming the option
"${serve[@]}" --size=12x >/dev/null 2>"$tmp/err"
st=$?
[ "$st" = 2 ] && grep -q -- "--size=12x" "$tmp/err" || fail "bad --size: status $st, '$(cat "$tmp/err")'"
"${serve[@]}" --bogus=1 >/dev/null 2>"$tmp/err"
st=$?
[ "$st" = 2 ] && grep -q -- "--bogus" "$tmp/err" || fail "unknown option: status $st, '$(cat "$tmp/err")'"
# a miniport that does not exist: nbdkit exits, serve says so (status 4)
timeout 60 "${serve[@]}" --miniport=no-such-miniport >/dev/null 2>"$tmp/err"
st=$?
[ "$st" = 4 ] && grep -q "no-such-miniport" "$tmp/err" ||
    fail "unknown miniport: status $st, '$(cat "$tmp/err")'"

[ $failures = 0 ] || { echo "nbd_serve: $failures failure(s)"; exit 1; }
echo "nbd_serve: all checks passed"
