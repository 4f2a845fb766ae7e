#!/usr/bin/env bash
# Remote tables against local ones (remote_tables_bench.cc) on a Redis Cluster started here on
# loopback and stopped afterwards. Packages: the full DIN and ESMM when ../shared/peers' generator
# output is given (FULL_DIR with din.onnx and esmm.onnx), else the mini peers of tests/data/peers.
#   bench/serving/remote_tables_bench.sh [BUILD_DIR] [FULL_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
full=${2:-}
port=${REMOTE_BENCH_PORT:-7400}
work=$(mktemp -d)
trap 'bash scripts/redis_cluster.sh stop --base-port "$port" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bash scripts/redis_cluster.sh start --base-port "$port"
models=tests/data/peers
max_ids=1000
if [[ -n $full && -f $full/din.onnx && -f $full/esmm.onnx ]]; then
  models=$full
  max_ids=1000000
fi
for m in din esmm; do
  "$build"/tools/rankopt optimize "$models/$m.onnx" --features "configs/$m.yaml" --int8 auto \
    -o "$work/$m.rkp" --time-s 0 >/dev/null
done
seeds=$(for i in 0 1 2 3 4 5; do printf '127.0.0.1:%d,' $((port + i)); done)
"$build"/bench/serving/remote_tables_bench "$work/din.rkp" "$work/esmm.rkp" --redis "${seeds%,}" \
  --max-ids "$max_ids" "${@:3}"
