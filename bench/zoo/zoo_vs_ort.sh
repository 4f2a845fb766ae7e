#!/usr/bin/env bash
# The model zoo side by side with ONNX Runtime (fp32, and int8 after quantize_dynamic) in one run,
# per model at full scale, for a many-core machine (the `device` tool's 16-core machine: Python with
# onnxruntime, torch and onnx; no node, no Debian packages).
#
# Here (Debian 12, after scripts/build.sh):   bash bench/zoo/zoo_vs_ort.sh --bundle DIR
#   copies build/tools/rankopt and the shared libraries it needs (not glibc) into DIR.
# There, from the repository root:            bash bench/zoo/zoo_vs_ort.sh --run DIR
#   [--models a,b] [--candidates 200,512] [--threads 1,16] [--min-s 0.5]
#   exports the zoo at full scale (make_zoo.py --scale full --opsets 17), checks rankopt -O 2
#   against PyTorch on each model's reference request, then per model and thread count times ORT
#   fp32, ORT int8 (onnxruntime.quantization.quantize_dynamic, QInt8 weights) and rankopt -O 2
#   (bench --request-inputs from models.json) on the same request tiled to N candidates, and
#   prints one table: p50 per engine and ORT's best / rankopt (above 1: rankopt faster).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mode="${1:-}"
dir="${2:-}"
[[ -n "$mode" && -n "$dir" ]] || { sed -n 2,14p "$0"; exit 2; }
shift 2

if [[ "$mode" == "--bundle" ]]; then
  RANKOPT="${RANKOPT:-$root/build/tools/rankopt}" \
    bash "$root/bench/peers/device_scaling.sh" --bundle "$dir"
  exit 0
fi
[[ "$mode" == "--run" ]] || { echo "unknown mode $mode" >&2; exit 2; }

models=""
candidates=200,512
threads=1,16
min_s=0.5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --candidates) candidates="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --min-s) min_s="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
out="${OUT:-/tmp/zoo_vs_ort}"
zoo=/tmp/zoo_full
mkdir -p "$out" "$zoo"
export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
rankopt="$dir/rankopt"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
python3 -c 'import onnxruntime, torch; print("onnxruntime", onnxruntime.__version__, "torch", torch.__version__)'
python3 "$root/bench/zoo/make_zoo.py" --scale full --opsets 17 --out "$zoo" \
  ${models:+--models "$models"} >/dev/null 2>"$out/make_zoo.log" || { tail "$out/make_zoo.log"; exit 1; }
[[ -n "$models" ]] || models=$(python3 -c "import json; print(','.join(m['name'] for m in json.load(open('$zoo/models.json'))['models']))")
IFS=, read -ra model_list <<<"$models"
IFS=, read -ra thread_list <<<"$threads"
for model in "${model_list[@]}"; do
  onnx="$zoo/${model}_op17.onnx"
  ref="$zoo/${model}_ref.json"
  req=$(python3 - "$zoo/models.json" "$model" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(next(m for m in d["models"] if m["name"] == sys.argv[2])["request_inputs"])
EOF_PY
)
  check=$("$rankopt" run "$onnx" --inputs "$ref" -O 2 --request-inputs "$req" 2>&1 |
    grep -o 'max relative error vs reference: [0-9.e+-]*' | head -1 || true)
  echo "$model: ${check:-FAILED}" | tee -a "$out/checks.txt"
  [[ -n "$check" ]] || continue
  python3 - "$onnx" "$zoo/${model}_int8.onnx" <<'EOF_PY' 2>>"$out/quantize.log" || true
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)
EOF_PY
  for t in "${thread_list[@]}"; do
    python3 "$root/bench/peers/ort_bench.py" "$onnx" --requests "$ref" --candidates "$candidates" \
      --threads "$t" --min-s "$min_s" --json "$out/ort_${model}_$t.json" >/dev/null 2>&1 || true
    if [[ -f "$zoo/${model}_int8.onnx" ]]; then
      python3 "$root/bench/peers/ort_bench.py" "$zoo/${model}_int8.onnx" --requests "$ref" \
        --candidates "$candidates" --threads "$t" --min-s "$min_s" \
        --json "$out/ortq_${model}_$t.json" >/dev/null 2>&1 || true
    fi
    "$rankopt" bench "$onnx" -O 2 --request-inputs "$req" --requests "$ref" \
      --candidates "$candidates" --threads "$t" --min-s "$min_s" --no-profile --json \
      >"$out/rankopt_${model}_$t.json" 2>/dev/null || true
  done
done
python3 - "$out" "$models" "$candidates" "$threads" <<'EOF_PY'
import json, os, sys
out, models, candidates, threads = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4].split(",")

def p50(path, n):
    if not os.path.exists(path):
        return None
    try:
        cells = json.load(open(path))["cells"]
    except Exception:
        return None
    for c in cells:
        if int(c["candidates"]) == n:
            return float(c["p50_us"])
    return None

def ms(v):
    return "-" if v is None else f"{v / 1000:.3f}"

print("| model | N | threads | ORT fp32 ms | ORT int8 ms | rankopt -O2 ms | best ORT / rankopt |")
print("|---|---|---|---|---|---|---|")
for m in models:
    for n in map(int, candidates):
        for t in threads:
            f = p50(f"{out}/ort_{m}_{t}.json", n)
            q = p50(f"{out}/ortq_{m}_{t}.json", n)
            r = p50(f"{out}/rankopt_{m}_{t}.json", n)
            best = min(v for v in (f, q) if v is not None) if (f or q) else None
            ratio = f"{best / r:.2f}x" if best and r else "-"
            print(f"| {m} | {n} | {t} | {ms(f)} | {ms(q)} | {ms(r)} | {ratio} |")
EOF_PY
