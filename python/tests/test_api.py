"""optimize/summarize/prune against the command's --json and output; version; help text."""
import json
import os
import re

import rankopt
from conftest import DIN_CONFIG, DIN_ONNX, DIN_REQUESTS, SOURCE_DIR, run_cli


def normalized(cli, py):
    """`cli` (protobuf JSON: int64 as strings) with the types of `py` where they differ."""
    if isinstance(py, dict):
        assert isinstance(cli, dict)
        return {k: normalized(cli[k], py[k]) if k in py else cli[k] for k in cli}
    if isinstance(py, list):
        return [normalized(c, p) for c, p in zip(cli, py)] + cli[len(py):]
    if isinstance(py, int) and not isinstance(py, bool) and isinstance(cli, str):
        return int(cli)
    return cli


TIMING = {"latency_before_us", "latency_after_us", "runs", "speedup", "latency_note",
          "baseline_latency_us", "final_latency_us", "package_bytes", "date", "timed",
          "time_us", "time_us_fp32"}


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def test_version_is_the_library_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt"), encoding="utf-8") as f:
        version = re.search(r"project\(rankopt VERSION ([0-9.]+)", f.read()).group(1)
    assert rankopt.__version__ == version
    assert version in run_cli("--version").stdout


def test_optimize_help_is_the_commands_help():
    cli_help = run_cli("optimize", "--help").stdout.strip()
    assert cli_help in rankopt.optimize.__doc__
    for flag in ("--features", "--int8", "--sample", "--time-s"):
        assert flag in rankopt.optimize.__doc__


def test_optimize_report_matches_cli_json(tmp_path):
    # bf16 forced: auto's per-layer choice starts from timing int8 against bf16, which two runs
    # need not agree on.
    args = dict(features=DIN_CONFIG, sample=DIN_REQUESTS, time_s=0, precision="bf16")
    result = rankopt.optimize(DIN_ONNX, out=str(tmp_path / "py.rkp"), **args)
    assert os.path.getsize(result.package) > 0 and result.package == str(tmp_path / "py.rkp")
    assert rankopt.Model(result.package).name == "din"  # the model's file stem, as the command
    cli_out = str(tmp_path / "cli.rkp")
    cli = json.loads(run_cli("optimize", DIN_ONNX, "--features", DIN_CONFIG, "--sample",
                             DIN_REQUESTS, "--time-s", "0", "--precision", "bf16", "-o", cli_out,
                             "--json").stdout)
    py = result.report
    cli = normalized(cli, py)
    # The same fields at every level (int64 counts as int in Python), the same values but for
    # timings, dates and the package's own path.
    assert set(py) == set(cli)
    assert [p["name"] for p in py["passes"]] == [p["name"] for p in cli["passes"]]
    for a, b in zip(py["passes"], cli["passes"]):
        assert set(a) == set(b)
    for report in (py, cli):
        report.pop("package")
    assert without_timing(py["passes"]) == without_timing(cli["passes"])
    assert without_timing(py["overall"]) == without_timing(cli["overall"])
    assert without_timing(py["int8"]) == without_timing(cli["int8"])
    assert without_timing(py) == without_timing(cli)
    assert py["overall"]["nodes_after"] < py["overall"]["nodes_before"]
    assert isinstance(py["overall"]["nodes_before"], int)
    assert "overall" in result.text and "prune" in result.text


def test_optimize_takes_request_dicts(tmp_path):
    with open(DIN_REQUESTS, encoding="utf-8") as f:
        request = json.loads(f.readline())
    result = rankopt.optimize(DIN_ONNX, features=DIN_CONFIG, sample=[request], int8="off",
                              level=1, time_s=0, name="din_py", version=7)
    assert result.package.endswith("din.rkp") and os.path.exists(result.package)
    model = rankopt.Model(result.package)
    assert model.name == "din_py" and model.version == "7"
    assert result.report["sample_requests"] == 1 and result.report["opt_level"] == "O1"


def test_summarize_matches_cli_json():
    py = rankopt.summarize(DIN_ONNX)
    cli = json.loads(run_cli("summarize", DIN_ONNX, "--json").stdout)
    assert py == normalized(cli, py)


def test_prune_matches_cli(tmp_path):
    py_out, cli_out = str(tmp_path / "py.onnx"), str(tmp_path / "cli.onnx")
    report = rankopt.prune(DIN_ONNX, outputs="prob", out=py_out)
    cli = run_cli("prune", DIN_ONNX, "--outputs", "prob", "-o", cli_out).stdout
    assert cli == report["text"] + f"wrote {cli_out} (onnx)\n"
    assert open(py_out, "rb").read() == open(cli_out, "rb").read()
    assert report["format"] == "onnx" and report["nodes_after"] <= report["nodes_before"]
