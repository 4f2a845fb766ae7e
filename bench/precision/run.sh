#!/usr/bin/env bash
# The dense layers' precisions end to end (`rankopt optimize --precision`): for each peer model
# (ESMM, DIN) one package per precision (fp32, auto, bf16, int8; embedding tables left fp32 with
# --int8 off so only the dense layers differ), then `rankopt bench` on every package, the
# packages alternating within each round, and a markdown table of p50 medians over the rounds
# with the ratio to rankopt's own fp32 package, plus the dense weight bytes and package sizes.
#
# Usage:
#   bench/precision/run.sh [--models DIR] [--candidates 200,512] [--threads 1] [--rounds 3]
#                          [--min-s 0.5] [--only esmm,din] [--out DIR]
#   --models DIR   peer models MODEL.onnx (default tests/data/peers, the mini models; their dense
#                  layers are those of the full models); the gate's sample is
#                  tests/data/features/requests_MODEL.jsonl
# Environment: RANKOPT (default build/tools/rankopt), PYTHON (default /usr/bin/python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
models="$root/tests/data/peers"
candidates="200,512"
threads="1"
rounds=3
min_s=0.5
only="esmm,din"
out="${TMPDIR:-/tmp}/rankopt_precision_bench"
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="${2:?}"; shift 2 ;;
    --candidates) candidates="${2:?}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --rounds) rounds="${2:?}"; shift 2 ;;
    --min-s) min_s="${2:?}"; shift 2 ;;
    --only) only="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    *) sed -n '8,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
rankopt="${RANKOPT:-$root/build/tools/rankopt}"
python="${PYTHON:-/usr/bin/python3}"
precisions=(fp32 auto bf16 int8)
mkdir -p "$out"
IFS=',' read -ra names <<<"$only"
for m in "${names[@]}"; do
  for p in "${precisions[@]}"; do
    "$rankopt" optimize "$models/$m.onnx" --features "$root/configs/$m.yaml" \
      --sample "$root/tests/data/features/requests_$m.jsonl" --int8 off --precision "$p" \
      --time-s 0.05 -o "$out/$m.$p.rkp" --json > "$out/$m.$p.optimize.json"
  done
done
for r in $(seq "$rounds"); do
  for m in "${names[@]}"; do
    for p in "${precisions[@]}"; do
      "$rankopt" bench "$out/$m.$p.rkp" --candidates "$candidates" --threads "$threads" \
        --min-s "$min_s" --no-profile --json > "$out/$m.$p.r$r.json"
    done
  done
done
"$python" - "$out" "$rounds" "$only" "${precisions[@]}" <<'PY'
import json, os, statistics, sys
out, rounds, only, precisions = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU: {cpu}; medians of {rounds} rounds, packages alternating within each round\n")
print("| model | N | threads | " + " | ".join(f"{p} p50" for p in precisions) + " | "
      + " | ".join(f"fp32 / {p}" for p in precisions if p != "fp32") + " |")
print("| --- | ---: | ---: | " + " | ".join("---:" for _ in precisions) * 1 + " | "
      + " | ".join("---:" for p in precisions if p != "fp32") + " |")
def us(x):
    return f"{x:.1f} us" if x < 1000 else f"{x / 1000:.3f} ms"
for m in only:
    cells = {}
    for p in precisions:
        for r in range(1, rounds + 1):
            rep = json.load(open(os.path.join(out, f"{m}.{p}.r{r}.json")))
            for c in rep.get("cells", []):
                key = (int(c["candidates"]), int(c["threads"]))
                cells.setdefault(key, {}).setdefault(p, []).append(float(c["p50_us"]))
    for key in sorted(cells):
        med = {p: statistics.median(v) for p, v in cells[key].items()}
        print(f"| {m.upper()} | {key[0]} | {key[1]} | " + " | ".join(us(med[p]) for p in precisions)
              + " | " + " | ".join(f"{med['fp32'] / med[p]:.2f}x" for p in precisions if p != "fp32") + " |")
print("\n| model | precision | dense layers below fp32 | dense weights (bytes) | package (bytes) | gate |")
print("| --- | --- | ---: | ---: | ---: | --- |")
for m in only:
    for p in precisions:
        rep = json.load(open(os.path.join(out, f"{m}.{p}.optimize.json")))
        d = rep.get("precision", {})
        layers = d.get("layers", [])
        print(f"| {m.upper()} | {p} | {d.get('reduced', 0)} of {len(layers)} | "
              f"{d.get('weight_bytes_fp32', 0)} -> {d.get('weight_bytes_stored', 0)} | "
              f"{os.path.getsize(os.path.join(out, f'{m}.{p}.rkp'))} | {d.get('gate_result', '-')} |")
    rep = json.load(open(os.path.join(out, f"{m}.auto.optimize.json")))
    print(f"\n{m} --precision auto, per layer:")
    for l in rep.get("precision", {}).get("layers", []):
        print(f"  {l['node']}: {l.get('k')}x{l.get('n')} {l['precision']} ({l['kernel']}), "
              f"max diff alone {l.get('alone_max_abs_diff', '-')}, "
              f"{l.get('time_us_fp32', 0):.1f} -> {l.get('time_us', 0):.1f} us: {l['reason']}")
    print()
PY
