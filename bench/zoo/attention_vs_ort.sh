#!/usr/bin/env bash
# The zoo's DIN attention variants at full scale: rankopt -O 2 (and optionally a second rankopt
# binary, e.g. one built before a change) side by side with ONNX Runtime fp32 (onnxruntime-node,
# tests/ort/bench_ort.js) on the same request tiled to N candidates, 1 thread. Each engine runs
# `--rounds` times, interleaved; the table gives the median of the per-round p50s, the ratio
# ORT / rankopt (above 1: rankopt faster), and the same ratio of the fastest runs (min), which a
# machine shared with other work disturbs least.
#
#   /usr/bin/python3 bench/zoo/make_zoo.py --scale full --opsets 17 --out /tmp/zoo_full \
#     --models din_prelu3,din_dice2_softmax,din_sigmoid1_softmax,din_prelu2_qkprod
#   bash bench/zoo/attention_vs_ort.sh /tmp/zoo_full [--before OTHER_RANKOPT] [--candidates 200]
#     [--rounds 3] [--threads 1]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
zoo="${1:?usage: attention_vs_ort.sh ZOO_DIR [--before RANKOPT] [--candidates N] [--rounds R]}"
shift
before=""
candidates=200
rounds=3
threads=1
models=din_prelu3,din_dice2_softmax,din_sigmoid1_softmax,din_prelu2_qkprod
while [[ $# -gt 0 ]]; do
  case "$1" in
    --before) before="$2"; shift 2 ;;
    --candidates) candidates="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
rankopt="${RANKOPT:-$root/build/tools/rankopt}"
py=/usr/bin/python3
cell='import json,sys; c=json.load(sys.stdin)["cells"][0]; print("%.3f/%.3f" % (c["p50_us"] / 1e3, c["min_us"] / 1e3))'
p50_rankopt() {  # binary onnx req ref -> "p50_ms/min_ms"
  "$1" bench "$2" -O 2 --request-inputs "$3" --requests "$4" --candidates "$candidates" \
    --threads "$threads" --no-profile --json 2>/dev/null | $py -c "$cell"
}
p50_ort() {  # onnx ref -> "p50_ms/min_ms"
  node "$root/tests/ort/bench_ort.js" "$1" --requests "$2" --candidates "$candidates" \
    --threads "$threads" --json 2>/dev/null | $py -c "$cell"
}
# median of field $1 ("p50/min" pairs) of the rest; min of the mins for field 2
pick() {
  local f=$1; shift
  printf '%s\n' "$@" | cut -d/ -f"$f" | sort -g |
    awk -v f="$f" '{a[NR]=$1} END {print (f == 2 ? a[1] : a[int((NR+1)/2)])}'
}
ratio() { awk "BEGIN{printf \"%.2fx\", $1/$2}"; }
echo "p50 (median of $rounds rounds) and min over all runs, ms; $candidates candidates, $threads thread(s)"
printf '%-22s %9s %9s %9s %10s %10s %10s %10s\n' model ort before after \
  ort/before ort/after min:o/b min:o/a
IFS=, read -ra list <<<"$models"
for m in "${list[@]}"; do
  onnx="$zoo/${m}_op17.onnx"
  ref="$zoo/${m}_ref.json"
  req=$($py -c "import json; d=json.load(open('$zoo/models.json')); print(next(x for x in d['models'] if x['name']=='$m')['request_inputs'])")
  o=(); b=(); a=()
  for ((r = 0; r < rounds; ++r)); do
    o+=("$(p50_ort "$onnx" "$ref")")
    [[ -n "$before" ]] && b+=("$(p50_rankopt "$before" "$onnx" "$req" "$ref")")
    a+=("$(p50_rankopt "$rankopt" "$onnx" "$req" "$ref")")
  done
  om=$(pick 1 "${o[@]}"); am=$(pick 1 "${a[@]}"); omin=$(pick 2 "${o[@]}"); amin=$(pick 2 "${a[@]}")
  bm=-; rb=-; rbmin=-
  if [[ -n "$before" ]]; then
    bm=$(pick 1 "${b[@]}"); rb=$(ratio "$om" "$bm"); rbmin=$(ratio "$omin" "$(pick 2 "${b[@]}")")
  fi
  printf '%-22s %9s %9s %9s %10s %10s %10s %10s\n' "$m" "$om" "$bm" "$am" "$rb" \
    "$(ratio "$om" "$am")" "$rbmin" "$(ratio "$omin" "$amin")"
done
