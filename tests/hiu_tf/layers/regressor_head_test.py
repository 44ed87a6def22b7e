import keras
import numpy as np
import pytest

from hiu_tf.layers.regressor_head import RegressorHead
from tests.helpers import run_layer_test

# A rotation of 90 degrees about x, row-major.
R_X90 = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0)


def _features(batch=2):
    return np.random.default_rng(0).normal(size=(batch, 16, 16, 8)).astype("float32")


@pytest.mark.parametrize(
    "rotation, focal_mode, pca, joint_dim",
    [("6d", "fixed", 0, 90), ("axis_angle", "predicted", 0, 45), ("axis_angle", "fixed", 6, 6)],
)
def test_regressor_head_layer(rotation, focal_mode, pca, joint_dim):
    run_layer_test(
        RegressorHead,
        {
            "width": 8,
            "downsamples": 2,
            "rotation": rotation,
            "focal_mode": focal_mode,
            "num_pca_comps": pca,
            "input_size": 64,
            "canonical_rotation": R_X90,
        },
        _features(),
        expected_output_shape={
            "global_rotmat": (2, 3, 3),
            "joint_params": (2, joint_dim),
            "betas": (2, 10),
            "translation": (2, 3),
            "focal_px": (2, 1),
        },
        expected_num_non_trainable_weights=5,  # 2 x (BN mean, variance) + R_0
        run_mixed_precision_check=rotation == "6d",
        atol=1e-5,
    )


def test_encode_then_regress_is_the_call():
    # The export runs the two halves apart (`export.graph`: encode with the int8 trunk).
    head = RegressorHead(width=8, downsamples=2, input_size=64, canonical_rotation=R_X90)
    x = _features()
    whole = head(x)
    pooled = head.encode(x)
    assert tuple(pooled.shape) == (2, 8)
    for key, value in head.regress(pooled).items():
        np.testing.assert_allclose(np.asarray(value), np.asarray(whole[key]), atol=1e-6)


@pytest.mark.parametrize("rotation", ["6d", "axis_angle"])
def test_step_zero_hand_is_centred_in_front_of_the_camera(rotation):
    head = RegressorHead(
        width=8,
        rotation=rotation,
        focal_length_norm=2.0,
        input_size=64,
        reference_depth=0.5,
        canonical_rotation=R_X90,
    )
    out = {k: keras.ops.convert_to_numpy(v) for k, v in head(_features(4)).items()}
    np.testing.assert_allclose(out["translation"][:, 2], 0.5, rtol=0.02)
    np.testing.assert_allclose(out["translation"][:, :2], 0.0, atol=0.01)
    np.testing.assert_allclose(out["focal_px"], 128.0)
    np.testing.assert_allclose(
        out["global_rotmat"], np.tile(np.reshape(R_X90, (1, 3, 3)), (4, 1, 1)), atol=0.02
    )
    identity = np.tile([1, 0, 0, 0, 1, 0], 15) if rotation == "6d" else np.zeros(45)
    np.testing.assert_allclose(out["joint_params"], np.tile(identity, (4, 1)), atol=0.02)
    np.testing.assert_allclose(out["betas"], 0.0, atol=0.02)


def test_depth_stays_positive():
    head = RegressorHead(width=8, downsamples=0, input_size=64)
    head.build((None, 4, 4, 8))
    kernel, bias = head.out.get_weights()
    bias[-1] = -50.0  # d_z far negative
    head.out.set_weights([kernel, bias])
    t = keras.ops.convert_to_numpy(head(_features()[:, :4, :4])["translation"])
    assert np.all(t[:, 2] > 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rotation": "quaternion"}, "Received: rotation='quaternion'"),
        ({"focal_mode": "auto"}, "Received: focal_mode='auto'"),
        ({"rotation": "6d", "num_pca_comps": 6}, "num_pca_comps=6"),
        ({"reference_depth": 0.0}, "Received: reference_depth=0.0"),
        ({"canonical_rotation": (1.0,) * 9}, "canonical_rotation"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RegressorHead(**kwargs)
