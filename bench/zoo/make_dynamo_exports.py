#!/usr/bin/env python3
"""Exports the peer models (DIN, ESMM; bench/zoo/peers_common.py) with PyTorch 2.x's default ONNX
exporter (dynamo: opset 18, weights in a side `<model>.onnx.data` file), as a PyTorch user gets
them, plus the PyTorch eager outputs of the 16-candidate reference request.

Needs torch >= 2.5 with onnxscript (the 16-core benchmark machine has torch 2.11); Debian's torch
1.13 has no dynamo exporter. Writes into --out (default: tests/data/peers):
  <m>_dynamo.onnx, <m>_dynamo.onnx.data   the export, external data as torch writes it
  <m>_dynamo_ref.json                      {"inputs", "reference_outputs"} (rankopt run --inputs)

Usage: python3 bench/zoo/make_dynamo_exports.py [--scale mini|full] [--out DIR] [--models din,esmm]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_common as ec  # noqa: E402
import peers_common as pc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 16


def export(model_name, scale, out_dir):
    torch.manual_seed(0)
    model = pc.build_model(model_name, scale).eval()
    pc.make_weights(model_name, model)
    req = pc.make_request(model_name, scale=scale)
    inputs = {n: req[n][:BATCH] for n in pc.input_names(model_name)}
    onames = pc.output_names(model_name)
    path = os.path.join(out_dir, f"{model_name}_dynamo.onnx")
    outputs = ec.export_dynamo(model, inputs, path, onames)
    ec.write_reference(os.path.join(out_dir, f"{model_name}_dynamo_ref.json"), inputs, onames,
                       outputs)
    print(f"{path}: torch {torch.__version__}, "
          f"{os.path.getsize(path)} + {os.path.getsize(path + '.data')} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="mini", choices=["mini", "full"])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "peers"))
    ap.add_argument("--models", default="din,esmm")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for m in args.models.split(","):
        export(m, args.scale, args.out)


if __name__ == "__main__":
    main()
