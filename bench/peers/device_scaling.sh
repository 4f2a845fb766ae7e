#!/usr/bin/env bash
# Thread scaling of rankopt -O2 and ONNX Runtime (Python binding, C API underneath) on the
# full-scale DIN and ESMM, side by side in one run, for a many-core machine (the `device` tool's
# 16-core machine: Python with onnxruntime, torch and onnx, no node, no Debian packages).
#
# Here (Debian 12, after scripts/build.sh):   bash bench/peers/device_scaling.sh --bundle DIR
#   copies build/tools/rankopt, the shared libraries it needs (not glibc) and
#   ../shared/peers/{make_models.py,peers_common.py} into DIR (git-ignore it; about 15 MB).
# There, from the repository root:            bash bench/peers/device_scaling.sh --run DIR
#   [--candidates 200,512] [--threads 1,2,4,8,16] [--min-s 1]
#   generates the full models (make_models.py --scale full: PyTorch there may write other ONNX
#   bytes than the sha256 in ../shared/peers/README.md; the outputs are checked against the
#   PyTorch references instead), then per model and thread count times ORT then rankopt and
#   prints the table with the speedup over 1 thread.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mode="${1:-}"
dir="${2:-}"
[[ -n "$mode" && -n "$dir" ]] || { sed -n 2,14p "$0"; exit 2; }
shift 2

if [[ "$mode" == "--bundle" ]]; then
  rankopt="${RANKOPT:-$root/build/tools/rankopt}"
  mkdir -p "$dir/lib"
  cp "$rankopt" "$dir/rankopt"
  ldd "$rankopt" | awk '$3 ~ /^\// {print $3}' |
    grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$dir/lib/"; done
  cp "$root/../shared/peers/make_models.py" "$root/../shared/peers/peers_common.py" "$dir/"
  du -sh "$dir"
  exit 0
fi
[[ "$mode" == "--run" ]] || { echo "unknown mode $mode" >&2; exit 2; }

candidates=200,512
threads=1,2,4,8,16
min_s=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --candidates) candidates="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --min-s) min_s="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
out="${OUT:-/tmp/scaling}"
mkdir -p "$out" /tmp/peers_full /tmp/peers_work
export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
rankopt="$dir/rankopt"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
python3 -c 'import onnxruntime, torch; print("onnxruntime", onnxruntime.__version__, "torch", torch.__version__)'
bash "$root/bench/peers/make_full_peers.sh" "$dir"
for model in din esmm; do
  model_path="/tmp/peers_full/$model.onnx"
  request="/tmp/peers_work/${model}_request.json"
  "$rankopt" run "$model_path" --inputs "$request" -O 2 --config "$root/configs/$model.yaml" |
    grep 'max relative error'
  IFS=, read -ra thread_list <<<"$threads"
  for t in "${thread_list[@]}"; do
    python3 "$root/bench/peers/ort_bench.py" "$model_path" --requests "$request" \
      --candidates "$candidates" --threads "$t" --min-s "$min_s" \
      --json "$out/ort_${model}_$t.json" >/dev/null
    "$rankopt" bench "$model_path" -O 2 --config "$root/configs/$model.yaml" \
      --requests "$request" --candidates "$candidates" --threads "$t" --min-s "$min_s" --no-profile \
      --json >"$out/rankopt_${model}_$t.json"
  done
done
python3 - "$out" "$candidates" "$threads" <<'EOF'
import json, sys
out, candidates, threads = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
print("| model | N | threads | ORT p50 | ORT speedup | rankopt -O2 p50 | rankopt speedup | ORT / rankopt |")
print("|---|---|---|---|---|---|---|---|")
for model in ("din", "esmm"):
    for n in map(int, candidates):
        base = {}
        for t in map(int, threads):
            ort = [c for c in json.load(open(f"{out}/ort_{model}_{t}.json"))["cells"]
                   if int(c["candidates"]) == n][0]["p50_us"]
            ro = [c for c in json.load(open(f"{out}/rankopt_{model}_{t}.json"))["cells"]
                  if int(c["candidates"]) == n][0]["p50_us"]
            base.setdefault("ort", ort)
            base.setdefault("ro", ro)
            print(f"| {model} | {n} | {t} | {ort/1000:.3f} ms | {base['ort']/ort:.1f}x | "
                  f"{ro/1000:.3f} ms | {base['ro']/ro:.1f}x | {ort/ro:.2f}x |")
EOF
