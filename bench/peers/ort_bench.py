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
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
          "bool": np.bool_}


def load_template(path):
    with open(path) as f:
        doc = json.load(f)
    inputs = {}
    for name, t in doc["inputs"].items():
        inputs[name] = np.asarray(t["data"], dtype=DTYPES[t["dtype"]]).reshape(t["dims"])
    return inputs


def tile(template, n):
    out = {}
    for name, a in template.items():
        rows = a.shape[0]
        idx = np.arange(n) % rows
        out[name] = np.ascontiguousarray(a[idx])
    return out


def time_requests(session, feeds, warmup_s, min_s):
    start = time.perf_counter()
    runs = 0
    while runs < 10 or time.perf_counter() - start < warmup_s:
        session.run(None, feeds)
        runs += 1
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        slow = statistics.median(times) > 0.01
        if slow and len(times) >= 50 and elapsed >= max(3.0, min_s):
            break
        if not slow and len(times) >= 200 and elapsed >= min_s:
            break
    times.sort()
    return {"runs": len(times), "p50_us": times[len(times) // 2] * 1e6,
            "p99_us": times[min(len(times) - 1, int(len(times) * 0.99))] * 1e6}


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
            cell = time_requests(session, tile(template, n), args.warmup_s, args.min_s)
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
