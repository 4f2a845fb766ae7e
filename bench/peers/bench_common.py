"""Helpers shared by the many-core peer benches (ort_bench.py, torch_bench.py): a `rankopt run`
inputs file as numpy arrays, its rows tiled to N candidates, and the per-request timing loop
`rankopt bench` uses (warm-up >= 10 runs and >= warmup-s, then >= 200 runs and >= min-s, or >= 50
runs and >= 3 s when a run takes over 10 ms; each request timed on its own)."""
import json
import statistics
import time

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
          "bool": np.bool_}


def load_template(path):
    with open(path) as f:
        doc = json.load(f)
    return {name: np.asarray(t["data"], dtype=DTYPES[t["dtype"]]).reshape(t["dims"])
            for name, t in doc["inputs"].items()}


def tile(template, n):
    """Row r of each input is the template's row r % rows."""
    return {name: np.ascontiguousarray(a[np.arange(n) % a.shape[0]])
            for name, a in template.items()}


def time_calls(fn, warmup_s, min_s):
    start = time.perf_counter()
    runs = 0
    while runs < 10 or time.perf_counter() - start < warmup_s:
        fn()
        runs += 1
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
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
