"""Bad input raises rankopt.Error with the library's message, never a crash."""
import os
import shutil

import numpy as np
import pytest

import rankopt
from conftest import DIN_CONFIG, PEERS, din_request


def din_feeds():
    archive = np.load(os.path.join(PEERS, "din_ref.npz"))
    return {k[3:]: archive[k] for k in archive.files if k.startswith("in/")}


@pytest.fixture(scope="module")
def din():
    return rankopt.Model(os.path.join(PEERS, "din.onnx"))


def test_error_is_an_exception_class():
    assert issubclass(rankopt.Error, Exception)


def test_wrong_dtype(din):
    feeds = din_feeds()
    feeds["user_id"] = feeds["user_id"].astype(np.int32)
    with pytest.raises(rankopt.Error, match="user_id") as e:
        din.run(feeds)
    assert "int32" in str(e.value) and "int64" in str(e.value)


def test_wrong_rank(din):
    feeds = din_feeds()
    feeds["dense"] = feeds["dense"].reshape(-1)
    with pytest.raises(rankopt.Error, match="dense"):
        din.run(feeds)


def test_wrong_declared_dim(din):
    feeds = din_feeds()
    feeds["dense"] = np.zeros((16, 5), np.float32)
    with pytest.raises(rankopt.Error, match="dense"):
        din.run(feeds)


def test_missing_feed(din):
    feeds = din_feeds()
    del feeds["hist_len"]
    with pytest.raises(rankopt.Error, match="hist_len"):
        din.run(feeds)


def test_unknown_feed(din):
    feeds = din_feeds()
    feeds["no_such_input"] = np.zeros(16, np.int64)
    with pytest.raises(rankopt.Error, match="no_such_input"):
        din.run(feeds)


def test_unconvertible_feeds(din):
    feeds = din_feeds()
    feeds["user_id"] = np.array(["a"] * 16)
    with pytest.raises(rankopt.Error, match="user_id"):
        din.run(feeds)
    feeds["user_id"] = object()
    with pytest.raises(rankopt.Error, match="user_id"):
        din.run(feeds)
    with pytest.raises(rankopt.Error, match="feeds"):
        din.run([1, 2])
    feeds = din_feeds()
    feeds["user_id"] = feeds["user_id"].astype(">i8")
    with pytest.raises(rankopt.Error, match="byte order"):
        din.run(feeds)


def test_non_existent_file(tmp_path):
    missing = str(tmp_path / "nope.rkp")
    for call in (lambda: rankopt.Model(missing), lambda: rankopt.summarize(missing),
                 lambda: rankopt.prune(missing, outputs=["prob"], out=str(tmp_path / "o.onnx")),
                 lambda: rankopt.optimize(missing, features=DIN_CONFIG,
                                          out=str(tmp_path / "o.rkp"))):
        with pytest.raises(rankopt.Error, match="nope.rkp"):
            call()


def test_corrupt_package(din_package, tmp_path):
    data = bytearray(open(din_package, "rb").read())
    flipped = tmp_path / "flipped.rkp"
    data[len(data) - 100] ^= 0xFF  # inside the last blob: its checksum no longer matches
    flipped.write_bytes(bytes(data))
    with pytest.raises(rankopt.Error, match="flipped.rkp"):
        rankopt.Model(str(flipped))
    truncated = tmp_path / "truncated.rkp"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(rankopt.Error, match="truncated.rkp"):
        rankopt.Model(str(truncated))
    header_only = tmp_path / "header.rkp"
    header_only.write_bytes(bytes(data[:8]))
    with pytest.raises(rankopt.Error, match="header.rkp"):
        rankopt.Model(str(header_only))


def test_bad_requests(din_package):
    model = rankopt.Model(din_package)
    request = din_request()
    request["candidates"][3]["item_dense_0"] = "x"
    with pytest.raises(rankopt.Error, match=r"item_dense_0.*candidates\[3\]"):
        model.score(request)
    request = din_request()
    request["candidates"][1]["item_id"] = 2 ** 70
    with pytest.raises(rankopt.Error, match=r"candidates\[1\]\.item_id.*int64"):
        model.score(request)
    request = din_request()
    request["user"]["hist_item_ids"] = [1, "a"]
    with pytest.raises(rankopt.Error, match="user.hist_item_ids"):
        model.score(request)
    request = din_request()
    request["user"]["user_id"] = True
    with pytest.raises(rankopt.Error, match="user.user_id"):
        model.score(request)
    with pytest.raises(rankopt.Error, match="unknown request key 'users'"):
        model.score({"users": {}})
    with pytest.raises(rankopt.Error, match=r"requests\[1\]"):
        model.score([din_request(), 5])
    with pytest.raises(rankopt.Error, match="head"):
        model.score(din_request(), heads=["no_such_head"])
    with pytest.raises(rankopt.Error):
        model.score("{not json")


def test_score_needs_a_package(din):
    with pytest.raises(rankopt.Error, match="not a package"):
        din.score(din_request())


def test_bad_optimize_arguments(tmp_path):
    onnx = os.path.join(PEERS, "din.onnx")
    with pytest.raises(rankopt.Error, match="features"):
        rankopt.optimize(onnx)
    with pytest.raises(rankopt.Error, match="precision"):
        rankopt.optimize(onnx, features=DIN_CONFIG, precision="fp16")
    with pytest.raises(rankopt.Error, match="level"):
        rankopt.optimize(onnx, features=DIN_CONFIG, level=3)
    with pytest.raises(rankopt.Error, match="int8"):
        rankopt.optimize(onnx, features=DIN_CONFIG, int8="sometimes")
    with pytest.raises(rankopt.Error, match="refusing to overwrite"):
        rankopt.optimize(onnx, features=DIN_CONFIG, out=onnx)
    copy = tmp_path / "din.onnx"
    shutil.copy(onnx, copy)
    with pytest.raises(rankopt.Error, match="refusing to overwrite"):
        rankopt.prune(str(copy), outputs=["prob"], out=str(copy))
    with pytest.raises(rankopt.Error, match="no_such_output"):
        rankopt.prune(str(copy), outputs=["no_such_output"], out=str(tmp_path / "p.onnx"))
