#!/usr/bin/env bash
# The full-scale DIN and ESMM peers for the many-core scripts (device_scaling.sh,
# device_peers.sh): make_models.py from a bundle (--bundle of those scripts) writes them to
# /tmp/peers_full with the TorchScript exporter the peers were made with (torch 2.x defaults to
# dynamo), once; prepare.py writes their `rankopt run` request files to /tmp/peers_work.
#   bench/peers/make_full_peers.sh BUNDLE_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:?usage: make_full_peers.sh BUNDLE_DIR}"
mkdir -p /tmp/peers_full /tmp/peers_work
if [[ ! -f /tmp/peers_full/din.onnx || ! -f /tmp/peers_full/esmm.onnx ]]; then
  python3 - "$dir/make_models.py" <<'EOF_PY'
import inspect, sys, torch
path = sys.argv[1]
src = open(path).read()
if "dynamo" in inspect.signature(torch.onnx.export).parameters and "dynamo=False" not in src:
    src = src.replace("do_constant_folding=True,", "do_constant_folding=True, dynamo=False,")
    open(path, "w").write(src)
EOF_PY
  (cd "$dir" && python3 make_models.py --scale full --out /tmp/peers_full >/dev/null)
fi
python3 "$root/bench/peers/prepare.py" /tmp/peers_full /tmp/peers_work >/dev/null
