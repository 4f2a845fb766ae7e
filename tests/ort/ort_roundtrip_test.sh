#!/bin/sh
# ctest onnx_ort_test: imports + exports the peer models (esmm, din; and their torch dynamo
# exports with external data; the zoo's DLRM) with rankopt, runs the exports
# in ONNX Runtime and compares with the PyTorch reference outputs (1e-5 relative).
# Usage: tests/ort/ort_roundtrip_test.sh REEXPORT_BINARY REPO_ROOT WORK_DIR
# Exit 77 (skipped) when node or tests/ort/node_modules/onnxruntime-node is missing; install it
# with: ONNXRUNTIME_NODE_INSTALL=skip npm ci --prefix tests/ort
set -eu
reexport="$1"
root="$2"
work="$3"
. "$root/tests/ort/require_ort.sh"
mkdir -p "$work"
for model in esmm din; do
  data="$root/tests/data/peers"
  "$reexport" "$data/$model.onnx" "$work/$model.onnx"
  node "$root/tests/ort/run_onnx.js" "$work/$model.onnx" "$data/${model}_ref.json" \
    "$work/$model.out.json"
  node "$root/tests/ort/compare_outputs.js" "$work/$model.out.json" "$data/${model}_ref.json" 1e-5
done
# torch 2.11's default (dynamo) exports keep their weights in <model>.onnx.data; so do ours.
for model in esmm_dynamo din_dynamo; do
  data="$root/tests/data/torch_dynamo"
  "$reexport" "$data/$model.onnx" "$work/$model.onnx"
  test -s "$work/$model.onnx.data"
  node "$root/tests/ort/run_onnx.js" "$work/$model.onnx" "$data/${model}_ref.json" \
    "$work/$model.out.json"
  node "$root/tests/ort/compare_outputs.js" "$work/$model.out.json" "$data/${model}_ref.json" 1e-5
done
# DLRM's nn.EmbeddingBag Loops import as _RankoptEmbeddingBagOffsets and export as Loops again.
for opset in 13 17; do
  data="$root/tests/data/zoo"
  "$reexport" "$data/dlrm_op$opset.onnx" "$work/dlrm_op$opset.onnx"
  node "$root/tests/ort/run_onnx.js" "$work/dlrm_op$opset.onnx" "$data/dlrm_ref.json" \
    "$work/dlrm_op$opset.out.json"
  node "$root/tests/ort/compare_outputs.js" "$work/dlrm_op$opset.out.json" "$data/dlrm_ref.json" 1e-5
done
echo "PASS"
