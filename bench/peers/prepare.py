#!/usr/bin/env python3
"""Prepares bench/peers/peers.js's inputs for each model of a peers model folder.

Usage: prepare.py MODELS_DIR WORK_DIR [--models din,esmm] [--extra-refs DIR,...]

For each MODEL (MODELS_DIR/MODEL.onnx) writes into WORK_DIR:
  MODEL_request.json  {"inputs": {NAME: {"dtype", "dims", "data"}}, "reference_outputs": {...}}:
                      the reference request of MODELS_DIR (MODEL_ref_200.npz if present, else
                      that of an --extra-refs folder with the same MODEL.onnx, else
                      MODEL_ref.npz, else MODEL_ref.json), the template that both engines tile or
                      cut to N rows (row r of a request of N is template row r % rows), with the
                      PyTorch reference outputs of the template rows.
  MODEL_floor.onnx    the same inputs and outputs, a trivial body (first output =
                      ReduceSum(first float input, axis 1), further outputs = Neg of it): timing it
                      gives the node binding's fixed per-call cost for this signature. Taken from
                      MODELS_DIR/MODEL_floor.onnx when present (make_models.py --floor), else
                      built with the onnx package; skipped with a warning without it.
and prints one JSON line per model on stdout:
  {"model", "onnx", "request", "request_source", "rows", "floor" (path or null),
   "request_level": [input names or "NAME[cols a-b]"], "warnings": [...]}.

The user/context side of each input comes from MODELS_DIR/MODEL.json ("side": "user",
"context", "item" or "mixed: cols 0-1 user, 2-3 item"); every user/context input (or column)
must be identical in every row of the request (one user x N candidates); a warning says which
are not.
"""
import argparse
import json
import os
import re
import sys

try:
    import numpy as np
except ImportError:  # only the JSON references can be read then
    np = None


def warn(msg):
    sys.stderr.write(f"prepare.py: WARNING: {msg}\n")


def entry(array):
    if array.dtype == np.bool_:
        dtype = "bool"
    elif array.dtype in (np.float32, np.float64, np.int64, np.int32):
        dtype = str(array.dtype)
    else:
        sys.exit(f"prepare.py: unsupported dtype {array.dtype}")
    return {"dtype": dtype, "dims": list(array.shape), "data": array.reshape(-1).tolist()}


