#!/usr/bin/env python3
"""Writes single-op ONNX models for the ops PyTorch and Keras exports bring beyond the zoo
(Einsum, GatherElements, ScatterND, ScatterElements, Trilu, CumSum, Dropout, IsInf, IsNaN,
HardSwish, Celu, ThresholdedRelu, trigonometric), each with deterministic inputs and ONNX
Runtime's outputs: NAME.onnx and NAME.json = {"inputs", "reference_outputs"}, which
tests/graph/exec/ops_models_test.cc runs (it walks tests/data/ops). Non-finite outputs cannot
be JSON: the cases avoid them. Run from anywhere (onnx, numpy, node with tests/ort set up):
  /usr/bin/python3 tests/data/ops/onnx_more/make_op_fixtures.py
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import onnx.numpy_helper
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..', '..'))
ONNX_TYPES = {np.float32: TensorProto.FLOAT, np.int64: TensorProto.INT64, np.bool_: TensorProto.BOOL}
JSON_TYPES = {np.float32: 'float32', np.int64: 'int64', np.bool_: 'bool'}


def floats(rng, *dims):
    return np.round(rng.uniform(-2, 2, dims), 3).astype(np.float32)


def case(name, op, inputs, attrs=None, opset=17, outputs=('y',), out_types=None, consts=None):
    """inputs: [(name, array)] fed at run time; consts: [(name, array)] as initializers."""
    consts = consts or []
    node = helper.make_node(op, [n for n, _ in inputs] + [n for n, _ in consts], list(outputs),
                            **(attrs or {}))
    # Inputs first then initializers, in the op's order: callers list them so.
    names = [n for n, _ in inputs] + [n for n, _ in consts]
    node.ClearField('input')
    node.input.extend(names)
    g = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info(n, ONNX_TYPES[a.dtype.type], list(a.shape))
         for n, a in inputs],
        [helper.make_tensor_value_info(o, t, None)
         for o, t in zip(outputs, out_types or [ONNX_TYPES[inputs[0][1].dtype.type]] * len(outputs))],
        initializer=[onnx.numpy_helper.from_array(a, n) for n, a in consts])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)])
    model.ir_version = 8
    # (no onnx.checker: onnx 1.12 wants output shapes; ONNX Runtime validates on load)
    path = os.path.join(HERE, name + '.onnx')
    onnx.save(model, path)
    feeds = {n: {'dtype': JSON_TYPES[a.dtype.type], 'dims': list(a.shape),
                 'data': a.ravel().tolist()} for n, a in inputs}
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = os.path.join(tmp, 'in.json'), os.path.join(tmp, 'out.json')
        with open(fin, 'w') as f:
            json.dump({'inputs': feeds}, f)
        subprocess.run(['node', os.path.join(REPO, 'tests', 'ort', 'run_onnx.js'), path, fin, fout],
                       check=True)
        outs = json.load(open(fout))['outputs']
    with open(os.path.join(HERE, name + '.json'), 'w') as f:
        json.dump({'inputs': feeds, 'reference_outputs': outs}, f)
    print(name, {k: v['dims'] for k, v in outs.items()})


def main():
    rng = np.random.default_rng(20261205)
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    case('einsum_bnd_bd', 'Einsum', [('q', floats(rng, 3, 4, 5)), ('k', floats(rng, 3, 5))],
         {'equation': 'bnd,bd->bn'})
    case('einsum_bij_bjk', 'Einsum', [('a', floats(rng, 2, 3, 4)), ('b', floats(rng, 2, 4, 2))],
         {'equation': 'bij,bjk->bik'})
    case('einsum_ellipsis_trace', 'Einsum', [('a', floats(rng, 2, 3, 3))],
         {'equation': '...ii->...i'})
    case('einsum_implicit', 'Einsum', [('a', floats(rng, 3, 2)), ('b', floats(rng, 2, 4))],
         {'equation': 'ij,jk'})
    case('gather_elements_axis1', 'GatherElements',
         [('x', floats(rng, 3, 4)), ('i', i64([0, 3, -1], [1, 1, 2], [2, 0, 0]))], {'axis': 1})
    case('scatter_nd_add', 'ScatterND',
         [('x', floats(rng, 4, 3)), ('i', i64([1], [3], [1])), ('u', floats(rng, 3, 3))],
         {'reduction': 'add'})
    case('scatter_nd_none', 'ScatterND',
         [('x', floats(rng, 2, 3)), ('i', i64([0, 2], [1, -1])), ('u', floats(rng, 2))])
    case('scatter_elements_mul', 'ScatterElements',
         [('x', floats(rng, 3, 3)), ('i', i64([2, 0, 1], [0, 0, 1])), ('u', floats(rng, 2, 3))],
         {'axis': 0, 'reduction': 'mul'})
    case('trilu_upper_k1', 'Trilu', [('x', floats(rng, 2, 3, 4))], {'upper': 1},
         consts=[('k', np.array(1, dtype=np.int64))])
    case('trilu_lower', 'Trilu', [('x', floats(rng, 4, 3))], {'upper': 0})
    case('cumsum_exclusive_reverse', 'CumSum', [('x', floats(rng, 2, 5))],
         {'exclusive': 1, 'reverse': 1}, consts=[('axis', np.array(1, dtype=np.int64))])
    case('dropout_mask', 'Dropout', [('x', floats(rng, 2, 3))], outputs=('y', 'mask'),
         out_types=[TensorProto.FLOAT, TensorProto.BOOL],
         consts=[('ratio', np.array(0.3, dtype=np.float32))])
    # JSON has no inf or NaN: those inputs are initializers.
    case('is_inf_negative', 'IsInf', [], {'detect_positive': 0}, out_types=[TensorProto.BOOL],
         consts=[('x', np.array([-np.inf, -1, 0, np.inf, np.nan], dtype=np.float32))])
    case('is_nan', 'IsNaN', [], out_types=[TensorProto.BOOL],
         consts=[('x', np.array([np.nan, 1, -np.inf], dtype=np.float32))])
    case('hard_swish', 'HardSwish', [('x', floats(rng, 8) * 2)])
    case('celu', 'Celu', [('x', floats(rng, 6))], {'alpha': 0.7})
    case('thresholded_relu', 'ThresholdedRelu', [('x', floats(rng, 6))], {'alpha': 0.5})
    case('atan', 'Atan', [('x', floats(rng, 5))])
    case('sinh', 'Sinh', [('x', floats(rng, 5))])


if __name__ == '__main__':
    main()
