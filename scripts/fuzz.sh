#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, clang-14 with ASan+UBSan), makes their seed corpora
# from tests/data (and ../shared/models when present), and runs each target for a while.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]   (default: every target)
#
# Needs clang-14 and libclang-rt-14-dev (Debian 12) besides scripts/install_deps.sh; installs
# nothing. Exits nonzero when any target finds a crash, leak, timeout, out-of-memory or
# sanitizer report; the input is written to build-fuzz/artifacts/<target>/. Reproduce one with
#   build-fuzz/fuzz/<target> build-fuzz/artifacts/<target>/crash-...
# New inputs that reach new code are kept in fuzz/corpus/<target>/ (not checked in) for the
# next run. Environment: BUILD_DIR (default build-fuzz), JOBS (default 2), RUNS (stop a target
# after this many executions, or at SECONDS, whichever comes first: the depth campaign is
#   RUNS=10000000 scripts/fuzz.sh 86400 TARGET, for the 10M-execution depth runs), CAMPAIGN=1
# (executions over bookkeeping, for depth runs: libFuzzer's -entropic=0 and, unless ASAN_OPTIONS
# is set, ASan's malloc_context_size=0; 1.3-2.6x the executions per second on the slow targets,
# reports without allocation stacks: reproduce a finding without CAMPAIGN to get them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-60}
shift || true
all_targets=(tf_graphdef_fuzz savedmodel_fuzz onnx_fuzz feature_config_fuzz request_json_fuzz
             package_fuzz score_fuzz http_request_fuzz tf_example_fuzz)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
