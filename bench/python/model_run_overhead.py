#!/usr/bin/env python3
"""Per-call overhead of the Python binding: rankopt.Model.run against the same C++ call.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/model_run_overhead.py [--rounds 7]

For the DIN and ESMM peer models (tests/data/peers) at 16 and 200 candidates, alternating in each
round: the C++ Scorer::Run alone (feeds converted once, timed inside the native module with the
GIL released: Model.time_run_native) and Model.run from Python (numpy feeds in, numpy outputs
back), one call of each in turn. Prints the median per-call time of each, the median of the
per-pair differences (the binding's overhead: dict and array conversion, the GIL, wrapping the
outputs) and the ratio of the medians.

With onnxruntime importable (the 16-core Xeon; not Debian), a second table sets the two Python
bindings side by side on the same feeds, 1 thread each, calls alternating: ORT's
InferenceSession.run and rankopt.Model.run on the peer model, and both on its floor model (the
same inputs and outputs, body ReduceSum over one input: bench/peers/prepare.py's build_floor),
whose time is each binding's fixed per-call cost (argument conversion, session bookkeeping,
output wrapping) with almost no compute.
"""
import argparse
import os
import statistics
import time

import numpy as np

import rankopt

try:
    import onnxruntime as ort
except ImportError:
    ort = None

PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data",
                     "peers")


def tiled(feeds, n):
    """The 16-candidate reference feeds repeated to n rows."""
    out = {}
    for name, a in feeds.items():
        reps = -(-n // a.shape[0])
        out[name] = np.ascontiguousarray(np.concatenate([a] * reps)[:n])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300, help="calls per side per round")
    args = parser.parse_args()
    for warning in rankopt._native.optimize_build_warnings():
        print(f"WARNING: {warning}")
    print(f"rankopt {rankopt.__version__}; rounds {args.rounds} x {args.calls} calls per side; "
          "1 thread")
    print(f"{'model':<6} {'cands':>5} {'C++ run us':>11} {'Model.run us':>13} {'overhead us':>12} "
          f"{'ratio':>6}")
    for name in ("din", "esmm"):
        archive = np.load(os.path.join(PEERS, f"{name}_ref.npz"))
        base = {k[3:]: archive[k] for k in archive.files if k.startswith("in/")}
        model = rankopt.Model(os.path.join(PEERS, f"{name}.onnx"))
        for n in (16, 200):
            feeds = tiled(base, n)
            model.run(feeds)
            # Paired: each Python call right after one C++ call, so machine noise hits both.
            native, python, overhead = [], [], []
            for _ in range(args.rounds * args.calls):
                cpp = model._m.time_run_native(feeds, 1)[0]
                start = time.perf_counter()
                model.run(feeds)
                py = time.perf_counter() - start
                native.append(cpp)
                python.append(py)
                overhead.append(py - cpp)
            cpp_us = statistics.median(native) * 1e6
            py_us = statistics.median(python) * 1e6
            over_us = statistics.median(overhead) * 1e6
            print(f"{name:<6} {n:>5} {cpp_us:>11.2f} {py_us:>13.2f} {over_us:>12.2f} "
                  f"{py_us / cpp_us:>6.3f}")
    if ort is not None:
        compare_with_ort(args)


def ort_session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def compare_with_ort(args):
    import sys
    import tempfile
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
    from prepare import build_floor
    print(f"\nonnxruntime {ort.__version__} (Python) and rankopt.Model.run side by side, 1 thread, "
          "medians of alternating calls (us)")
    print(f"{'model':<6} {'cands':>5} {'ORT run':>9} {'rankopt run':>12} {'ORT floor':>10} "
          f"{'rankopt floor':>14}")
    work = tempfile.mkdtemp()
    for name in ("din", "esmm"):
        path = os.path.join(PEERS, f"{name}.onnx")
        warnings = []
        floor_path = build_floor(path, os.path.join(work, f"{name}_floor.onnx"), warnings)
        archive = np.load(os.path.join(PEERS, f"{name}_ref.npz"))
        base = {k[3:]: archive[k] for k in archive.files if k.startswith("in/")}
        engines = {"ort": ort_session(path), "rankopt": rankopt.Model(path)}
        floors = {}
        if floor_path:
            floors = {"ort": ort_session(floor_path), "rankopt": rankopt.Model(floor_path)}
        for n in (16, 200):
            feeds = tiled(base, n)
            calls = {"ort run": lambda: engines["ort"].run(None, feeds),
                     "rankopt run": lambda: engines["rankopt"].run(feeds)}
            if floors:
                calls["ort floor"] = lambda: floors["ort"].run(None, feeds)
                # rankopt's floor plan drops the inputs its body does not read.
                used = {i["name"] for i in floors["rankopt"].inputs}
                floor_feeds = {k: v for k, v in feeds.items() if k in used}
                calls["rankopt floor"] = lambda: floors["rankopt"].run(floor_feeds)
            times = {k: [] for k in calls}
            for f in calls.values():
                f()
            for _ in range(args.rounds * args.calls):
                for k, f in calls.items():
                    start = time.perf_counter()
                    f()
                    times[k].append(time.perf_counter() - start)
            med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
            cells = [med.get(k) for k in ("ort run", "rankopt run", "ort floor", "rankopt floor")]
            text = ["-" if c is None else f"{c:.2f}" for c in cells]
            print(f"{name:<6} {n:>5} {text[0]:>9} {text[1]:>12} {text[2]:>10} {text[3]:>14}")


if __name__ == "__main__":
    main()
