#!/usr/bin/env python3
"""Regenerates the EmbeddingBag Loop fixtures: nn.EmbeddingBag exported by PyTorch's TorchScript
exporter (a Loop over the bags) and ONNX Runtime's outputs for it.

Writes NAME.onnx and NAME.json = {"inputs", "reference_outputs"} (graph/exec/tensor_json.h) for
each case below. The reference is ONNX Runtime running the exported Loop (onnxruntime-node,
through tests/ort/run_onnx.js), i.e. what the Loop computes, which differs from torch eager on
empty bags: ReduceMax of an empty bag is -inf (torch gives 0). JSON has no -inf, so such an
element is written as the lowest float32 (-3.4028234663852886e38) and the test reads it as -inf.
Run from anywhere (torch 1.13, onnx, numpy, node):
  /usr/bin/python3 tests/data/onnx_ebag/make_ebag_fixtures.py
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
LOWEST = -3.4028234663852886e38

# name: (mode, opset, per_sample_weights, include_last_offset)
CASES = {
    'ebag_sum_op13': ('sum', 13, False, False),
    'ebag_mean_op13': ('mean', 13, False, False),
    'ebag_max_op13': ('max', 13, False, False),
    'ebag_mean_op17': ('mean', 17, False, False),
    'ebag_sum_weighted_last_op17': ('sum', 17, True, True),
}


class Bag(torch.nn.Module):
    def __init__(self, mode, last):
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(12, 4, mode=mode, include_last_offset=last)

    def forward(self, indices, offsets, weights=None):
        return self.bag(indices, offsets, per_sample_weights=weights)


def main():
    torch.manual_seed(7)
    # Bags of 2, 0 (empty), 3, 1 and 3 ids; ids include repeats.
    indices = torch.tensor([3, 11, 0, 5, 5, 7, 2, 9, 1], dtype=torch.int64)
    offsets = torch.tensor([0, 2, 2, 5, 6], dtype=torch.int64)
    weights = torch.tensor([0.5, -1.25, 2.0, 0.75, 1.5, -0.5, 3.0, 0.25, 1.0])
    for name, (mode, opset, weighted, last) in CASES.items():
        model = Bag(mode, last).eval()
        offs = torch.cat([offsets, torch.tensor([indices.numel()])]) if last else offsets
        args = (indices, offs, weights) if weighted else (indices, offs)
        names = ['indices', 'offsets'] + (['weights'] if weighted else [])
        path = os.path.join(HERE, name + '.onnx')
        torch.onnx.export(model, args, path, opset_version=opset, input_names=names,
                          output_names=['pooled'],
                          dynamic_axes={n: {0: n + '_len'} for n in names})
        inputs = {}
        for n, t in zip(names, args):
            dtype = 'int64' if t.dtype == torch.int64 else 'float32'
            inputs[n] = {'dtype': dtype, 'dims': list(t.shape), 'data': t.tolist()}
        with tempfile.TemporaryDirectory() as tmp:
            feed = os.path.join(tmp, 'in.json')
            out = os.path.join(tmp, 'out.json')
            with open(feed, 'w') as f:
                json.dump({'inputs': inputs}, f)
            subprocess.run(['node', os.path.join(REPO, 'tests', 'ort', 'run_onnx.js'), path, feed,
                            out], check=True)
            # run_onnx.js writes -inf as null.
            ort = json.load(open(out))['outputs']
        refs = {}
        for n, t in ort.items():
            data = [LOWEST if v is None else v for v in t['data']]
            refs[n] = {'dtype': 'float32', 'dims': t['dims'], 'data': data}
        eager = model(*args).detach().numpy().ravel()
        got = np.array(refs['pooled']['data'], dtype=np.float64)
        same = np.abs(got - eager) <= 1e-6 * np.maximum(1, np.abs(eager))
        print(name, 'ORT == torch eager except', int((~same).sum()), 'elements (empty bags)')
        with open(os.path.join(HERE, name + '.json'), 'w') as f:
            json.dump({'inputs': inputs, 'reference_outputs': refs}, f)


if __name__ == '__main__':
    main()
