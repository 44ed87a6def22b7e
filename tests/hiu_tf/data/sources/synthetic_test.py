"""Synthetic generator: label consistency, determinism, backgrounds, TFRecords and the CLI.

Uses a tiny stick hand model (tests/hiu_tf/data/sources/stick_hand.py), so the tests do not
depend on the open hand model's geometry.
"""

import dataclasses

import numpy as np
import pytest

from hiu_tf.__main__ import main
from hiu_tf.data import schema, tfrecord
from hiu_tf.data.sources import synthetic
from hiu_tf.data.sources.base import ReaderError
from tests.hiu_tf.data.sources.hands import write_rgb
from tests.hiu_tf.data.sources.stick_hand import stick_hand_model

SIZE = 64


@pytest.fixture(scope="module")
def generator():
    return synthetic.SyntheticGenerator(
        synthetic.SynthConfig(image_size=SIZE, chunk_size=4), stick_hand_model()
    )


def test_samples_have_consistent_labels(generator):
    samples = generator.generate(7, range(6))
    assert [sid for sid, _ in samples] == [f"{i:08d}" for i in range(6)]
    for _, sample in samples:
        schema.validate_sample(sample)
        assert all(sample[k] == 1 for k in ("has_2d", "has_3d", "has_mask", "has_mano"))
        assert sample["is_left"] == 0
        uv = sample["joints_cam"] @ sample["intrinsics"].T
        np.testing.assert_allclose(uv[:, :2] / uv[:, 2:], sample["keypoints_px"], atol=1e-3)
        k = sample["intrinsics"]
        assert k[0, 0] == k[1, 1] and k[0, 2] == k[1, 2] == SIZE / 2  # the paper's Q
        assert sample["mask"].sum() > 0
    # The MANO labels re-pose the same hand: joints differ by one translation only.
    out = generator.layer(
        np.stack([s["mano_pose"] for _, s in samples]),
        np.stack([s["mano_betas"] for _, s in samples]),
    )
    for (_, sample), joints in zip(samples, out["joints"].numpy(), strict=True):
        offset = sample["joints_cam"] - joints
        np.testing.assert_allclose(offset, np.broadcast_to(offset[0], offset.shape), atol=1e-5)


def test_keypoints_lie_on_the_rendered_hand():
    cfg = synthetic.SynthConfig(image_size=SIZE, occluder_rate=0, truncation_rate=0)
    gen = synthetic.SyntheticGenerator(cfg, stick_hand_model())
    for _, sample in gen.generate(11, range(8)):
        mask = sample["mask"] > 0
        grown = np.zeros_like(mask)  # the mask grown by one pixel
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                grown |= np.roll(np.roll(mask, dy, 0), dx, 1)
        cols, rows = np.clip(sample["keypoints_px"].astype(int), 0, SIZE - 1).T
        assert grown[rows, cols].all()


def test_same_seed_same_samples_independent_of_chunks(generator):
    a = generator.generate(3, range(4))
    b = generator.generate(3, [2])
    np.testing.assert_array_equal(a[2][1]["image"], b[0][1]["image"])
    np.testing.assert_allclose(a[2][1]["keypoints_px"], b[0][1]["keypoints_px"], atol=1e-5)
    c = generator.generate(4, [2])
    assert not np.array_equal(a[2][1]["image"], c[0][1]["image"])


def test_flexion_axes_curl_towards_the_palm():
    from mano_tf.mano_layer import ManoLayer

    layer = ManoLayer(stick_hand_model(), flat_hand_mean=True)
    rest = layer(np.zeros((1, 48), np.float32), np.zeros((1, 10), np.float32))["joints"].numpy()[0]
    axes = synthetic.flexion_axes(rest)
    palm = np.cross(rest[5] - rest[0], rest[17] - rest[0])
    pose = np.zeros((1, 48), np.float32)
    pose[0, 3:6] = axes[0, 0] * 1.0  # index MCP, flexed by 1 rad
    bent = layer(pose, np.zeros((1, 10), np.float32))["joints"].numpy()[0]
    assert (bent[8] - rest[8]) @ palm > 0  # the index tip moved to the palm side


