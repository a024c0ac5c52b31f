#!/usr/bin/env bash
# Installs the Debian packages ustorport needs, if any are missing.
# Used by run.sh and test.sh; safe to run again.  Extra package names on
# the command line are installed too (bench/instructions.sh: valgrind).
set -euo pipefail

packages=(build-essential cmake clang libclang-rt-dev libcmocka-dev pkg-config git nbdkit nbdkit-plugin-dev libnbd-bin qemu-utils fio "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "ustorport: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "ustorport: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        SUDO=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
