#!/usr/bin/env bash
# Install what is missing, build, and run every test: once in a normal
# build (build/), once under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/), then each libFuzzer target for FUZZ_SECONDS (default 30).
# Warnings are errors here (NANODNS_WERROR), as in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${FUZZ_SECONDS:-30}
jobs=$(nproc)

.ci/install-deps --test

echo "== normal build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNANODNS_WERROR=ON -DNANODNS_TESTS=ON
cmake --build build -j"$jobs"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
(cd build && ctest --output-on-failure -j"$jobs") | tee "$log"

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNANODNS_SANITIZE=ON -DNANODNS_WERROR=ON \
  -DNANODNS_TESTS=ON
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs") | tee -a "$log"

if [ "$fuzz_seconds" -gt 0 ]; then
  echo "== fuzzing, ${fuzz_seconds}s per target"
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DNANODNS_FUZZ=ON -DNANODNS_WERROR=ON
  cmake --build build-fuzz -j"$jobs" --target fuzz_query fuzz_image fuzz_config fuzz_relay \
    fuzz_envelope fuzz_http_response fuzz_api
  for target in fuzz_query fuzz_image fuzz_config fuzz_relay fuzz_envelope fuzz_http_response \
                fuzz_api; do
    corpus=$(mktemp -d)
    seeds=tests/fuzz/corpus/$target
    [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
    build-fuzz/tests/$target -max_total_time="$fuzz_seconds" -print_final_stats=0 "$corpus" \
      2>&1 | tail -n 3
    rm -rf "$corpus"
  done
fi
# ctest stops the script on any failure, so every test counted here passed.
passed=$(( $(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | paste -sd+) ))
echo "ctest runs, normal and sanitizer builds:"
echo "ctest: ${passed} passed, 0 failed"
