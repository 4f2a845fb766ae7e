#!/usr/bin/env python3
"""Times ONNX Runtime (CPU, the Python binding over its C API) per request the way
`rankopt bench` does; the thread-scaling companion of peers.js for machines with Python's
onnxruntime and without node (the 16-core `device` machine).

Usage:
  ort_bench.py MODEL.onnx --requests INPUTS.json [--candidates 200,512] [--threads 1,2,4,8,16]
               [--warmup-s 0.3] [--min-s 1] [--json OUT.json]

INPUTS.json is a `rankopt run` inputs file; its rows are tiled to each candidate count (row r is
row r % rows), as `rankopt bench --requests` does. Per (candidates, threads): warm-up >= 10 runs
and >= warmup-s, then >= 200 runs and >= min-s (>= 50 runs and >= 3 s when a run takes over
10 ms); each request timed on its own. Session: intra_op_num_threads = threads,
inter_op_num_threads = 1, sequential execution, ORT_ENABLE_ALL.
"""
import argparse
import json
import sys

import onnxruntime as ort

from bench_common import load_template, tile, time_calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--requests", required=True)
    parser.add_argument("--candidates", default="200,512")
    parser.add_argument("--threads", default="1,2,4,8,16")
    parser.add_argument("--warmup-s", type=float, default=0.3)
    parser.add_argument("--min-s", type=float, default=1.0)
    parser.add_argument("--json")
    args = parser.parse_args()
    template = load_template(args.requests)
    cells = []
    for threads in [int(x) for x in args.threads.split(",")]:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
        for n in [int(x) for x in args.candidates.split(",")]:
            feeds = tile(template, n)
            cell = time_calls(lambda: session.run(None, feeds), args.warmup_s, args.min_s)
            cell.update({"candidates": n, "threads": threads})
            cells.append(cell)
            print(f"ort {args.model} candidates {n} threads {threads}: p50 "
                  f"{cell['p50_us']:.1f} us p99 {cell['p99_us']:.1f} us ({cell['runs']} runs)",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"engine": f"onnxruntime {ort.__version__} (python)", "cells": cells}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
