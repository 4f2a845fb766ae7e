#!/usr/bin/env python3
"""From PyTorch to rankopt: export a ranking model, optimize it, compare scores, benchmark.

The README's walkthrough, run by CI (ctest python_walkthrough). Needs Debian's python3-torch and
python3-numpy and the rankopt package (PYTHONPATH=build/python, or `pip install ./python`);
exits 77 (skipped) without torch. Writes only to a temporary directory.
"""
import os
import sys
import tempfile
import time

import numpy as np

try:
    import torch
except ImportError:
    print("torch is not installed: skipping the walkthrough")
    sys.exit(77)

import rankopt

torch.manual_seed(0)
work = tempfile.mkdtemp(prefix="rankopt-walkthrough-")


class Ranker(torch.nn.Module):
    """A small CTR model: user and item embeddings plus two dense features, then an MLP."""

    def __init__(self):
        super().__init__()
        self.user_emb = torch.nn.Embedding(1000, 8)
        self.item_emb = torch.nn.Embedding(1000, 8)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(18, 32), torch.nn.ReLU(),
                                       torch.nn.Linear(32, 1))

    def forward(self, user_id, item_id, dense):
        x = torch.cat([self.user_emb(user_id), self.item_emb(item_id), dense], dim=1)
        return torch.sigmoid(self.mlp(x))


net = Ranker().eval()

# 1. Export to ONNX, the batch dim dynamic (one row per candidate).
onnx_path = os.path.join(work, "ranker.onnx")
n = 16
example = (torch.zeros(n, dtype=torch.int64), torch.zeros(n, dtype=torch.int64),
           torch.zeros(n, 2))
torch.onnx.export(net, example, onnx_path, input_names=["user_id", "item_id", "dense"],
                  output_names=["prob"], opset_version=13,
                  dynamic_axes={k: {0: "batch"} for k in ("user_id", "item_id", "dense", "prob")})

# 2. The feature config: which raw request value feeds which graph input, and the tables.
config_path = os.path.join(work, "ranker.yaml")
with open(config_path, "w", encoding="utf-8") as f:
    f.write("""model: ranker
features:
  - {name: user_id, side: user, kind: categorical, ids: identity, num_buckets: 1000,
     embedding: {table: user, dim: 8}}
  - {name: user_activity, side: user, kind: numeric, input: dense, input_column: 0}
  - {name: item_id, side: item, kind: categorical, ids: identity, num_buckets: 1000,
     embedding: {table: item, dim: 8}}
  - {name: item_price, side: item, kind: numeric, input: dense, input_column: 1}
tables:
  - {name: user, dim: 8, dtype: fp32, weights: {graph_constant: user_emb.weight}}
  - {name: item, dim: 8, dtype: fp32, weights: {graph_constant: item_emb.weight}}
""")

rng = np.random.default_rng(0)
items = rng.integers(0, 1000, n)
prices = rng.normal(size=n).astype(np.float32)
request = {"user": {"user_id": 472, "user_activity": 0.5},
           "candidates": [{"item_id": int(i), "item_price": float(p)}
                          for i, p in zip(items, prices)]}

# 3. Optimize into a package (the report is the same data as `rankopt optimize --json`), load it,
#    and compare its scores with PyTorch's: five lines.
result = rankopt.optimize(onnx_path, features=config_path, sample=[request], time_s=0.05)
model = rankopt.Model(result.package)
scores = model.score(request)["prob"]
torch_scores = net(torch.full((n,), 472), torch.tensor(items),
                   torch.tensor(np.stack([np.full(n, 0.5, np.float32), prices], 1))).detach().numpy().ravel()
assert np.abs(scores - torch_scores).max() <= 1e-2  # int8 tables: within the accuracy gate

print(result)
print(f"max |rankopt - torch| over {n} candidates: {np.abs(scores - torch_scores).max():.2e} "
      f"(int8 tables kept: {result.report['int8']['kept']} of {result.report['int8']['tables']}, "
      f"gate max abs diff 1e-2; dense layers behind their own gate, 1e-3)")
# With fp32 tables and dense layers (int8="off", precision="fp32") the package reproduces
# PyTorch to float rounding.
fp32 = rankopt.Model(rankopt.optimize(onnx_path, features=config_path, sample=[request],
                                      int8="off", precision="fp32", time_s=0).package)
np.testing.assert_allclose(fp32.score(request)["prob"], torch_scores, rtol=1e-5, atol=1e-6)
for step in result.report["passes"]:
    print(f"  {step['name']:<28} {step['status']:<16} nodes {step['nodes_before']} -> "
          f"{step['nodes_after']}")


# 4. Benchmark: median per-request latency, both engines side by side in one run.
def median_us(fn, runs=200):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


torch.set_num_threads(1)
feeds = (torch.full((n,), 472), torch.tensor(items),
         torch.tensor(np.stack([np.full(n, 0.5, np.float32), prices], 1)))
with torch.no_grad():
    torch_us = median_us(lambda: net(*feeds))
rankopt_us = median_us(lambda: model.score(request))
print(f"{n} candidates, 1 thread: torch {torch_us:.1f} us, rankopt score (request dict in) "
      f"{rankopt_us:.1f} us, torch/rankopt {torch_us / rankopt_us:.2f}x")
