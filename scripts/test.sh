#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite twice: a normal build with
# warnings as errors, then the same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
# Set TLSRPT_TEST_SANITIZERS=0 to skip the sanitizer pass. Between them, the documented fuzz
# build of fuzz_dkim (TLSRPT_TEST_FUZZ_BUILD=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
jobs=$(nproc)

# Runs the suite in build folder $1; when tests fail, prints the end of each failing test's output
# once more after ctest's summary, so that the last lines of a CI log say why.
run_suite() {
  local dir=$1; shift
  if env "$@" ctest --test-dir "$dir" --output-on-failure -j "$jobs"; then return 0; fi
  echo "== the failing tests again: their FAIL lines, then the end of their output"
  local name out
  while IFS=: read -r _ name; do
    out=$(awk -v t="$name" '$0 ~ "^[0-9]+/[0-9]+ Test: " && $3 == t { on = 1; next }
      on && /^<end of output>/ { exit } on' "$dir/Testing/Temporary/LastTest.log")
    echo "-- $name"
    grep -m 20 'FAIL' <<<"$out"
    echo "-- $name (last 15 lines)"
    tail -n 15 <<<"$out"
  done <"$dir/Testing/Temporary/LastTestsFailed.log"
  return 1
}

echo "== build (warnings are errors)"
cmake -S . -B build -G Ninja -DTLSRPT_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
echo "== test suite"
run_suite build

# The fuzz build as tests/fuzz/README.md documents it (clang, libFuzzer, ASan + UBSan), so that
# the recipe cannot rot: fuzz_dkim, the target that needs the most of the tree, built and run
# once over its kept inputs (no fuzzing). TLSRPT_TEST_FUZZ_BUILD=0 skips it.
if [ "${TLSRPT_TEST_FUZZ_BUILD:-1}" != 0 ]; then
  echo "== fuzz build (clang, libFuzzer, ASan + UBSan): fuzz_dkim"
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DTLSRPT_FUZZ=ON -DTLSRPT_SANITIZE=address,undefined \
    -DTLSRPT_BUILD_TESTS=ON >/dev/null
  cmake --build build-fuzz -j "$jobs" --target fuzz_dkim
  build-fuzz/tests/fuzz/fuzz_dkim -runs=0 tests/fuzz/corpus/dkim 2>&1 | grep -E '^(INFO: seed corpus|Done|==[0-9]+==ERROR)'
fi

if [ "${TLSRPT_TEST_SANITIZERS:-1}" != 0 ]; then
  echo "== build with ASan + UBSan"
  cmake -S . -B build-asan -G Ninja -DTLSRPT_WERROR=ON -DTLSRPT_SANITIZE=address,undefined \
    -DTLSRPT_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== test suite under ASan + UBSan"
  # fast_unwind_on_malloc=0: exact allocation stacks through libpq, so that the one library leak
  # in tests/lsan.supp is matched by its function and nothing else is hidden.
  run_suite build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
fi
