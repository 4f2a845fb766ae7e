#!/usr/bin/env python3
"""Times the peer models in PyTorch per request, the way ort_bench.py times ONNX Runtime: eager
fp32, eager under bf16 autocast, and torch.compile (fp32, and bf16 autocast), with
torch.set_num_threads(threads), under torch.inference_mode().

Usage:
  torch_bench.py MODEL_NAME --peers-dir DIR --requests INPUTS.json [--candidates 200,512]
                 [--threads 1,16] [--modes eager,bf16,compile,compile_bf16]
                 [--warmup-s 0.3] [--min-s 1] [--json OUT.json]

MODEL_NAME is din or esmm; DIR holds peers_common.py (../shared/peers or a bundle of it), whose
build_model(name, "full") gives the module with the same deterministic weights that
make_models.py exported, so the three engines score one model. INPUTS.json is a `rankopt run`
inputs file (prepare.py writes one per model); its rows are tiled to each candidate count (row
r is row r % rows). Each mode's outputs are compared with eager fp32 on the same request (max
abs diff, printed and kept in the JSON).
"""
import argparse
import importlib.util
import json
import os
import sys

import torch

from bench_common import load_template, tile, time_calls


def flat(out):
    if isinstance(out, (tuple, list)):
        return [o.float() for o in out]
    return [out.float()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["din", "esmm"])
    parser.add_argument("--peers-dir", required=True)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--candidates", default="200,512")
    parser.add_argument("--threads", default="1,16")
    parser.add_argument("--modes", default="eager,bf16,compile,compile_bf16")
    parser.add_argument("--warmup-s", type=float, default=0.3)
    parser.add_argument("--min-s", type=float, default=1.0)
    parser.add_argument("--json")
    args = parser.parse_args()

    spec = importlib.util.spec_from_file_location(
        "peers_common", os.path.join(args.peers_dir, "peers_common.py"))
    pc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pc)
    module = pc.build_model(args.model, "full").eval()
    names = pc.input_names(args.model)
    template = load_template(args.requests)
    missing = [n for n in names if n not in template]
    if missing:
        sys.exit(f"{args.requests}: no input {missing} of the {args.model} module")
    compiled = None
    cells = []
    for threads in [int(x) for x in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for n in [int(x) for x in args.candidates.split(",")]:
            feeds = {k: torch.from_numpy(v) for k, v in tile(template, n).items()}
            call_args = [feeds[name] for name in names]
            with torch.inference_mode():
                reference = flat(module(*call_args))
            for mode in args.modes.split(","):
                bf16 = mode.endswith("bf16")
                try:
                    fn_module = module
                    if mode.startswith("compile"):
                        if compiled is None:
                            compiled = torch.compile(module)
                        fn_module = compiled

                    def call():
                        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                                     enabled=bf16):
                            return fn_module(*call_args)
                    diff = max(float((a - b).abs().max()) for a, b in zip(flat(call()), reference))
                    cell = time_calls(call, args.warmup_s, args.min_s)
                except Exception as e:  # torch.compile needs a C++ compiler; report, go on
                    print(f"torch {args.model} {mode}: {type(e).__name__}: {e}"[:400], flush=True)
                    continue
                cell.update({"candidates": n, "threads": threads, "mode": mode,
                             "max_abs_diff_vs_eager": diff})
                cells.append(cell)
                print(f"torch {args.model} {mode} candidates {n} threads {threads}: p50 "
                      f"{cell['p50_us']:.1f} us p99 {cell['p99_us']:.1f} us ({cell['runs']} runs), "
                      f"max abs diff vs eager {diff:.2e}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"engine": f"torch {torch.__version__}", "cells": cells}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
