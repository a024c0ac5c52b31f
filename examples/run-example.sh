#!/bin/sh
# Installs ustorport from a build directory into a temporary prefix, builds
# examples/minimal against it with pkg-config, and runs it with ustor.
# Usage: examples/run-example.sh [BUILD_DIR]   (default: build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
[ -d "$build" ] || { echo "run-example.sh: build directory $build not found; give it as the first argument" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ustor-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log" >&2; echo "run-example.sh: cmake --install failed" >&2; exit 1; }

# GNUInstallDirs picks lib, lib64 or lib/<multiarch>: find where the .pc went.
pc=$(find "$tmp/prefix" -name ustorport.pc | head -n 1)
[ -n "$pc" ] || { echo "run-example.sh: ustorport.pc was not installed" >&2; exit 1; }
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")

cp "$here/minimal/minimal.c" "$here/minimal/Makefile" "$tmp/"
PKG_CONFIG_PATH="$pcdir" make -s -C "$tmp" >"$tmp/make.log" 2>&1 || {
    cat "$tmp/make.log" >&2; echo "run-example.sh: building the example failed" >&2; exit 1; }

cd "$tmp"
status=0
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$tmp/prefix/bin/ustor" run --miniport ./libexample.so --runtime=2 --verify=crc32c --quiet || status=$?
if [ "$status" -ne 0 ]; then
    echo "run-example.sh: ustor run exited with status $status (expected 0)" >&2
    exit 1
fi
echo "run-example.sh: ok"
