#!/usr/bin/env bash
# Sets everything up and runs the whole test suite three times:
#   gcc (plain build), clang with ASan+UBSan, clang with TSan (the
#   concurrency-labelled tests).  Warnings are errors in every build.
# Exit status: 0 when every build and every test passed.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
jobs=$(nproc)

build() { # name, extra cmake args...
    local name=$1
    shift
    if ! cmake -S . -B "build/$name" "$@" >"build/$name.configure.log" 2>&1; then
        cat "build/$name.configure.log"
        return 1
    fi
    if ! cmake --build "build/$name" -j"$jobs" >"build/$name.build.log" 2>&1; then
        grep -E "error|Error|undefined" "build/$name.build.log" | head -60
        echo "ustorport: the $name build failed; full log in build/$name.build.log"
        return 1
    fi
}

mkdir -p build
status=0

echo "== gcc build, all tests"
build gcc -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo || status=1
if [ $status = 0 ]; then (cd build/gcc && ctest --output-on-failure -j"$jobs") || status=1; fi

echo "== clang + ASan + UBSan build, all tests"
if build asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DUSTOR_SANITIZE=address,undefined; then
    (cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        USTOR_ITER_SCALE=0.5 ctest --output-on-failure -j"$jobs") || status=1
else
    status=1
fi

echo "== clang + TSan build, concurrency tests"
if build tsan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DUSTOR_SANITIZE=thread; then
    # TSan needs a low-entropy address space on some kernels: run without ASLR.
    runner=""
    command -v setarch >/dev/null && setarch "$(uname -m)" -R true 2>/dev/null && runner="setarch $(uname -m) -R"
    (cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 USTOR_ITER_SCALE=0.25 \
        $runner ctest --output-on-failure -j"$jobs" -L concurrency) || status=1
else
    status=1
fi

if [ $status = 0 ]; then echo "ustorport: all test builds passed"; else echo "ustorport: FAILURES above"; fi
exit $status
