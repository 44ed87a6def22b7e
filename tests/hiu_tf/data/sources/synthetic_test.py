"""Synthetic generator: label consistency, determinism, backgrounds, TFRecords and the CLI.

Uses a tiny stick hand model (tests/.../stick_hand.py), so the tests do not
depend on the open hand model's geometry.
"""

import dataclasses

import numpy as np
import pytest

from hiu_tf.__main__ import main
from hiu_tf.data import schema, tfrecord
from hiu_tf.data.sources import synthetic
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
    with pytest.raises(synthetic.ReaderError, match="no images found"):
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
