#!/usr/bin/env python3
"""The model zoo through PyTorch 2.x's default ONNX exporter (dynamo: opset 18, weights in a side
`.onnx.data` file), checked with rankopt against PyTorch eager: what a PyTorch 2.x user's exports
of these 24 architectures do in rankopt. For a machine with torch >= 2.5 and onnxscript (the
`device` tool's 16-core machine); Debian's torch 1.13 has no dynamo exporter.

Per model, in parallel worker processes (one thread each): build it (bench/zoo/zoo_models.py,
--scale), export with dynamo=True and a dynamic batch axis, write the reference request (one user
x --candidates) with PyTorch's outputs, then run `rankopt run MODEL --inputs REF` at -O 0 and at
-O 2 with the model's --request-inputs; print one line per model: the exporter's op count, each
level's max relative error against PyTorch (or rankopt's first error line), and a summary.

Usage: python3 bench/zoo/dynamo_zoo_check.py --rankopt PATH [--out DIR] [--models a,b]
           [--scale mini|full] [--jobs 16] [--candidates 16]
Exit status: 0 when every export that torch produced ran in rankopt within 1e-3 at both levels.
"""
import argparse
import collections
import multiprocessing
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_common as ec  # noqa: E402

TOLERANCE = 1e-3


def export(args):
    name, scale, out_dir, candidates = args
    import torch
    torch.set_num_threads(1)
    import onnx
    import zoo_models as zm
    try:
        torch.manual_seed(0)
        model = zm.build_model(name, scale).eval()
        zm.make_weights(name, model)
        req = zm.make_request(name, candidates, scale)
        inputs = {n: req[n] for n in zm.input_names(name)}
        onames = zm.output_names(name)
        path = os.path.join(out_dir, f"{name}_dynamo.onnx")
        outputs = ec.export_dynamo(model, inputs, path, onames)
        ec.write_reference(os.path.join(out_dir, f"{name}_dynamo_ref.json"), inputs, onames,
                           outputs)
        proto = onnx.load(path, load_external_data=False)
        ops = collections.Counter(n.op_type for n in proto.graph.node)
        return name, None, dict(sorted(ops.items())), zm.request_inputs(name, scale)
    except Exception as e:  # the exporter's failure is a finding, not a crash of the check
        return name, f"export failed: {ec.root_cause(e)}", {}, ""


def run_rankopt(rankopt, model, ref, extra):
    p = subprocess.run([rankopt, "run", model, "--inputs", ref] + extra,
                       capture_output=True, text=True, timeout=300)
    errs = [float(x) for x in re.findall(r"max relative error vs reference: ([0-9.e+-]+)",
                                         p.stdout + p.stderr)]
    if p.returncode != 0 or not errs:
        lines = [l for l in (p.stderr + p.stdout).splitlines() if l.strip()]
        # the reason is at the end of the first line
        return None, (lines[0][-300:] if lines else f"exit {p.returncode}")
    return max(errs), None


def main():
    import zoo_models as zm
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rankopt", required=True)
    ap.add_argument("--out", default="/tmp/zoo_dynamo")
    ap.add_argument("--models", default=",".join(zm.MODELS))
    ap.add_argument("--scale", default="mini", choices=zm.SCALES)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--candidates", type=int, default=16)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    models = args.models.split(",")
    with multiprocessing.get_context("spawn").Pool(min(args.jobs, len(models))) as pool:
        exported = pool.map(export, [(m, args.scale, args.out, args.candidates) for m in models])
    ok = True
    for name, error, ops, req in exported:
        if error:
            print(f"{name}: {error}")
            continue
        model = os.path.join(args.out, f"{name}_dynamo.onnx")
        ref = os.path.join(args.out, f"{name}_dynamo_ref.json")
        cells = []
        for label, extra in (("O0", []), ("O2", ["-O", "2", "--request-inputs", req])):
            err, msg = run_rankopt(args.rankopt, model, ref, extra)
            if err is None:
                ok = False
                cells.append(f"{label} FAILED ({msg})")
            else:
                ok = ok and err <= TOLERANCE
                cells.append(f"{label} {err:.2e}")
        print(f"{name}: {sum(ops.values())} nodes, " + ", ".join(cells))
    produced = sum(1 for e in exported if e[1] is None)
    print("%d of %d models exported; every export ran within %g at O0 and O2: %s"
          % (produced, len(exported), TOLERANCE, "yes" if ok else "no"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
