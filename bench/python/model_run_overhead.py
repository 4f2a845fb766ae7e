#!/usr/bin/env python3
"""Per-call overhead of the Python binding: rankopt.Model.run against the same C++ call.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/model_run_overhead.py [--rounds 7]

For the DIN and ESMM peer models (tests/data/peers) at 16 and 200 candidates, alternating in each
round: the C++ Scorer::Run alone (feeds converted once, timed inside the native module with the
GIL released: Model.time_run_native) and Model.run from Python (numpy feeds in, numpy outputs
back), one call of each in turn. Prints the median per-call time of each, the median of the
per-pair differences (the binding's overhead: dict and array conversion, the GIL, wrapping the
outputs) and the ratio of the medians. The 16-core Xeon comparison
with onnxruntime's Python binding is not in this script (no onnxruntime for Python here).
"""
import argparse
import os
import statistics
import time

import numpy as np

import rankopt

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


if __name__ == "__main__":
    main()
