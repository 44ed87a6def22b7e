"""COCO-style hand reader and the NumPy RLE decoder."""

import json

import numpy as np
import pytest

from hiu_tf.data import schema
from hiu_tf.data.sources import coco_hand
from hiu_tf.data.sources.base import ReaderError
from tests import image_files
from tests.hiu_tf.data.sources.hands import draw, wrist_is_red, write_rgb


def rle_encode(mask: np.ndarray, compressed: bool = True) -> dict:
    """Mask -> COCO RLE (pycocotools' encoding, written here for the fixtures)."""
    flat = mask.T.reshape(-1).astype(np.uint8)
    runs, current, count = [], 0, 0
    for value in flat:
        if value != current:
            runs.append(count)
            current, count = value, 0
        count += 1
    runs.append(count)
    if not compressed:
        return {"size": list(mask.shape), "counts": runs}
    chars = []
    for i, x in enumerate(runs):
        if i > 2:
            x -= runs[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if (c & 0x10) else x != 0
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return {"size": list(mask.shape), "counts": "".join(chars)}


@pytest.mark.parametrize("compressed", [False, True])
def test_rle_round_trip(compressed):
    rng = np.random.default_rng(0)
    for shape in ((5, 7), (40, 33)):
        mask = (rng.random(shape) > 0.6).astype(np.uint8)
        mask[0, 0] = 1  # a first run of zero zeros
        np.testing.assert_array_equal(coco_hand.rle_decode(rle_encode(mask, compressed)), mask)


def test_rle_matches_pycocotools():
    mask_utils = pytest.importorskip("pycocotools.mask")
    mask = (np.random.default_rng(1).random((30, 20)) > 0.5).astype(np.uint8)
    rle = mask_utils.encode(np.asfortranarray(mask))
    np.testing.assert_array_equal(coco_hand.rle_decode(rle), mask)


def test_rle_errors():
    with pytest.raises(ValueError, match="RLE runs sum to 5, expected 6"):
        coco_hand.rle_decode({"size": [2, 3], "counts": [2, 3]})


def test_polygon_mask():
    mask = coco_hand.polygons_to_mask([[2, 2, 8, 2, 8, 6, 2, 6]], 10, 10)
    assert mask[2:6, 2:8].all() and mask.sum() == 24


@pytest.fixture()
def coco_root(tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images" / "train").mkdir(parents=True)
    images, annotations = [], []
    for image_id in (1, 2, 3):
        h, w = 120, 160
        uv_a = rng.uniform(20, 60, (21, 2))
        uv_b = rng.uniform(90, 140, (21, 2))
        uv_b[:, 1] = rng.uniform(50, 100, 21)
        image = draw(draw(np.zeros((h, w, 3), np.uint8), uv_a), uv_b)
        write_rgb(tmp_path / "images" / "train" / f"{image_id:012d}.jpg", image)
        images.append(
            {"id": image_id, "file_name": f"{image_id:012d}.jpg", "height": h, "width": w}
        )
        mask_b = np.zeros((h, w), np.uint8)
        mask_b[50:100, 90:140] = 1
        kp_a = np.concatenate([uv_a, np.full((21, 1), 2.0)], 1)
        kp_a[3, 2] = 0
        annotations.append(
            {
                "id": 10 * image_id,
                "image_id": image_id,
                "keypoints": kp_a.reshape(-1).tolist(),
                "num_keypoints": 20,
                "segmentation": [[15, 15, 65, 15, 65, 65, 15, 65]],
                "iscrowd": 0,
                "handedness": "left",
            }
        )
        annotations.append(
            {
                "id": 10 * image_id + 1,
                "image_id": image_id,
                "keypoints": np.concatenate([uv_b, np.ones((21, 1))], 1).reshape(-1).tolist(),
                "segmentation": rle_encode(mask_b),
                "iscrowd": 0,
            }
        )
    annotations.append(
        {"id": 99, "image_id": 3, "iscrowd": 1, "segmentation": rle_encode(np.ones((120, 160)))}
    )
    data = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "hand"}]}
    (tmp_path / "annotations" / "train.json").write_text(json.dumps(data))
    return tmp_path


def test_reader(coco_root):
    reader = coco_hand.CocoHandReader(coco_root, "train", image_size=48)
    samples = dict(reader)
    assert len(samples) == 6 and reader.stats["skipped_corrupt"] == 0
    for sid, sample in samples.items():
        schema.validate_sample(sample)
        assert sample["has_2d"] == 1 and sample["has_mask"] == 1 and sample["has_3d"] == 0
        assert sample["is_left"] == (sid.endswith("0"))
        assert wrist_is_red(sample), sid
        assert 0.1 < sample["mask"].mean() < 1.0
    assert samples["1/10"]["keypoint_visible"][3] == 0


def test_wholebody_hands(tmp_path):
    (tmp_path / "images").mkdir()
    uv = np.random.default_rng(3).uniform(20, 60, (21, 2))
    write_rgb(tmp_path / "images" / "a.jpg", draw(np.zeros((80, 80, 3), np.uint8), uv))
    kp = np.concatenate([uv, np.ones((21, 1))], 1).reshape(-1).tolist()
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "height": 80, "width": 80}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "righthand_kpts": kp,
                "righthand_valid": True,
                "lefthand_kpts": [0.0] * 63,
                "lefthand_valid": False,
                "keypoints": [0] * 51,
                "segmentation": [[0, 0, 80, 0, 80, 80]],
            }
        ],
    }
    (tmp_path / "val.json").write_text(json.dumps(data))
    samples = dict(coco_hand.CocoHandReader(tmp_path, "val", image_size=32))
    assert list(samples) == ["7/1/right"]
    sample = samples["7/1/right"]
    assert sample["has_mask"] == 0 and sample["is_left"] == 0 and wrist_is_red(sample)


def test_errors(tmp_path):
    with pytest.raises(ReaderError, match="annotation file for split 'train' not found"):
        coco_hand.CocoHandReader(tmp_path, "train")
    (tmp_path / "train.json").write_text("{}")
    with pytest.raises(ReaderError, match="must be a COCO dict"):
        coco_hand.CocoHandReader(tmp_path, "train")


@pytest.mark.parametrize("kind", image_files.KINDS)
def test_unreadable_image_is_skipped_and_counted(coco_root, kind):
    clean = dict(coco_hand.CocoHandReader(coco_root, "train", image_size=48))
    image_files.spoil(coco_root / "images" / "train" / f"{2:012d}.jpg", kind)
    reader = coco_hand.CocoHandReader(coco_root, "train", image_size=48)
    got = dict(reader)
    image_files.assert_only_spoilt_lost(clean, got, reader.stats, {"2/20", "2/21"}, kind)