def same_file(a, b):
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def load_reference(models_dir, model, extra_dirs):
    """The reference request as a tensor-JSON document, and where it came from."""
    # An extra folder's 200-row request counts only when its MODEL.onnx is byte-identical.
    onnx_path = os.path.join(models_dir, model + ".onnx")
    ref_dirs = [models_dir] + [d for d in extra_dirs
                               if same_file(os.path.join(d, model + ".onnx"), onnx_path)]
    candidates = [os.path.join(d, model + "_ref_200.npz") for d in ref_dirs]
    candidates.append(os.path.join(models_dir, model + "_ref.npz"))
    for path in candidates:
        if os.path.exists(path) and np is not None:
            archive = np.load(path)
            doc = {"inputs": {}, "reference_outputs": {}}
            for key in archive.files:
                kind, _, name = key.partition("/")
                section = {"in": "inputs", "out": "reference_outputs"}.get(kind)
                if section and name:
                    doc[section][name] = entry(archive[key])
            return doc, path
        if os.path.exists(path):
            warn(f"{path}: numpy is not installed (use /usr/bin/python3 or set PYTHON)")
    path = os.path.join(models_dir, model + "_ref.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f), path
    sys.exit(f"prepare.py: no reference request for {model} in {models_dir} "
             f"({model}_ref_200.npz, {model}_ref.npz or {model}_ref.json)")


def parse_side(side):
    """{"all": bool} for a whole-input side, or the request-level column ranges of a mixed one."""
    side = (side or "").strip()
    if side in ("user", "context"):
        return "all"
    if side.startswith("mixed:"):
        cols = []
        for part in side[len("mixed:"):].split(","):
            m = re.search(r"(?:cols?\s+)?(\d+)(?:\s*-\s*(\d+))?\s+(\w+)", part)
            if not m:
                warn(f"cannot parse side '{side}'")
                return None
            lo, hi, who = int(m.group(1)), int(m.group(2) or m.group(1)), m.group(3)
            if who in ("user", "context"):
                cols.append((lo, hi))
        return cols
    return None  # item side (or unknown): varies per candidate


def check_request_level(models_dir, model, doc, warnings):
    """Names of the request-level inputs (or columns); warnings where rows differ."""
    spec_path = os.path.join(models_dir, model + ".json")
    if not os.path.exists(spec_path):
        warnings.append(f"{spec_path} is missing: request-level inputs not checked")
        return []
    with open(spec_path) as f:
        spec = json.load(f)
    out = []
    for inp in spec.get("inputs", []):
        name = inp["name"]
        sides = parse_side(inp.get("side"))
        if not sides or name not in doc["inputs"]:
            continue
        t = doc["inputs"][name]
        rows = t["dims"][0] if t["dims"] else 1
        row_len = len(t["data"]) // max(rows, 1)
        if sides == "all":
            col_ranges, label = [(0, row_len - 1)], name
        else:
            col_ranges = sides
            label = name + "[" + ",".join(f"cols {a}-{b}" if a != b else f"col {a}"
                                          for a, b in sides) + "]"
        out.append(label)
        first = t["data"][:row_len]
        bad = 0
        for r in range(1, rows):
            row = t["data"][r * row_len:(r + 1) * row_len]
            if any(row[c] != first[c] for a, b in col_ranges for c in range(a, b + 1)):
                bad += 1
        if bad:
            warnings.append(f"{model}: request-level input {label} differs from row 0 in {bad} "
                            f"of {rows} rows: this is not one user x N candidates")
    return out


def build_floor(onnx_path, out_path, warnings):
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        warnings.append("the onnx package is missing (use /usr/bin/python3 or set PYTHON): no "
                        "floor model, the node fixed cost is not measured")
        return None
    model = onnx.load(onnx_path, load_external_data=False)
    g = model.graph
    init = {i.name for i in g.initializer}
    ins = [i for i in g.input if i.name not in init]
    floats = [i for i in ins if i.type.tensor_type.elem_type == TensorProto.FLOAT and
              len(i.type.tensor_type.shape.dim) == 2]
    if not floats or not g.output:
        warnings.append(f"{onnx_path}: no 2-D float input to build a floor model from")
        return None
    axes = helper.make_tensor("floor_axes", TensorProto.INT64, [1], [1])
    first = g.output[0].name
    nodes = [helper.make_node("ReduceSum", [floats[0].name, "floor_axes"], [first], keepdims=1)]
    for o in g.output[1:]:
        nodes.append(helper.make_node("Neg", [first], [o.name]))
    graph = helper.make_graph(nodes, g.name + "_floor", list(ins), list(g.output), [axes])
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                default=17)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="bench/peers")
    m.ir_version = min(model.ir_version, 8) if model.ir_version else 8
    onnx.checker.check_model(m)
    onnx.save(m, out_path)
    return out_path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models_dir")
    ap.add_argument("work_dir")
    ap.add_argument("--models", default="din,esmm")
    ap.add_argument("--extra-refs", default="",
                    help="comma-separated folders whose MODEL_ref_200.npz is used when their "
                         "MODEL.onnx is byte-identical to MODELS_DIR's (the mini models in "
                         "tests/data/peers have only 16-row references)")
    a = ap.parse_args()
    extra_dirs = [d for d in a.extra_refs.split(",") if d]
    os.makedirs(a.work_dir, exist_ok=True)
    found = 0
    for model in a.models.split(","):
        onnx_path = os.path.join(a.models_dir, model + ".onnx")
        if not os.path.exists(onnx_path):
            warn(f"{onnx_path} is missing: {model} skipped")
            continue
        found += 1
        warnings = []
        doc, source = load_reference(a.models_dir, model, extra_dirs)
        doc = {"inputs": doc["inputs"], "reference_outputs": doc.get("reference_outputs", {})}
        rows = max((t["dims"][0] for t in doc["inputs"].values() if t["dims"]), default=0)
        request_level = check_request_level(a.models_dir, model, doc, warnings)
        request = os.path.join(a.work_dir, model + "_request.json")
        with open(request, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        floor = os.path.join(a.models_dir, model + "_floor.onnx")
        if not os.path.exists(floor):
            floor = build_floor(onnx_path, os.path.join(a.work_dir, model + "_floor.onnx"),
                                warnings)
        print(json.dumps({"model": model, "onnx": os.path.abspath(onnx_path),
                          "request": os.path.abspath(request), "request_source": os.path.normpath(source),
                          "rows": rows, "floor": floor and os.path.abspath(floor),
                          "request_level": request_level, "warnings": warnings}))
    if found == 0:
        sys.exit(f"prepare.py: no MODEL.onnx of {a.models} in {a.models_dir}")


if __name__ == "__main__":
    main()
