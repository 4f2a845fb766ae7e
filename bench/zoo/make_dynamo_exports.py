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
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers_common as pc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 16


def entry(array):
    dtype = "bool" if array.dtype == np.bool_ else str(array.dtype)
    return {"dtype": dtype, "dims": list(array.shape), "data": array.reshape(-1).tolist()}


def export(model_name, scale, out_dir):
    torch.manual_seed(0)
    model = pc.build_model(model_name, scale).eval()
    pc.make_weights(model_name, model)
    names = pc.input_names(model_name)
    onames = pc.output_names(model_name)
    req = pc.make_request(model_name, scale=scale)
    example = tuple(torch.from_numpy(req[n][:BATCH]) for n in names)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    path = os.path.join(out_dir, f"{model_name}_dynamo.onnx")
    # torch.onnx.export's defaults since 2.9 (dynamo=True spelled out for older 2.x): the weights
    # go to path + ".data".
    with torch.no_grad():
        torch.onnx.export(model, example, path, input_names=names, output_names=onames,
                          dynamic_shapes={n: {0: batch} for n in names}, dynamo=True)
    with torch.inference_mode():
        out = model(*example)
    if not isinstance(out, tuple):
        out = (out,)
    doc = {"inputs": {n: entry(req[n][:BATCH]) for n in names},
           "reference_outputs": {n: entry(o.numpy()) for n, o in zip(onames, out)}}
    with open(os.path.join(out_dir, f"{model_name}_dynamo_ref.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
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
