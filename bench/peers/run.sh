#!/usr/bin/env bash
# ONNX Runtime (onnxruntime-node) and rankopt side by side on the peer models (DIN, ESMM): the
# same ONNX model, requests (one user x N candidates, identical user rows) and thread count,
# alternating runs in one invocation; prints a markdown ratio table (ORT p50 / rankopt p50,
# medians over rounds, nothing subtracted), the node binding's fixed per-call cost (a floor model
# with the same inputs and outputs), the CPU and thread counts, and the output check (ORT vs
# `rankopt run`, max relative error, target <= 1e-5).
#
# Usage:
#   bench/peers/run.sh [--models DIR] [--candidates 1,16,200,512] [--threads 1,2] [--rounds 3]
#                      [-O LEVEL ...] [--warmup-s 0.3] [--min-s 1] [--floor-min-s 0.3]
#                      [--only din,esmm] [--no-check] [--json FILE] [--keep] [--bench-arg ARG ...]
#   --models DIR   a peers model folder: MODEL.onnx, MODEL.json (input sides) and a reference
#                  request MODEL_ref_200.npz / MODEL_ref.npz / MODEL_ref.json (default
#                  tests/data/peers, the mini models; for the full-scale ones generate
#                  /tmp/peers_full with
#                  /usr/bin/python3 ../shared/peers/make_models.py --scale full --out /tmp/peers_full)
#   -O LEVEL       rankopt optimization level, repeatable (-O1 -O2 or -O 1,2); default 1; passed
#                  through to `rankopt bench -O` as is
#   --bench-arg ARG  one more argument for every `rankopt bench` call (repeatable)
# Environment: RANKOPT (default build/tools/rankopt), PYTHON (default /usr/bin/python3: needs
# numpy for .npz references and onnx to build the floor model).
# Exit status: 0 on success, 77 (skipped) without node or tests/ort's onnxruntime-node, 1 on an
# error, 2 on a bad command line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
models="$root/tests/data/peers"
candidates="1,16,200,512"
threads="1,2"
rounds=3
levels=()
warmup_s=0.3
min_s=1
floor_min_s=0.3
only="din,esmm"
check=1
json=""
keep=0
bench_args=()

usage() {
  sed -n '9,24p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="${2:?--models needs a value}"; shift 2 ;;
    --candidates) candidates="${2:?}"; shift 2 ;;
    --threads) threads="${2:?}"; shift 2 ;;
    --rounds) rounds="${2:?}"; shift 2 ;;
    -O|--opt-level) IFS=',' read -ra more <<<"${2:?-O needs a level}"; levels+=("${more[@]}"); shift 2 ;;
    -O*) IFS=',' read -ra more <<<"${1#-O}"; levels+=("${more[@]}"); shift ;;
    --warmup-s) warmup_s="${2:?}"; shift 2 ;;
    --min-s) min_s="${2:?}"; shift 2 ;;
    --floor-min-s) floor_min_s="${2:?}"; shift 2 ;;
    --only) only="${2:?}"; shift 2 ;;
    --no-check) check=0; shift ;;
    --json) json="${2:?}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --bench-arg) bench_args+=(--bench-arg "${2?--bench-arg needs a value}"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[ ${#levels[@]} -gt 0 ] || levels=(1)
level_list="$(IFS=,; echo "${levels[*]}")"

# Skip cleanly without the peer engine.
# shellcheck source=../../tests/ort/require_ort.sh
source "$root/tests/ort/require_ort.sh"

rankopt="${RANKOPT:-$root/build/tools/rankopt}"
if [ ! -x "$rankopt" ]; then
  echo "run.sh: no rankopt at $rankopt (build it: cmake -S . -B build -G Ninja" \
       "-DCMAKE_BUILD_TYPE=Release && ninja -C build rankopt; or set RANKOPT)" >&2
  exit 1
fi
python="${PYTHON:-/usr/bin/python3}"
if ! "$python" -c 'import numpy' 2>/dev/null; then
  for p in python3 python; do
    if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then python="$p"; break; fi
  done
fi
if ! command -v "$python" >/dev/null 2>&1 && [ ! -x "$python" ]; then
  echo "SKIP: no python3 to read the reference requests"
  exit 77
fi
if [ ! -f "$models/din.onnx" ] && [ ! -f "$models/esmm.onnx" ]; then
  echo "run.sh: no din.onnx or esmm.onnx in $models" >&2
  if [ "$models" != "$root/tests/data/peers" ]; then
    echo "  generate the full-scale models: /usr/bin/python3 $root/../shared/peers/make_models.py" \
         "--scale full --out $models" >&2
  fi
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/rankopt_peers.XXXXXX")"
if [ "$keep" = 0 ]; then trap 'rm -rf "$work"' EXIT; else echo "work folder: $work" >&2; fi

# The mini models in tests/data/peers have 16-row references; the shared checkout's copies of
# the same models have 200-row ones.
extra_refs="$root/../shared/peers/mini,$root/shared/peers/mini"
"$python" "$root/bench/peers/prepare.py" "$models" "$work" --models "$only" \
    --extra-refs "$extra_refs" >"$work/prepared.jsonl"

args=(--rankopt "$rankopt" --prepared "$work/prepared.jsonl" --work "$work"
      --candidates "$candidates" --threads "$threads" --rounds "$rounds" --levels "$level_list"
      --warmup-s "$warmup_s" --min-s "$min_s" --floor-min-s "$floor_min_s"
      --models-label "${models#"$root"/}")
[ "$check" = 1 ] || args+=(--no-check)
[ -z "$json" ] || args+=(--json "$json")
[ ${#bench_args[@]} -eq 0 ] || args+=("${bench_args[@]}")
node "$root/bench/peers/peers.js" "${args[@]}"
