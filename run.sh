#!/usr/bin/env bash
# Sets everything up, builds, and runs `ustor run` on the built-in default
# (extra arguments go to `ustor run`, e.g. ./run.sh --runtime=30 --json).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target ustor >/dev/null
exec build/release/cli/ustor run "$@"
