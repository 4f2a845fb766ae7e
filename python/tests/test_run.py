"""Model.run on the peer models: PyTorch's stored outputs within 1e-5, `rankopt run` bitwise."""
import gc
import json
import os

import numpy as np
import pytest

import rankopt
from conftest import PEERS, run_cli


def reference(model):
    archive = np.load(os.path.join(PEERS, f"{model}_ref.npz"))
    feeds = {k[3:]: archive[k] for k in archive.files if k.startswith("in/")}
    outputs = {k[4:]: archive[k] for k in archive.files if k.startswith("out/")}
    return feeds, outputs


@pytest.mark.parametrize("name", ["din", "esmm"])
def test_run_matches_pytorch_reference(name):
    feeds, expected = reference(name)
    model = rankopt.Model(os.path.join(PEERS, f"{name}.onnx"))
    assert not model.is_package
    assert sorted(i["name"] for i in model.inputs) == sorted(feeds)
    got = model.run(feeds)
    assert sorted(got) == sorted(expected)
    for out, want in expected.items():
        assert got[out].dtype == want.dtype and got[out].shape == want.shape, out
        np.testing.assert_allclose(got[out], want, rtol=1e-5, atol=1e-5, err_msg=out)


@pytest.mark.parametrize("name", ["din", "esmm"])
def test_run_equals_cli_bitwise(name):
    feeds, _ = reference(name)
    onnx = os.path.join(PEERS, f"{name}.onnx")
    report = json.loads(run_cli("run", onnx, "--inputs",
                                os.path.join(PEERS, f"{name}_ref.json"), "--json").stdout)
    got = rankopt.Model(onnx).run(feeds)
    assert [o["name"] for o in report["outputs"]] == list(got)
    for o in report["outputs"]:
        cli = np.array(o["values"], dtype=np.float32).reshape([int(d) for d in o["dims"]])
        assert got[o["name"]].view(np.uint32).tolist() == cli.view(np.uint32).tolist(), o["name"]


def test_run_outputs_own_their_buffer():
    feeds, expected = reference("din")
    model = rankopt.Model(os.path.join(PEERS, "din.onnx"))
    prob = model.run(feeds)["prob"]
    assert not prob.flags["OWNDATA"] and prob.base is not None  # a view of the library's buffer
    copy = prob.copy()
    del model, feeds
    gc.collect()
    np.testing.assert_array_equal(prob, copy)  # the buffer lives as long as the array
    prob[0] = 5  # and it is the caller's to write
    assert prob[0, 0] == 5


def test_run_reads_non_contiguous_and_list_feeds():
    feeds, expected = reference("din")
    feeds["hist_item_ids"] = np.asfortranarray(feeds["hist_item_ids"])
    feeds["user_id"] = feeds["user_id"].tolist()  # a list of Python ints becomes int64
    raw = np.zeros(feeds["dense"].nbytes + 1, np.uint8)
    misaligned = raw[1:].view(np.float32).reshape(feeds["dense"].shape)
    misaligned[...] = feeds["dense"]
    assert not misaligned.flags["ALIGNED"]
    feeds["dense"] = misaligned
    got = rankopt.Model(os.path.join(PEERS, "din.onnx")).run(feeds)
    np.testing.assert_allclose(got["prob"], expected["prob"], rtol=1e-5, atol=1e-5)


def test_run_from_threads_is_bitwise_equal():
    import threading
    feeds, _ = reference("esmm")
    model = rankopt.Model(os.path.join(PEERS, "esmm.onnx"))
    want = model.run(feeds)
    barrier = threading.Barrier(8)
    results, errors = [], []

    def work():
        try:
            barrier.wait()
            for _ in range(20):
                results.append(model.run(feeds))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 160
    for r in results:
        for k, v in want.items():
            assert r[k].tobytes() == v.tobytes()