build_dir=${BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
shared=$root/../shared/models

for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "unknown target '$t'; targets: ${all_targets[*]}" >&2; exit 2; }
done
command -v clang++-14 >/dev/null || { echo "clang++-14 not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DRANKOPT_BUILD_FUZZ=ON -DRANKOPT_BUILD_TESTS=OFF -DRANKOPT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"

# package_fuzz's seed and score_fuzz's model: the DIN example optimized into a package by the
# (instrumented) rankopt of this build.
package=$root/$build_dir/din.rkp
if [[ " ${targets[*]} " == *" package_fuzz "* || " ${targets[*]} " == *" score_fuzz "* ]]; then
  if [[ ! -f $package ]]; then
    cmake --build "$build_dir" -j "$jobs" --target rankopt
    ASAN_OPTIONS=detect_leaks=0 "$build_dir/tools/rankopt" optimize tests/data/peers/din.onnx \
      --features configs/din.yaml --sample tests/data/features/requests_din.jsonl --time-s 0 \
      -o "$package" >/dev/null
  fi
fi
export RANKOPT_FUZZ_PACKAGE=$package

# --- seed corpora: every file under its content hash, so copies of one model count once ---
# Seeds above a target's size cap are left out: they would slow every execution, and the small
# models reach the same code.
add_seed() {  # corpus_dir cap file
  local size
  size=$(stat -c %s "$3")
  (( size > 0 && size <= $2 )) || return 0
  cp "$3" "$1/seed-$(sha1sum <"$3" | cut -c1-16)"
}
add_seeds() {  # corpus_dir cap glob...
  local dir=$1 cap=$2 f
  shift 2
  for f in "$@"; do [[ -f $f ]] && add_seed "$dir" "$cap" "$f"; done
  return 0
}
make_corpus() {  # target -> prints the corpus dir and max_len
  local t=$1 dir=fuzz/corpus/$1 cap
  mkdir -p "$dir"
  shopt -s nullglob globstar
  case $t in
    tf_graphdef_fuzz)
      cap=65536
      add_seeds "$dir" $cap tests/data/tf/*.pb tests/data/ops/tf/*.pb tests/data/ops/unsupported/*.pb \
        "$shared"/tf/**/*.pb
      # One text GraphDef, so the .pbtxt path starts from something that parses.
      printf '%s\n' 'node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } }' \
        '  attr { key: "shape" value { shape { dim { size: -1 } dim { size: 2 } } } } }' \
        'node { name: "w" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }' \
        '  attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 } dim { size: 1 } } float_val: 0.5 float_val: -1 } } } }' \
        'node { name: "y" op: "MatMul" input: "x" input: "w" attr { key: "T" value { type: DT_FLOAT } } }' \
        >"$dir/seed-matmul.pbtxt" ;;
    savedmodel_fuzz)
      cap=65536
      add_seeds "$dir" $cap tests/data/savedmodel/**/saved_model.pb "$shared"/savedmodel/**/saved_model.pb ;;
    onnx_fuzz)
      cap=65536
      add_seeds "$dir" $cap tests/data/onnx/*.onnx tests/data/ops/onnx/*.onnx tests/data/ops/onnx_more/*.onnx \
        tests/data/peers/*.onnx \
        tests/data/onnx_ebag/*.onnx \
        "$shared"/onnx/**/*.onnx ;;
    feature_config_fuzz)
      cap=65536
      add_seeds "$dir" $cap configs/*.yaml tests/data/features/*.yaml ;;
    package_fuzz)
      cap=1048576
      add_seeds "$dir" $cap "$package" ;;
    http_request_fuzz)
      # The first byte picks the size of the pieces the parser is fed.
      cap=8192
      printf '\x07GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >"$dir/seed-get"
      printf '\x03POST /v1/models/din:predict?heads=a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /v1/models/din HTTP/1.0\r\n\r\n' >"$dir/seed-pipelined"
      printf '\x05POST /v1/models/din:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\n{}\r\n0\r\nT: 1\r\n\r\n' >"$dir/seed-chunked" ;;
    tf_example_fuzz)
      cap=4096
      local tmp
      tmp=$(mktemp -d)
      # The first 32 raw taxi eval tf.Examples, one record per seed (TFRecord: u64 length,
      # u32 crc, data, u32 crc).
      python3 - "$tmp" tests/data/tf_feature_columns/taxi/raw_eval/*.gz <<'PY'
import gzip, struct, sys
out, n = sys.argv[1], 0
for path in sys.argv[2:]:
    data, i = gzip.open(path).read(), 0
    while i + 12 <= len(data) and n < 32:
        (length,) = struct.unpack('<Q', data[i:i + 8])
        open(f'{out}/{n}.pb', 'wb').write(data[i + 12:i + 12 + length])
        n, i = n + 1, i + 16 + length
PY
      add_seeds "$dir" $cap "$tmp"/*.pb
      rm -rf "$tmp" ;;
    request_json_fuzz|score_fuzz)
      cap=65536
      local tmp line n=0
      tmp=$(mktemp -d)
      for f in tests/data/features/*.jsonl; do
        while IFS= read -r line || [[ -n $line ]]; do
          [[ -n ${line//[[:space:]]/} ]] || continue
          n=$((n + 1))
          printf '%s' "$line" >"$tmp/$n.json"
        done <"$f"
      done
      add_seeds "$dir" $cap "$tmp"/*.json
      rm -rf "$tmp" ;;
  esac
  shopt -u nullglob globstar
  local max=0 s f
  for f in "$dir"/seed-*; do
    s=$(stat -c %s "$f")
    (( s > max )) && max=$s
  done
  # Room to grow past the largest seed, within the cap.
  max=$(( max + max / 4 > 4096 ? max + max / 4 : 4096 ))
  (( max > cap )) && max=$cap
  echo "$dir $max"
}

# --- runs ---
campaign=()
asan_default=detect_leaks=1:abort_on_error=0:symbolize=1
if [[ -n "${CAMPAIGN:-}" ]]; then
  campaign=(-entropic=0)
  asan_default=$asan_default:malloc_context_size=0
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-$asan_default}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build_dir/logs"
summary=()
failed=0
for t in "${targets[@]}"; do
  read -r corpus max_len < <(make_corpus "$t")
  mkdir -p "$build_dir/artifacts/$t"
  log=$build_dir/logs/$t.log
  echo "== $t: ${seconds}s, max_len $max_len, corpus $corpus ($(ls "$corpus" | wc -l) files)"
  start=$(date +%s)
  rc=0
  "$build_dir/fuzz/$t" "$corpus" -max_total_time="$seconds" ${RUNS:+-runs="$RUNS"} \
    "${campaign[@]}" -rss_limit_mb=2048 -timeout=30 \
    -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$t/" \
    >"$log" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  result=ok
  if (( rc != 0 )) || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:' "$log"; then
    result="FAILED (exit $rc; see $log)"
    failed=1
    grep -E 'ERROR:|runtime error:|Test unit written|SUMMARY' "$log" | head -20 >&2 || true
  fi
  summary+=("$(printf '%-22s %6ss %12s execs  %s' "$t" "$elapsed" "${execs:-?}" "$result")")
done

echo
echo "target                   time     executions  result"
printf '%s\n' "${summary[@]}"
exit $failed
