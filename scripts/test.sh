#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite twice: a normal build with
# warnings as errors, then the same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
# Set TLSRPT_TEST_SANITIZERS=0 to skip the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)

echo "== build (warnings are errors)"
cmake -S . -B build -G Ninja -DTLSRPT_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
echo "== test suite"
ctest --test-dir build --output-on-failure -j "$jobs"

if [ "${TLSRPT_TEST_SANITIZERS:-1}" != 0 ]; then
  echo "== build with ASan + UBSan"
  cmake -S . -B build-asan -G Ninja -DTLSRPT_WERROR=ON -DTLSRPT_SANITIZE=address,undefined \
    -DTLSRPT_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== test suite under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
fi
