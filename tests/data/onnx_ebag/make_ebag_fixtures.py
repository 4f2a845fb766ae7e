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

With --dynamo (torch >= 2.5 with onnxscript and onnxruntime's Python package, e.g. the 16-core
benchmark machine): the same bags, plus fixed-length bags of a 2-D input (DLRM's form), through
torch.onnx.export(..., dynamo=True) as ebag_dyn_*.onnx, the reference from onnxruntime's Python
package. That exporter pools an empty bag to zeros in every mode (its Loop's If), so no -inf.
  python3 tests/data/onnx_ebag/make_ebag_fixtures.py --dynamo [--out DIR]
"""
import argparse
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


# name: (mode, per_sample_weights, include_last_offset, 2-D input)
DYNAMO_CASES = {
    'ebag_dyn_sum': ('sum', False, False, False),
    'ebag_dyn_mean': ('mean', False, False, False),
    'ebag_dyn_max': ('max', False, False, False),
    'ebag_dyn_sum_weighted_last': ('sum', True, True, False),
    'ebag_dyn_2d_sum': ('sum', False, False, True),
}


class Bag(torch.nn.Module):
    def __init__(self, mode, last):
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(12, 4, mode=mode, include_last_offset=last)

    def forward(self, indices, offsets, weights=None):
        return self.bag(indices, offsets, per_sample_weights=weights)


def save(path, inputs, outputs):
    refs = {n: {'dtype': 'float32', 'dims': list(t.shape), 'data': t.ravel().tolist()}
            for n, t in outputs.items()}
    with open(path, 'w') as f:
        json.dump({'inputs': inputs, 'reference_outputs': refs}, f)


def dynamo(out_dir, indices, offsets, weights):
    import onnxruntime as ort
    for name, (mode, weighted, last, two_d) in DYNAMO_CASES.items():
        torch.manual_seed(7)
        model = Bag(mode, last).eval()
        if two_d:
            args = (indices[:8].reshape(4, 2),)
            names = ['indices']
        else:
            offs = torch.cat([offsets, torch.tensor([indices.numel()])]) if last else offsets
            args = (indices, offs, weights) if weighted else (indices, offs)
            names = ['indices', 'offsets'] + (['weights'] if weighted else [])
        path = os.path.join(out_dir, name + '.onnx')
        ids = torch.export.Dim('ids', min=2, max=1 << 20)
        bags = torch.export.Dim('bags', min=2, max=1 << 20)
        shapes = {'indices': {0: bags if two_d else ids}, 'offsets': {0: bags},
                  'weights': {0: ids}}
        try:
            with torch.no_grad():
                torch.onnx.export(model, args, path, input_names=names, output_names=['pooled'],
                                  dynamic_shapes={n: shapes[n] for n in names}, dynamo=True,
                                  external_data=False)
        except Exception as e:  # an exporter limit is a finding to report, not a fixture
            print(name, 'export failed:', type(e).__name__, str(e).splitlines()[0][:300])
            continue
        feeds = {n: t.numpy() for n, t in zip(names, args)}
        got = ort.InferenceSession(path, providers=['CPUExecutionProvider']).run(None, feeds)[0]
        eager = model(*args).detach().numpy()
        print(name, 'ORT vs torch eager max abs diff', float(np.abs(got - eager).max()))
        inputs = {n: {'dtype': 'int64' if t.dtype == torch.int64 else 'float32',
                      'dims': list(t.shape), 'data': t.ravel().tolist()}
                  for n, t in zip(names, args)}
        save(os.path.join(out_dir, name + '.json'), inputs, {'pooled': got})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--dynamo', action='store_true')
    ap.add_argument('--out', default=HERE)
    args = ap.parse_args()
    torch.manual_seed(7)
    # Bags of 2, 0 (empty), 3, 1 and 3 ids; ids include repeats.
    indices = torch.tensor([3, 11, 0, 5, 5, 7, 2, 9, 1], dtype=torch.int64)
    offsets = torch.tensor([0, 2, 2, 5, 6], dtype=torch.int64)
    weights = torch.tensor([0.5, -1.25, 2.0, 0.75, 1.5, -0.5, 3.0, 0.25, 1.0])
    if args.dynamo:
        return dynamo(args.out, indices, offsets, weights)
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
