"""Tests of the NumPy MAT-file reader (fixtures from our own minimal writer, scipy as a cross-check)."""

import numpy as np
import pytest

from hiu_tf.data.sources import matfile
from tests.hiu_tf.data.sources.mat_writer import write_mat


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("order", ["<", ">"])
def test_reads_numeric_and_char(tmp_path, compress, order):
    rng = np.random.default_rng(0)
    hand = rng.normal(size=(3, 21, 5))
    path = tmp_path / "a.mat"
    write_mat(
        path,
        {
            "handPara": hand,
            "n": np.array([[7]], np.int32),
            "label": "B1Counting",
            "z": 1 + 2j * np.ones((2, 2)),
        },
        compress=compress,
        order=order,
    )
    out = matfile.load_mat(path)
    np.testing.assert_array_equal(out["handPara"], hand)
    assert out["handPara"].dtype == np.float64
    assert out["n"].tolist() == [[7]] and out["label"] == "B1Counting"
    np.testing.assert_array_equal(out["z"], 1 + 2j * np.ones((2, 2)))


def test_class_differs_from_storage_type(tmp_path):
    path = tmp_path / "b.mat"
    write_mat(path, {"m": np.arange(6, dtype=np.float64).reshape(2, 3)}, stored_as="u1")
    out = matfile.load_mat(path, ["m"])
    assert out["m"].dtype == np.float64
    np.testing.assert_array_equal(out["m"], np.arange(6).reshape(2, 3))


def test_matches_scipy(tmp_path):
    sio = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(1)
    values = {
        "handPara": rng.normal(size=(3, 21, 4)),
        "k": rng.integers(0, 9, (2, 2)).astype(np.int16),
    }
    for compress in (False, True):
        path = tmp_path / f"s{compress}.mat"
        sio.savemat(path, values, do_compression=compress)
        out = matfile.load_mat(path)
        for key, value in values.items():
            np.testing.assert_array_equal(out[key], value)
        ours = tmp_path / f"o{compress}.mat"
        write_mat(ours, values, compress=compress)
        theirs = sio.loadmat(ours)
        for key, value in values.items():
            np.testing.assert_array_equal(theirs[key], value)


def test_errors(tmp_path):
    path = tmp_path / "c.mat"
    write_mat(path, {"a": np.zeros((2, 2))})
    with pytest.raises(matfile.MatFileError, match=r"no variable\(s\) \['handPara'\]"):
        matfile.load_mat(path, ["handPara"])
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"x" * 200)
    with pytest.raises(matfile.MatFileError, match="not a Level 5 MAT-file"):
        matfile.load_mat(bad)
    hdf = tmp_path / "v73.mat"
    hdf.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116) + b"\0" * 8 + b"\0\x02IM" + b"\0" * 400)
    with pytest.raises(matfile.MatFileError, match="v7.3"):
        matfile.load_mat(hdf)
    truncated = tmp_path / "t.mat"
    truncated.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(matfile.MatFileError, match="truncated"):
        matfile.load_mat(truncated)
