"""Shared fixtures: the source tree's test data, the rankopt command, packages optimized once."""
import json
import os
import subprocess

import pytest

import rankopt

SOURCE_DIR = os.environ.get(
    "RANKOPT_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PEERS = os.path.join(SOURCE_DIR, "tests", "data", "peers")
DIN_ONNX = os.path.join(PEERS, "din.onnx")
ESMM_ONNX = os.path.join(PEERS, "esmm.onnx")
DIN_CONFIG = os.path.join(SOURCE_DIR, "configs", "din.yaml")
DIN_REQUESTS = os.path.join(SOURCE_DIR, "tests", "data", "features", "requests_din.jsonl")


def cli_path():
    path = os.environ.get("RANKOPT_CLI")
    if not path or not os.path.exists(path):
        pytest.skip("RANKOPT_CLI (the built rankopt command) is not set; ctest sets it")
    return path


def run_cli(*args, check=True):
    """Runs the rankopt command; returns its stdout."""
    result = subprocess.run([cli_path(), *args], capture_output=True, text=True, timeout=240)
    if check and result.returncode != 0:
        raise AssertionError(f"rankopt {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stderr}")
    return result


def din_request():
    with open(DIN_REQUESTS, encoding="utf-8") as f:
        return json.loads(f.readline())


@pytest.fixture(scope="session")
def din_package(tmp_path_factory):
    """The bundled DIN at O2 with fp32 tables and dense layers (scores compare with PyTorch)."""
    out = str(tmp_path_factory.mktemp("pkg") / "din.rkp")
    result = rankopt.optimize(DIN_ONNX, features=DIN_CONFIG, sample=DIN_REQUESTS, int8="off",
                              precision="fp32", out=out, time_s=0)
    return result.package
