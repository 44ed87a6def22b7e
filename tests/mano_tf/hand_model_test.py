"""Tests for mano_tf.hand_model: the restricted MANO unpickler and the .npz format."""

import os
import pickle

import numpy as np
import pytest

from mano_tf.hand_model import (
    ARRAY_FIELDS,
    HandModel,
    HandModelError,
    UnsafePickleError,
    load_hand_model,
    open_side,
    resolve_hand_model,
)
from tests.mano_fixtures import random_mano_dict, write_mano_pickle


@pytest.mark.parametrize("protocol", [0, 2])
def test_loads_mano_layout_without_chumpy(tmp_path, protocol):
    data = random_mano_dict(seed=1)
    path = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pickle(path, data, protocol=protocol)
    model = load_hand_model(path)
    assert model.side == "right"
    np.testing.assert_array_equal(model.v_template, data["v_template"])
    np.testing.assert_array_equal(model.shapedirs, data["shapedirs"])
    np.testing.assert_allclose(model.J_regressor, data["J_regressor"])
    np.testing.assert_array_equal(model.faces, data["f"].astype(np.int32))
    assert model.parents.tolist() == [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
    assert model.tip_vertex_ids.tolist() == [744, 320, 443, 554, 671]
    assert not model.v_template.flags.writeable


def test_left_side_from_file_name(tmp_path):
    path = tmp_path / "MANO_LEFT.pkl"
    write_mano_pickle(path, random_mano_dict(seed=2))
    assert load_hand_model(path).side == "left"


def test_resolve_hand_model_reads_every_kind_of_spec(tmp_path):
    from mano_tf.open_hand import default_hand_model

    for side in ("right", "left"):
        assert open_side(f"open:{side}") == side
        got, want = resolve_hand_model(f"open:{side}"), default_hand_model(side)
        assert got.side == side and got.name == want.name
        np.testing.assert_array_equal(got.v_template, want.v_template)
    path = tmp_path / "MANO_LEFT.pkl"
    write_mano_pickle(path, random_mano_dict(seed=2))
    assert open_side(str(path)) is None and open_side(path) is None
    assert resolve_hand_model(path).side == "left" and resolve_hand_model(str(path)).side == "left"
    for bad in ("open:middle", "open:", "open:Right"):
        with pytest.raises(HandModelError, match=rf"Received: hand_model='{bad}'"):
            resolve_hand_model(bad)
    with pytest.raises(FileNotFoundError):
        resolve_hand_model(tmp_path / "missing.pkl")


def test_npz_round_trip(tmp_path):
    src = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pickle(src, random_mano_dict(seed=3))
    model = load_hand_model(src)
    dst = tmp_path / "model.npz"
    model.save_npz(dst)
    again = load_hand_model(dst)
    assert again.name == model.name and again.side == model.side
    for field in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(again, field), getattr(model, field))


class _Payload:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize(
    "func_name", ["os.system", "builtins.eval", "builtins.exec", "subprocess.call"]
)
def test_malicious_pickle_is_refused_and_does_not_run(tmp_path, func_name):
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    import builtins
    import subprocess

    funcs = {
        "os.system": (os.system, command),
        "builtins.eval": (builtins.eval, code),
        "builtins.exec": (builtins.exec, code),
        "subprocess.call": (subprocess.call, ["touch", str(marker)]),
    }
    func, arg = funcs[func_name]
    data = random_mano_dict(seed=4)
    data["v_template"] = _Payload(func, arg)
    path = tmp_path / "MANO_RIGHT.pkl"
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)
    with pytest.raises(UnsafePickleError, match="refusing to load global") as info:
        load_hand_model(path)
    module, name = func_name.rsplit(".", 1)
    assert name in str(info.value)
    assert not marker.exists(), "the pickle's payload ran"


def test_missing_file_and_garbage(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_hand_model(tmp_path / "nope.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"this is not a pickle")
    with pytest.raises(HandModelError, match="not a readable"):
        load_hand_model(bad)
    not_dict = tmp_path / "list.pkl"
    not_dict.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(HandModelError, match="dict"):
        load_hand_model(not_dict)


def test_missing_keys_are_named(tmp_path):
    data = random_mano_dict(seed=5)
    del data["posedirs"]
    path = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pickle(path, data)
    with pytest.raises(HandModelError, match="posedirs"):
        load_hand_model(path)


def test_bad_shapes_name_the_field():
    data = random_mano_dict(seed=6)
    kwargs = dict(
        v_template=data["v_template"],
        faces=data["f"].astype(np.int32),
        shapedirs=data["shapedirs"],
        posedirs=data["posedirs"][:, :, :100],
        J_regressor=data["J_regressor"],
        weights=data["weights"],
        parents=[-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14],
        hands_components=data["hands_components"],
        hands_mean=data["hands_mean"],
        tip_vertex_ids=[744, 320, 443, 554, 671],
        side="right",
        name="t",
    )
    with pytest.raises(HandModelError, match=r"posedirs.*Received: posedirs.shape=\(778, 3, 100\)"):
        HandModel(**kwargs)
    kwargs["posedirs"] = data["posedirs"]
    kwargs["side"] = "middle"
    with pytest.raises(HandModelError, match="side"):
        HandModel(**kwargs)
    kwargs["side"] = "right"
    kwargs["parents"] = [0] * 16
    with pytest.raises(HandModelError, match="parents"):
        HandModel(**kwargs)
