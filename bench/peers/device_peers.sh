#!/usr/bin/env bash
# Every peer configuration a user could pick, side by side with rankopt in one run, on the full
# DIN and ESMM: ONNX Runtime fp32 and after quantize_dynamic (int8 weights), PyTorch eager,
# bf16 autocast, torch.compile (fp32 and bf16), and rankopt packages at --precision fp32 and
# auto (with --int8 auto tables). For a many-core machine with Python's onnxruntime and torch 2.x
# and no Debian packages (the `device` tool's 16-core Xeon).
#
# Here (Debian 12, after scripts/build.sh):   bash bench/peers/device_peers.sh --bundle DIR
#   (the same bundle as device_scaling.sh: rankopt, its shared libraries, the peers generator)
# There, from the repository root:            bash bench/peers/device_peers.sh --run DIR
#   [--candidates 200,512] [--threads 1,16] [--min-s 0.5] [--only din,esmm]
#   [--modes eager,bf16,compile,compile_bf16]
#   prints one markdown table per model: p50 per engine and configuration, and the fastest
#   peer's p50 over rankopt auto's (above 1: rankopt faster). Raw JSON goes to $OUT (default
#   /tmp/device_peers).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mode="${1:-}"
dir="${2:-}"
[[ -n "$mode" && -n "$dir" ]] || { sed -n 2,16p "$0"; exit 2; }
shift 2
if [[ "$mode" == "--bundle" ]]; then
  exec bash "$root/bench/peers/device_scaling.sh" --bundle "$dir"
fi
[[ "$mode" == "--run" ]] || { echo "unknown mode $mode" >&2; exit 2; }

candidates=200,512
threads=1,16
min_s=0.5
only=din,esmm
modes=eager,bf16,compile,compile_bf16
while [[ $# -gt 0 ]]; do
  case "$1" in
    --candidates) candidates="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --min-s) min_s="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
out="${OUT:-/tmp/device_peers}"
mkdir -p "$out" /tmp/peers_full /tmp/peers_work
export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
rankopt="$dir/rankopt"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
python3 -c 'import onnxruntime, torch; print("onnxruntime", onnxruntime.__version__, "torch", torch.__version__)'
bash "$root/bench/peers/make_full_peers.sh" "$dir"
IFS=, read -ra models <<<"$only"
for m in "${models[@]}"; do
  onnx=/tmp/peers_full/$m.onnx
  request=/tmp/peers_work/${m}_request.json
  python3 - "$onnx" "$out/$m.int8.onnx" <<'EOF_PY'
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)
EOF_PY
  for p in fp32 auto; do
    int8=off
    [[ $p == auto ]] && int8=auto
    "$rankopt" optimize "$onnx" --features "$root/configs/$m.yaml" \
      --sample "$root/tests/data/features/requests_$m.jsonl" --precision "$p" --int8 "$int8" \
      --time-s 0 -o "$out/$m.$p.rkp" --json >"$out/$m.$p.optimize.json"
    "$rankopt" run "$out/$m.$p.rkp" --inputs "$request" | grep -i 'max relative error' || true
  done
  python3 "$root/bench/peers/ort_bench.py" "$onnx" --requests "$request" --candidates "$candidates" \
    --threads "$threads" --min-s "$min_s" --json "$out/$m.ort_fp32.json"
  python3 "$root/bench/peers/ort_bench.py" "$out/$m.int8.onnx" --requests "$request" \
    --candidates "$candidates" --threads "$threads" --min-s "$min_s" --json "$out/$m.ort_int8.json"
  for p in fp32 auto; do
    "$rankopt" bench "$out/$m.$p.rkp" --requests "$request" --candidates "$candidates" \
      --threads "$threads" --min-s "$min_s" --no-profile --json >"$out/$m.rankopt_$p.json"
  done
  [[ $modes == none ]] || python3 "$root/bench/peers/torch_bench.py" "$m" --peers-dir "$dir" --requests "$request" \
    --candidates "$candidates" --threads "$threads" --modes "$modes" --min-s "$min_s" \
    --json "$out/$m.torch.json"
done
python3 - "$out" "$only" <<'EOF_PY'
import json, os, sys
out, models = sys.argv[1], sys.argv[2].split(",")
def cells(path, mode=None):
    if not os.path.exists(path):
        return {}
    return {(int(c["candidates"]), int(c["threads"])): c["p50_us"]
            for c in json.load(open(path))["cells"] if mode is None or c.get("mode") == mode}
def ms(x):
    return "-" if x is None else f"{x / 1000:.3f} ms"
for m in models:
    cols = {"ORT fp32": cells(f"{out}/{m}.ort_fp32.json"),
            "ORT int8 (quantize_dynamic)": cells(f"{out}/{m}.ort_int8.json")}
    for mode in ("eager", "bf16", "compile", "compile_bf16"):
        cols[f"torch {mode}"] = cells(f"{out}/{m}.torch.json", mode)
    ours = {"rankopt fp32": cells(f"{out}/{m}.rankopt_fp32.json"),
            "rankopt auto": cells(f"{out}/{m}.rankopt_auto.json")}
    keys = sorted(set().union(*[c.keys() for c in list(cols.values()) + list(ours.values())]))
    names = list(cols) + list(ours)
    print(f"\n{m.upper()} (full), p50 per request, one user x N candidates\n")
    print("| N | threads | " + " | ".join(names) + " | best peer / rankopt auto |")
    print("|---|---|" + "---|" * len(names) + "---|")
    for k in keys:
        row = [cols[n].get(k) for n in cols] + [ours[n].get(k) for n in ours]
        peers = [v for v in row[:len(cols)] if v is not None]
        auto = ours["rankopt auto"].get(k)
        ratio = f"{min(peers) / auto:.2f}x" if peers and auto else "-"
        print(f"| {k[0]} | {k[1]} | " + " | ".join(ms(v) for v in row) + f" | {ratio} |")
    opt = json.load(open(f"{out}/{m}.auto.optimize.json")).get("precision", {})
    print(f"\n{m} --precision auto: {opt.get('reduced', 0)} of {len(opt.get('layers', []))} dense "
          f"layers below fp32, dense weights {opt.get('weight_bytes_fp32', 0)} -> "
          f"{opt.get('weight_bytes_stored', 0)} bytes, gate {opt.get('gate_result', '-')}")
    for l in opt.get("layers", []):
        print(f"  {l['node']}: {l['precision']} ({l['kernel']}) {l.get('reason', '')}")
EOF_PY
