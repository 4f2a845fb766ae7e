#!/usr/bin/env bash
# Builds the test suite with sanitizers and runs it; exits nonzero on any failure or report.
#
#   scripts/sanitize.sh [asan|tsan|all]   (default asan)
#
#   asan  every test but those labelled `heavy` (ctest -LE heavy: tests that start servers or run
#         long loads; the Release run covers them), built with AddressSanitizer +
#         UndefinedBehaviorSanitizer (leak checks on, UB fatal) in build-asan/.
#   tsan  the tests labelled `concurrency` (ctest -L concurrency), built with ThreadSanitizer in
#         build-tsan/. Label a test with
#           set_tests_properties(NAME PROPERTIES LABELS concurrency)
#         in its tests/ CMakeLists.txt when it runs our code on several threads.
#
# Compiler: clang-14 (Debian 12: clang-14 libclang-rt-14-dev), -O1 -g -DNDEBUG (NDEBUG as in
# release builds: the tools warn about assertions, and the CLI tests check their output). Debian's libraries
# (protobuf, abseil, TBB, ...) stay uninstrumented: ASan/UBSan need nothing from them; for TSan,
# scripts/tsan.supp says which reports inside libtbb are false positives. Installs nothing.
# Environment: JOBS (default 2), CXX (default clang++-14).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=${1:-asan}
jobs=${JOBS:-2}
cxx=${CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "$cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

configure() {  # build_dir sanitizer_flags
  cmake -S . -B "$1" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" \
    -DCMAKE_CXX_FLAGS="$2 -fno-omit-frame-pointer" \
    -DRANKOPT_BUILD_TESTS=ON -DRANKOPT_BUILD_BENCH=OFF >/dev/null
}

run_asan() {
  local dir=build-asan start=$SECONDS
  configure "$dir" "-fsanitize=address,undefined -fno-sanitize-recover=undefined"
  # -k 0: a target that does not build fails the run, but the other tests still run.
  local built=0 tested=0
  ninja -C "$dir" -j "$jobs" -k 0 || built=$?
  echo "asan: built in $((SECONDS - start)) s"
  local t=$SECONDS
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1 \
  UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 1800 -LE heavy || tested=$?
  echo "asan: tests ran in $((SECONDS - t)) s; total $((SECONDS - start)) s"
  (( built == 0 )) || echo "asan: some targets did not build" >&2
  (( built == 0 && tested == 0 ))
}

run_tsan() {
  local dir=build-tsan start=$SECONDS
  configure "$dir" "-fsanitize=thread"
  # Only the test executables that carry the label (and what they need).
  local tests=() name
  while read -r name; do
    ninja -C "$dir" -t query "$name" >/dev/null 2>&1 && tests+=("$name")
  done < <(ctest --test-dir "$dir" -N -L concurrency | sed -n 's/^ *Test *#[0-9]*: *//p')
  if [[ ${#tests[@]} -eq 0 ]]; then
    echo "tsan: no test is labelled concurrency" >&2
    return 1
  fi
  local built=0 tested=0
  ninja -C "$dir" -j "$jobs" -k 0 "${tests[@]}" || built=$?
  echo "tsan: built ${#tests[@]} tests in $((SECONDS - start)) s"
  local t=$SECONDS
  local options="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1"
  [[ -f scripts/tsan.supp ]] && options+=":suppressions=$root/scripts/tsan.supp"
  TSAN_OPTIONS=$options ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 1800 \
    -L concurrency || tested=$?
  echo "tsan: tests ran in $((SECONDS - t)) s; total $((SECONDS - start)) s"
  (( built == 0 )) || echo "tsan: some tests did not build" >&2
  (( built == 0 && tested == 0 ))
}

case $mode in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) status=0; run_asan || status=$?; run_tsan || status=$?; exit $status ;;
  *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;;
esac