def _facing(seed=0):
    """A random rotation standing in for `facing_rotation` (any rotation will do)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.sign(np.linalg.det(q))


@pytest.mark.parametrize("max_tilt", [0.0, 40.0, 90.0])
def test_orientation_tilt_is_uniform_on_its_cap_and_back_rate_flips(max_tilt):
    facing = _facing()
    palm = facing.T @ np.array([0.0, 0.0, 1.0])  # the model-frame vector facing turns to +z
    up = facing.T @ np.array([0.0, -1.0, 0.0])
    rng = np.random.default_rng(1)
    for back_rate, sign in ((0.0, 1.0), (1.0, -1.0)):
        rotations = [
            synthetic.random_orientation(rng, facing, max_tilt, back_rate) for _ in range(2000)
        ]
        for r in rotations[:20]:
            np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
            assert np.linalg.det(r) == pytest.approx(1.0)
        cos = np.array([sign * (r @ palm)[2] for r in rotations])  # palm (or back) vs view
        low = np.cos(np.radians(max_tilt))
        assert np.all(cos >= low - 1e-9)
        # cos(tilt) uniform on [cos(max_tilt), 1]: its mean and spread.
        assert np.mean(cos) == pytest.approx((1 + low) / 2, abs=0.02)
        if max_tilt > 0:
            assert np.std(cos) == pytest.approx((1 - low) / np.sqrt(12), rel=0.1)
        # The roll is uniform: the hand's up direction points every way in the image.
        ups = np.array([(r @ up)[:2] for r in rotations])
        if max_tilt == 0:
            np.testing.assert_allclose(np.linalg.norm(ups, axis=1), 1.0, atol=1e-9)
        angles = np.arctan2(ups[:, 1], ups[:, 0])
        counts, _ = np.histogram(angles, bins=8, range=(-np.pi, np.pi))
        assert counts.min() > 0.7 * len(rotations) / 8


def test_orientation_at_full_tilt_is_uniform_on_so3():
    rng = np.random.default_rng(2)
    rotations = np.array(
        [synthetic.random_orientation(rng, _facing(3), 180.0, 0.3) for _ in range(4000)]
    )
    # Uniform on SO(3): every entry has mean 0 and variance 1/3.
    np.testing.assert_allclose(rotations.mean(axis=0), 0.0, atol=0.04)
    np.testing.assert_allclose((rotations**2).mean(axis=0), 1 / 3, atol=0.03)


def test_generator_orientation_follows_the_config():
    from mano_tf.rotations import axis_angle_to_matrix

    config = synthetic.SynthConfig(image_size=32, max_tilt_deg=0.0, back_rate=0.0, chunk_size=8)
    gen = synthetic.SyntheticGenerator(config)
    samples = [s for _, s in gen(seed=5, count=8)]
    palm = gen.facing.T @ np.array([0.0, 0.0, 1.0])
    for sample in samples:
        r = np.asarray(axis_angle_to_matrix(sample["mano_pose"][:3].astype(np.float64)))
        np.testing.assert_allclose((r @ palm)[2], 1.0, atol=1e-5)  # the palm faces the camera


def test_user_backgrounds(tmp_path):
    image = np.zeros((90, 120, 3), np.uint8)
    image[:] = (10, 200, 30)
    write_rgb(tmp_path / "bg.png", image)
    cfg = synthetic.SynthConfig(
        image_size=SIZE,
        occluder_rate=0,
        truncation_rate=0,
        noise_std_max=0,
        blur_prob=0,
        centre_jitter=0,
    )
    gen = synthetic.SyntheticGenerator(cfg, stick_hand_model(), backgrounds=str(tmp_path))
    for _, sample in gen.generate(0, range(3)):
        corner = (sample["image"][0, 0] * 255).round()
        np.testing.assert_allclose(corner, (10, 200, 30), atol=3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReaderError, match="no images found"):
        synthetic.SyntheticGenerator(cfg, stick_hand_model(), backgrounds=str(tmp_path / "empty"))


def test_write_is_deterministic(tmp_path):
    cfg = synthetic.SynthConfig(image_size=SIZE, chunk_size=3)
    model = stick_hand_model()
    infos = []
    for name in ("a", "b"):
        infos.append(
            synthetic.write_synthetic(
                str(tmp_path / name), count=7, seed=5, config=cfg, hand_model=model, shard_size=4
            )
        )
    assert (
        infos[0]["num_samples"] == 7
        and infos[0]["parts"]["synthetic"]["hand_model"] == "test-stick-hand"
    )
    for shard in infos[0]["parts"]["synthetic"]["shards"]:
        assert (tmp_path / "a" / shard).read_bytes() == (tmp_path / "b" / shard).read_bytes()
    decoded = list(tfrecord.read_tfrecords(tmp_path / "a").as_numpy_iterator())
    assert len(decoded) == 7 and decoded[0]["image"].shape == (SIZE, SIZE, 3)


def test_config_errors():
    with pytest.raises(synthetic.SynthError, match="occluder_rate must be in"):
        synthetic.SynthConfig(occluder_rate=1.5)
    with pytest.raises(synthetic.SynthError, match=r"Received: max_tilt_deg=200"):
        synthetic.SynthConfig(max_tilt_deg=200)
    with pytest.raises(synthetic.SynthError, match="back_rate must be in"):
        synthetic.SynthConfig(back_rate=1.2)
    with pytest.raises(synthetic.SynthError, match="focal_min must be > 0 and <= focal_max"):
        synthetic.SynthConfig(focal_min=3.0, focal_max=2.0)
    left = dataclasses.replace(stick_hand_model(), side="left")
    with pytest.raises(synthetic.SynthError, match="renders right hands"):
        synthetic.SyntheticGenerator(synthetic.SynthConfig(), left)


def test_cli_synth(tmp_path, capsys):
    npz = tmp_path / "stick.npz"
    stick_hand_model().save_npz(npz)
    out = tmp_path / "synth"
    argv = [
        "data",
        "synth",
        "--out",
        str(out),
        "--count",
        "5",
        "--seed",
        "1",
        "--size",
        "48",
        "--hand-model",
        str(npz),
        "--set",
        "chunk_size=2",
        "--occluder-rate",
        "0.5",
    ]
    assert main(argv) == 0
    assert "wrote 5 synthetic samples" in capsys.readouterr().out
    info = tfrecord.read_dataset_info(out)
    assert info["image_size"] == 48 and info["parts"]["synthetic"]["config"]["occluder_rate"] == 0.5
    assert main(argv[:-2] + ["--set", "nope=1"]) == 2
    assert "bad --set" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_give_the_same_records(tmp_path):
    cfg = synthetic.SynthConfig(image_size=SIZE, chunk_size=2)
    npz = tmp_path / "stick.npz"
    stick_hand_model().save_npz(npz)
    for name, workers in (("one", 1), ("two", 2)):
        synthetic.write_synthetic(
            str(tmp_path / name), count=6, seed=2, config=cfg, hand_model=str(npz), workers=workers
        )
    shard = "synthetic-00000-of-00001.tfrecord"
    assert (tmp_path / "one" / shard).read_bytes() == (tmp_path / "two" / shard).read_bytes()
