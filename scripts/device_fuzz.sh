#!/usr/bin/env bash
# Fuzzing depth runs on a bigger machine without Debian's libraries (the `device` tool's 16-core
# Xeon): bundle the fuzz build here, run one target on every core there.
#
#   scripts/device_fuzz.sh --bundle DIR TARGET...
#       here, after scripts/fuzz.sh built build-fuzz/: writes DIR/fz.tar.xz (the stripped
#       targets, every shared library they load but glibc's, fuzz/corpus/TARGET, the DIN seed
#       package) and DIR/device_fuzz.sh (this script)
#   bash DIR/device_fuzz.sh --run DIR SECONDS TARGET JOBS OUT
#       there: JOBS libFuzzer jobs of TARGET for SECONDS (campaign options: -entropic=0, ASan
#       malloc_context_size=0) on one corpus in /tmp/fzx, which later calls reuse while the
#       machine is kept; prints the executions summed over the jobs, sanitizer reports and
#       artifacts (into OUT/art), and leaves the grown corpus as OUT/corpus_TARGET.tar.xz.
#
# Back here, merge a returned corpus into the kept one (fuzz/README.md):
#   mkdir new && build-fuzz/fuzz/TARGET -merge=1 new fuzz/corpus/TARGET RETURNED_DIR
set -euo pipefail
mode=${1:-}
case "$mode" in
  --bundle)
    [[ $# -ge 3 ]] || { echo "usage: $0 --bundle DIR TARGET..." >&2; exit 2; }
    root=$(cd "$(dirname "$0")/.." && pwd)
    dir=$2; shift 2
    stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage/fz/fb/bin" "$stage/fz/fb/lib" "$stage/fz/corpus" "$dir"
    for t in "$@"; do
      bin=$root/build-fuzz/fuzz/$t
      [[ -x $bin ]] || { echo "$bin not built (scripts/fuzz.sh 0 $t)" >&2; exit 2; }
      strip -o "$stage/fz/fb/bin/$t" "$bin"
      # Every resolved library but the C library and the loader (the device has its own).
      ldd "$bin" | awk '/=> \// {print $3}' | grep -v -E '/(libc|libm|libpthread|libdl|librt)\.so' |
        xargs -r cp -L -t "$stage/fz/fb/lib/"
      mkdir -p "$stage/fz/corpus/$t"
      [[ -d $root/fuzz/corpus/$t ]] && cp -r "$root/fuzz/corpus/$t/." "$stage/fz/corpus/$t/"
    done
    cp "$root/build-fuzz/din.rkp" "$stage/fz/din.rkp"
    tar cf - -C "$stage" fz | xz -T0 -6 > "$dir/fz.tar.xz"
    cp "$0" "$dir/device_fuzz.sh"
    ls -la "$dir/fz.tar.xz"
    ;;
  --run)
    [[ $# -eq 6 ]] || { echo "usage: $0 --run DIR SECONDS TARGET JOBS OUT" >&2; exit 2; }
    dir=$2 secs=$3 t=$4 jobs=$5 out=$6
    Z=/tmp/fzx/fz
    if [[ ! -d $Z/corpus/$t ]]; then
      mkdir -p /tmp/fzx && tar xJf "$dir/fz.tar.xz" -C /tmp/fzx
    fi
    [[ -x $Z/fb/bin/$t ]] || { echo "$t is not in the bundle" >&2; exit 2; }
    export LD_LIBRARY_PATH=$Z/fb/lib RANKOPT_FUZZ_PACKAGE=$Z/din.rkp
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=0:malloc_context_size=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    before=$(ls "$Z/corpus/$t" | wc -l)
    mkdir -p "$Z/logs"
    n=$(find "$Z/logs" -maxdepth 1 -name "$t.*" | wc -l)
    logs=$Z/logs/$t.$n
    mkdir -p "$logs" "$out/art"
    max=65536; [[ $t == onnx_fuzz ]] && max=4096
    # -timeout=300: a loaded machine makes slow inputs look hung; a real hang still ends the job.
    (cd "$logs" && "$Z/fb/bin/$t" "$Z/corpus/$t" -jobs="$jobs" -workers="$jobs" \
       -max_total_time="$secs" -rss_limit_mb=2048 -timeout=300 -max_len=$max -entropic=0 \
       -print_final_stats=1 -artifact_prefix="$out/art/" >/dev/null 2>&1) || true
    execs=$(cat "$logs"/fuzz-*.log | sed -n 's/^stat::number_of_executed_units: *//p' |
            awk '{s += $1} END {print s + 0}')
    reports=$(cat "$logs"/fuzz-*.log |
              grep -c -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' || true)
    echo "$t: $execs executions, $jobs jobs x ${secs}s on $(nproc) cores" \
         "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); sanitizer reports" \
         "$reports, artifacts $(ls "$out/art" | wc -l); corpus $before -> $(ls "$Z/corpus/$t" | wc -l)"
    cat "$logs"/fuzz-*.log | grep -E 'ERROR|runtime error|SUMMARY' | head -5 || true
    tar cf - -C "$Z/corpus" "$t" | xz -T0 -3 > "$out/corpus_$t.tar.xz"
    [[ $reports -eq 0 && $(ls "$out/art" | wc -l) -eq 0 ]]
    ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    [[ $mode == -h || $mode == --help ]]
    ;;
esac
