#!/usr/bin/env bash
# Build every build type with gcc and clang, warnings as errors, the tests
# included (built, not run): whatever a packager or a developer picks must
# build without a warning.
#   tests/build_matrix.sh [CC...]     (default: gcc clang)
# Each combination builds in build-matrix/<cc>-<type>. Prints one line per
# combination, then "build_matrix: N ok, N failed"; exit 0 only when all built.
# env: BUILD_MATRIX_TYPES (default "Debug RelWithDebInfo Release MinSizeRel")
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
compilers=("$@")
[ ${#compilers[@]} -gt 0 ] || compilers=(gcc clang)
read -r -a types <<<"${BUILD_MATRIX_TYPES:-Debug RelWithDebInfo Release MinSizeRel}"
jobs=$(nproc)
ok=0
failed=0
for cc in "${compilers[@]}"; do
  if ! command -v "$cc" >/dev/null; then
    echo "build_matrix: $cc: not installed (.ci/install-deps --test)"
    failed=$((failed + ${#types[@]}))
    continue
  fi
  for type in "${types[@]}"; do
    dir=build-matrix/$cc-$type
    log=$dir.log
    mkdir -p build-matrix
    start=$SECONDS
    # NANODNS_TESTS=ON: the tests are part of what must build cleanly.
    if CC=$cc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DNANODNS_WERROR=ON \
         -DNANODNS_TESTS=ON >"$log" 2>&1 &&
       cmake --build "$dir" -j"$jobs" >>"$log" 2>&1; then
      echo "build_matrix: $cc $type ok ($((SECONDS - start)) s)"
      ok=$((ok + 1))
    else
      echo "build_matrix: $cc $type FAILED ($((SECONDS - start)) s), from $log:"
      grep -E -m 20 'error|warning' "$log" | sed 's/^/  /'
      failed=$((failed + 1))
    fi
  done
done
echo "build_matrix: $ok ok, $failed failed"
[ "$failed" -eq 0 ]
