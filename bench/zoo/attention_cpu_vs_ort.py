#!/usr/bin/python3
"""CPU time per request of rankopt -O 2 and ONNX Runtime fp32 on the zoo's DIN variants.

On a machine shared with other work, wall-clock p50s mostly measure the scheduler: a 1 ms request
often finishes in one time slice while a 40 ms one is preempted many times. This measures the
CPU time (user + system, from getrusage of the child) each engine spends per request instead:
every engine runs twice on the same request tiled to N candidates, with a short and a long
--min-s; CPU per request = (cpu_long - cpu_short) / (runs_long - runs_short), so loading,
optimizing and warming up cancel out. Same engines and requests as attention_vs_ort.sh.

  /usr/bin/python3 bench/zoo/attention_cpu_vs_ort.py /tmp/zoo_full [--before OTHER_RANKOPT]
      [--candidates 200] [--short 0.5] [--long 8] [--models a,b] [--rounds R]

With --rounds R every engine is measured R times, interleaved (ort, before, after, ort, ...), and
the median of the R values is printed: on a machine shared with builds, one round can be off 2x.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd):
    """(cpu seconds, runs) of one bench command."""
    before = child_cpu()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    cpu = child_cpu() - before
    return cpu, int(json.loads(out)["cells"][0]["runs"])


def per_request_ms(make_cmd, short, long):
    c1, r1 = run(make_cmd(short))
    c2, r2 = run(make_cmd(long))
    for _ in range(2):  # a loaded machine can stretch the short run's minimum run count
        if r2 > r1:
            break
        long *= 2
        c2, r2 = run(make_cmd(long))
    if r2 <= r1:
        raise RuntimeError("the long run made no more requests than the short one")
    return (c2 - c1) / (r2 - r1) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("zoo")
    ap.add_argument("--before", default="")
    ap.add_argument("--rankopt", default=os.path.join(ROOT, "build/tools/rankopt"))
    ap.add_argument("--candidates", default="200")
    ap.add_argument("--short", type=float, default=0.5)
    ap.add_argument("--long", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--models",
                    default="din_prelu3,din_dice2_softmax,din_sigmoid1_softmax,din_prelu2_qkprod")
    a = ap.parse_args()
    models = {m["name"]: m for m in json.load(open(os.path.join(a.zoo, "models.json")))["models"]}
    print(f"CPU ms per request (user + system), {a.candidates} candidates, 1 thread; "
          f"ratios ORT / rankopt (above 1: rankopt cheaper)")
    print(f"{'model':22} {'ort':>9} {'before':>9} {'after':>9} {'ort/before':>11} {'ort/after':>10}")
    for name in a.models.split(","):
        onnx = os.path.join(a.zoo, f"{name}_op17.onnx")
        ref = os.path.join(a.zoo, f"{name}_ref.json")
        req = models[name]["request_inputs"]

        def rankopt(binary):
            return lambda s: [binary, "bench", onnx, "-O", "2", "--request-inputs", req,
                              "--requests", ref, "--candidates", a.candidates, "--threads", "1",
                              "--no-profile", "--min-s", str(s), "--json"]

        def ort(s):
            return ["node", os.path.join(ROOT, "tests/ort/bench_ort.js"), onnx, "--requests", ref,
                    "--candidates", a.candidates, "--threads", "1", "--min-s", str(s), "--json"]

        os_, bs, rs = [], [], []
        for _ in range(max(1, a.rounds)):
            os_.append(per_request_ms(ort, a.short, a.long))
            if a.before:
                bs.append(per_request_ms(rankopt(a.before), a.short, a.long))
            rs.append(per_request_ms(rankopt(a.rankopt), a.short, a.long))
        o = statistics.median(os_)
        b = statistics.median(bs) if bs else None
        r = statistics.median(rs)
        bt = f"{b:9.3f}" if b else f"{'-':>9}"
        rb = f"{o / b:10.2f}x" if b else f"{'-':>11}"
        print(f"{name:22} {o:9.3f} {bt} {r:9.3f} {rb} {o / r:9.2f}x", flush=True)


if __name__ == "__main__":
    sys.exit(main())
