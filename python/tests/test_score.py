"""Model.score on an optimized package: PyTorch's scores, threads, lists, stats, ModelManager."""
import gc
import os
import shutil
import threading

import numpy as np
import pytest

import rankopt
from conftest import PEERS, din_request


def torch_prob():
    return np.load(os.path.join(PEERS, "din_ref.npz"))["out/prob"].reshape(-1)


def test_score_matches_pytorch(din_package):
    model = rankopt.Model(din_package)
    assert model.is_package and model.heads == ["prob"]
    scores = model.score(din_request())
    assert list(scores) == ["prob"]
    assert scores["prob"].dtype == np.float32 and scores["prob"].shape == (16,)
    # requests_din.jsonl's request is the raw form of din_ref.npz's inputs.
    np.testing.assert_allclose(scores["prob"], torch_prob(), rtol=1e-5, atol=1e-6)
    # The array views the library's score vector and keeps it alive past the model.
    prob = scores["prob"]
    assert not prob.flags["OWNDATA"] and prob.base is not None
    copy = prob.copy()
    del model, scores
    gc.collect()
    assert prob.tobytes() == copy.tobytes()


def test_score_forms(din_package):
    model = rankopt.Model(din_package, threads=2, user_cache_mb=4)
    request = din_request()
    want = model.score(request)["prob"]
    import json
    assert model.score(json.dumps(request))["prob"].tobytes() == want.tobytes()
    numpy_request = dict(request)
    numpy_request["user"] = dict(request["user"])
    numpy_request["user"]["hist_item_ids"] = np.array(request["user"]["hist_item_ids"])
    numpy_request["user"]["user_id"] = np.int64(request["user"]["user_id"])
    assert model.score(numpy_request)["prob"].tobytes() == want.tobytes()
    both = model.score([request, request])["prob"]
    assert both.shape == (32,) and both.tobytes() == np.concatenate([want, want]).tobytes()
    stats = model.stats()
    assert stats["requests"] == 5 and stats["candidates"] == 80 and stats["errors"] == 0
    assert stats["caches"]["user"]["hits"] >= 1
    assert "rankopt" in stats["prometheus"]


def test_score_from_8_threads_is_bitwise_equal(din_package):
    model = rankopt.Model(din_package)
    request = din_request()
    want = model.score(request)["prob"].tobytes()
    barrier = threading.Barrier(8)
    got, errors = [], []

    def work():
        try:
            barrier.wait()
            for _ in range(25):
                got.append(model.score(request)["prob"].tobytes())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 200
    assert all(g == want for g in got)


def test_package_run_takes_graph_inputs(din_package):
    model = rankopt.Model(din_package)
    assert model.outputs == ["prob"]
    names = {i["name"] for i in model.inputs}
    assert "user_id" in names


def test_model_manager(din_package, tmp_path):
    (tmp_path / "1").mkdir()
    shutil.copy(din_package, tmp_path / "1" / "model.rkp")
    manager = rankopt.ModelManager(str(tmp_path), poll_s=0)
    assert manager.counters()["current_version"] == "1"
    want = rankopt.Model(din_package).score(din_request())["prob"]
    assert manager.current().score(din_request())["prob"].tobytes() == want.tobytes()
    (tmp_path / "2").mkdir()
    shutil.copy(din_package, tmp_path / "2" / "model.rkp")
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "model.rkp").write_bytes(b"RKPKG\0\0\1 broken")
    manager.reload()  # 3 is rejected, then 2 loads
    counters = manager.counters()
    assert counters["current_version"] == "2" and counters["rejected"] == 1
    assert "version 3 rejected" in counters["last_error"]
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "model.rkp").write_bytes(b"RKPKG\0\0\1 broken")
    with pytest.raises(rankopt.Error, match="version 4 rejected, still serving version 2"):
        manager.reload()
    assert manager.current().score(din_request())["prob"].tobytes() == want.tobytes()
    with pytest.raises(rankopt.Error):
        rankopt.ModelManager(str(tmp_path / "empty"), poll_s=0)
