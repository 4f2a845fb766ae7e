"""What the PyTorch 2.x export scripts share: torch.onnx.export with the dynamo exporter and a
dynamic batch axis (as a PyTorch 2.x user exports), and the reference request `rankopt run
--inputs` reads ({"inputs", "reference_outputs"} with PyTorch eager's outputs)."""
import json

import numpy as np


def entry(array):
    """One tensor of a reference request: {"dtype", "dims", "data"}."""
    dtype = "bool" if array.dtype == np.bool_ else str(array.dtype)
    return {"dtype": dtype, "dims": list(array.shape), "data": array.reshape(-1).tolist()}


def export_dynamo(model, inputs, path, output_names):
    """Exports `model` (eval mode) on `inputs` ({name: np.ndarray}, in argument order) to `path`
    with torch.onnx.export's 2.9+ defaults spelled out (dynamo=True; weights in path + ".data"),
    every input's axis 0 dynamic; returns PyTorch eager's outputs as a tuple of np.ndarrays."""
    import torch
    names = list(inputs)
    example = tuple(torch.from_numpy(inputs[n]) for n in names)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    with torch.no_grad():
        torch.onnx.export(model, example, path, input_names=names, output_names=output_names,
                          dynamic_shapes=batch_axes(model, len(names), batch), dynamo=True)
    with torch.inference_mode():
        out = model(*example)
    if not isinstance(out, tuple):
        out = (out,)
    return tuple(o.numpy() for o in out)


def batch_axes(model, count, batch):
    """torch.export's dynamic_shapes for `count` positional inputs, axis 0 of each `batch`: a
    tuple that follows forward's signature, the inputs a `*args` takes grouped in one tuple (a
    dict keyed by input names only fits a forward whose parameters carry those names)."""
    import inspect
    spec = []
    for p in inspect.signature(model.forward).parameters.values():
        if len(spec) == count:
            break
        if p.kind == p.VAR_POSITIONAL:
            spec.append(tuple({0: batch} for _ in range(count - len(spec))))
            break
        spec.append({0: batch})
    return tuple(spec)


def write_reference(path, inputs, output_names, outputs):
    doc = {"inputs": {n: entry(a) for n, a in inputs.items()},
           "reference_outputs": {n: entry(o) for n, o in zip(output_names, outputs)}}
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


def root_cause(error):
    """The innermost cause's type and message, one line: the exporter wraps the reason."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = [l.strip() for l in str(error).splitlines() if l.strip()]
    return f"{type(error).__name__}: {' | '.join(lines)[:400]}"
