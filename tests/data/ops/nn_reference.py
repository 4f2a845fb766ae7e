"""Plain numpy references of the convolution, pooling and top-k ops (float64, loops).

Shared by gen_tf_expectations.py and used to compute the numbers baked into
tests/graph/kernels/math/nn_kernels_test.cc. Layout: channels last (N, spatial..., C); callers
transpose NCHW data. Independent of rankopt's C++ kernels.
"""
import itertools

import numpy as np


def same_pads(in_size, kernel, stride, dilation, lower=False):
    """TF SAME / ONNX SAME_UPPER (odd element at the end) or SAME_LOWER."""
    eff = (kernel - 1) * dilation + 1
    out = -(-in_size // stride)
    total = max((out - 1) * stride + eff - in_size, 0)
    begin = total - total // 2 if lower else total // 2
    return begin, total - begin


def resolve_pads(spatial, kernel, strides, dilations, padding):
    """padding: 'VALID', 'SAME', 'SAME_LOWER' or a list of (begin, end) per spatial dim."""
    if padding == 'VALID':
        return [(0, 0)] * len(spatial)
    if padding in ('SAME', 'SAME_UPPER', 'SAME_LOWER'):
        return [same_pads(i, k, s, d, padding == 'SAME_LOWER')
                for i, k, s, d in zip(spatial, kernel, strides, dilations)]
    return list(padding)


def conv(x, w, strides, dilations, padding, groups=1, bias=None):
    """x: (N, spatial..., C); w: (k..., C/groups, M) (TF HWIO). Returns (N, out..., M)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    s = x.ndim - 2
    kernel = w.shape[:s]
    cg, m = w.shape[s], w.shape[s + 1]
    mg = m // groups
    pads = resolve_pads(x.shape[1:-1], kernel, strides, dilations, padding)
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    out_sp = [(xp.shape[1 + i] - eff[i]) // strides[i] + 1 for i in range(s)]
    out = np.zeros([x.shape[0]] + out_sp + [m])
    for n in range(x.shape[0]):
        for o in itertools.product(*[range(v) for v in out_sp]):
            for kk in itertools.product(*[range(v) for v in kernel]):
                idx = tuple(o[i] * strides[i] + kk[i] * dilations[i] for i in range(s))
                xv = xp[(n,) + idx]
                for g in range(groups):
                    out[(n,) + o][g * mg:(g + 1) * mg] += xv[g * cg:(g + 1) * cg] @ w[kk][:, g * mg:(g + 1) * mg]
    if bias is not None:
        out += np.asarray(bias, np.float64)
    return out


def depthwise_conv(x, w, strides, dilations, padding):
    """w: (k..., C, multiplier); output channel c*multiplier + j."""
    w = np.asarray(w, np.float64)
    s = w.ndim - 2
    c, mult = w.shape[s], w.shape[s + 1]
    return conv(x, w.reshape(w.shape[:s] + (1, c * mult)), strides, dilations, padding, groups=c)


def pool(x, kernel, strides, padding, mode, dilations=None, count_include_pad=False,
         ceil_mode=False):
    """mode 'max' or 'avg'. Averages divide by the valid count unless count_include_pad."""
    x = np.asarray(x, np.float64)
    s = x.ndim - 2
    dilations = dilations or [1] * s
    pads = resolve_pads(x.shape[1:-1], kernel, strides, dilations, padding)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    out_sp = []
    for i in range(s):
        padded = x.shape[1 + i] + pads[i][0] + pads[i][1]
        if ceil_mode:
            o = -(-(padded - eff[i]) // strides[i]) + 1
            if (o - 1) * strides[i] >= x.shape[1 + i] + pads[i][0]:
                o -= 1
        else:
            o = (padded - eff[i]) // strides[i] + 1
        out_sp.append(o)
    out = np.zeros([x.shape[0]] + out_sp + [x.shape[-1]])
    for n in range(x.shape[0]):
        for o in itertools.product(*[range(v) for v in out_sp]):
            vals, padded_count = [], 0
            for kk in itertools.product(*[range(v) for v in kernel]):
                idx = tuple(o[i] * strides[i] - pads[i][0] + kk[i] * dilations[i] for i in range(s))
                if all(-pads[i][0] <= idx[i] < x.shape[1 + i] + pads[i][1] for i in range(s)):
                    padded_count += 1
                if all(0 <= idx[i] < x.shape[1 + i] for i in range(s)):
                    vals.append(x[(n,) + idx])
            vals = np.array(vals)
            if mode == 'max':
                out[(n,) + o] = vals.max(axis=0)
            else:
                out[(n,) + o] = vals.sum(axis=0) / (padded_count if count_include_pad else len(vals))
    return out


def topk(x, k, axis=-1, largest=True):
    """Values and indices, ties by lower index."""
    x = np.asarray(x)
    moved = np.moveaxis(x, axis, -1)
    key = -moved if largest else moved
    order = np.argsort(key, axis=-1, kind='stable')[..., :k]
    values = np.take_along_axis(moved, order, axis=-1)
    return np.moveaxis(values, -1, axis), np.moveaxis(order, -1, axis)
