#!/usr/bin/env python3
"""Exports the model zoo (bench/zoo/zoo_models.py) with the TorchScript ONNX exporter
(torch.onnx.export, opsets 13 and 17, dynamic batch axis) and writes PyTorch eager outputs of a
one-user x 16-candidate request.

Writes into --out (default tests/data/zoo at --scale mini, build/zoo_full at --scale full):
  <model>_op13.onnx, <model>_op17.onnx   the exports, all weights inside the file
  <model>_ref.json                       {"inputs", "reference_outputs"} (rankopt run --inputs)
  models.json                            per model: inputs (dtype, shape, side, table,
                                         vocabulary), outputs, the --request-inputs value, files,
                                         op types; and "expected_failures", carried over from the
                                         models.json already in --out (edited by hand: what
                                         rankopt cannot run yet, and the error it gives)

Usage: /usr/bin/python3 bench/zoo/make_zoo.py [--scale mini|full] [--out DIR] [--models a,b]
                                               [--opsets 13,17] [--candidates 16]
"""
import argparse
import collections
import inspect
import json
import os
import sys

import numpy as np
import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo_models as zm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def entry(array):
    dtype = "bool" if array.dtype == np.bool_ else str(array.dtype)
    return {"dtype": dtype, "dims": list(array.shape), "data": array.reshape(-1).tolist()}


def export(name, scale, out_dir, opsets, candidates):
    torch.manual_seed(0)
    model = zm.build_model(name, scale).eval()
    weights = zm.make_weights(name, model)
    spec = zm.get_spec(name, scale)
    names = zm.input_names(name)
    onames = zm.output_names(name)
    req = zm.make_request(name, candidates, scale)
    example = tuple(torch.from_numpy(req[n]) for n in names)
    files, ops = {}, {}
    for opset in opsets:
        path = os.path.join(out_dir, f"{name}_op{opset}.onnx")
        # Not under no_grad: with gradients on, nn.TransformerEncoderLayer takes its math path
        # (its inference fast path, aten::_transformer_encoder_layer_fwd, has no ONNX export).
        # torch >= 2.9 exports with dynamo by default; these fixtures are the TorchScript
        # exporter's (make_dynamo_exports.py covers dynamo).
        legacy = ({"dynamo": False}
                  if "dynamo" in inspect.signature(torch.onnx.export).parameters else {})
        torch.onnx.export(model, example, path, input_names=names, output_names=onames,
                          dynamic_axes={n: {0: "batch"} for n in names + onames},
                          opset_version=opset, do_constant_folding=True, **legacy)
        proto = onnx.load(path)
        onnx.checker.check_model(proto)
        ops[f"op{opset}"] = dict(sorted(collections.Counter(
            n.op_type for n in proto.graph.node).items()))
        files[f"op{opset}"] = {"file": os.path.basename(path), "bytes": os.path.getsize(path)}
    with torch.inference_mode():
        out = model(*example)
    if not isinstance(out, tuple):
        out = (out,)
    doc = {"inputs": {n: entry(req[n]) for n in names},
           "reference_outputs": {n: entry(o.numpy()) for n, o in zip(onames, out)}}
    ref = os.path.join(out_dir, f"{name}_ref.json")
    with open(ref, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    files["ref"] = {"file": os.path.basename(ref), "bytes": os.path.getsize(ref)}
    n_emb = sum(v.size for k, v in weights.items()
                if isinstance(_module(model, k), torch.nn.Embedding))
    n_all = sum(v.size for k, v in weights.items() if not k.endswith("num_batches_tracked"))
    info = {
        "name": name,
        "description": zm.DESCRIPTIONS[name],
        "inputs": [{"name": n, "dtype": dt, "shape": ["batch"] + shape, "side": side,
                    **({"user_columns": [0, ucols]} if side == "mixed" else {}),
                    **({"table": table, "vocab": spec["tables"][table]} if table else {})}
                   for n, dt, shape, side, table, ucols in spec["inputs"]],
        "outputs": [{"name": o, "dtype": "float32", "shape": ["batch", 1]} for o in onames],
        "request_inputs": zm.request_inputs(name, scale),
        "candidates": candidates,
        "parameters": {"all": int(n_all), "embedding": int(n_emb)},
        "files": files,
        "ops": ops,
    }
    print(f"{name}: {n_all} parameters, " +
          ", ".join(f"{v['file']} {v['bytes']}" for v in files.values()))
    return info


def _module(model, state_name):
    mods = dict(model.named_modules())
    return mods.get(state_name.rpartition(".")[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="mini", choices=zm.SCALES)
    ap.add_argument("--out", default=None)
    ap.add_argument("--models", default=",".join(zm.MODELS))
    ap.add_argument("--opsets", default="13,17")
    ap.add_argument("--candidates", type=int, default=16)
    args = ap.parse_args()
    out = args.out or os.path.join(ROOT, *(("tests", "data", "zoo") if args.scale == "mini"
                                           else ("build", "zoo_full")))
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    opsets = [int(o) for o in args.opsets.split(",")]
    manifest_path = os.path.join(out, "models.json")
    old = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            old = json.load(f)
    models = {m["name"]: m for m in old.get("models", [])}
    for name in args.models.split(","):
        models[name] = export(name, args.scale, out, opsets, args.candidates)
    manifest = {
        "generator": "bench/zoo/make_zoo.py --scale " + args.scale,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "scale": args.scale,
        "models": [models[m] for m in zm.MODELS if m in models],
        # Hand-edited, kept across regenerations: {"model", "opset" (13, 17 or "*"), "level"
        # ("0", "2" or "*"), "reason" (text rankopt prints)}.
        "expected_failures": old.get("expected_failures", []),
    }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
