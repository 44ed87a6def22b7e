"""COCO-style hand reader and its masks (decoded by pycocotools)."""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from hiu_tf.data import schema
from hiu_tf.data.sources import coco_hand
from hiu_tf.data.sources.base import ReaderError
from tests import image_files
from tests.hiu_tf.data.sources.hands import draw, wrist_is_red, write_rgb

# A 3 x 4 mask and its COCO RLE, worked out by hand: runs of 0s and 1s over the
# column-major pixels (0 0 1 | 1 1 1 | 1 0 0 | 0 0 0), starting with 0s; the
# compressed string writes each run under 16 as one character chr(48 + run).
SMALL = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0]], np.uint8)
SMALL_RUNS = [2, 5, 5]
SMALL_STRING = "255"


def rectangle_runs(h: int, w: int, top: int, bottom: int, left: int, right: int) -> list[int]:
    """The RLE runs of an h x w mask that is 1 on [top, bottom) x [left, right), by arithmetic."""
    inside = bottom - top
    gap = (h - bottom) + top  # from one column's rectangle to the next's
    first = left * h + top
    last = (h - bottom) + (w - right) * h
    return [first] + [inside, gap] * (right - left - 1) + [inside, last]


def compressed(mask: np.ndarray) -> dict:
    """pycocotools' compressed RLE of a mask, JSON-ready."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def test_rle_of_known_content():
    for counts in (SMALL_RUNS, SMALL_STRING, SMALL_STRING.encode()):
        mask = coco_hand.segmentation_to_mask({"size": [3, 4], "counts": counts}, 3, 4)
        assert mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, SMALL)
    # Empty runs are allowed in a list of counts (pycocotools' encoder never writes them).
    mask = coco_hand.segmentation_to_mask({"size": [3, 4], "counts": [2, 5, 0, 0, 5]}, 3, 4)
    np.testing.assert_array_equal(mask, SMALL)
    runs = rectangle_runs(120, 160, 50, 100, 90, 140)
    assert sum(runs) == 120 * 160
    expected = np.zeros((120, 160), np.uint8)
    expected[50:100, 90:140] = 1
    mask = coco_hand.segmentation_to_mask({"size": [120, 160], "counts": runs}, 120, 160)
    np.testing.assert_array_equal(mask, expected)


def test_rle_of_random_masks():
    rng = np.random.default_rng(0)
    for shape in ((5, 7), (40, 33)):
        mask = (rng.random(shape) > 0.6).astype(np.uint8)
        mask[0, 0] = 1  # a first run of zero zeros
        got = coco_hand.segmentation_to_mask(compressed(mask), *shape)
        np.testing.assert_array_equal(got, mask)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([2, 3], "RLE runs sum to 5, expected 12"),
        ([2, 5, 6], "RLE runs sum to 13, expected 12"),
        ([-1, 13], "non-negative integers"),
        ([2.5, 9.5], "non-negative integers"),
        ("25", "do not describe a 3 x 4 mask"),  # runs stop short: the rest would be undefined
        ("256", "Invalid RLE mask representation"),  # runs overflow the mask
        ("", "do not describe a 3 x 4 mask"),
        (7, "must be a list or a string"),
    ],
)
def test_rle_errors(counts, message):
    with pytest.raises(ValueError, match=message):
        coco_hand.segmentation_to_mask({"size": [3, 4], "counts": counts}, 3, 4)


def test_rle_size_must_be_the_image_size():
    with pytest.raises(ValueError, match=r"RLE size \[3, 4\] differs from the image \[4, 3\]"):
        coco_hand.segmentation_to_mask({"size": [3, 4], "counts": SMALL_RUNS}, 4, 3)


def test_polygon_masks():
    rectangle = [2, 2, 8, 2, 8, 6, 2, 6]  # pixel corners on integers: pixels 2..7 x 2..5
    mask = coco_hand.segmentation_to_mask([rectangle], 10, 10)
    expected = np.zeros((10, 10), np.uint8)
    expected[2:6, 2:8] = 1
    np.testing.assert_array_equal(mask, expected)
    # Several polygons are one mask (their union); a 2-point "polygon" is ignored.
    square = [6, 4, 9, 4, 9, 9, 6, 9]
    mask = coco_hand.segmentation_to_mask([rectangle, square, [0, 0, 1, 1]], 10, 10)
    expected[4:9, 6:9] = 1
    np.testing.assert_array_equal(mask, expected)
    assert coco_hand.segmentation_to_mask([[0, 0, 1, 1]], 10, 10) is None
    assert coco_hand.segmentation_to_mask([], 10, 10) is None
    with pytest.raises(ValueError, match="even count"):
        coco_hand.segmentation_to_mask([[2, 2, 8, 2, 8]], 10, 10)


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
                # Image 2: uncompressed RLE; the others: pycocotools' compressed string.
                "segmentation": (
                    {"size": [h, w], "counts": rectangle_runs(h, w, 50, 100, 90, 140)}
                    if image_id == 2
                    else compressed(mask_b)
                ),
                "iscrowd": 0,
            }
        )
    annotations.append(
        {"id": 99, "image_id": 3, "iscrowd": 1, "segmentation": compressed(np.ones((120, 160)))}
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


def test_a_bad_mask_keeps_the_keypoints(coco_root, caplog):
    path = coco_root / "annotations" / "train.json"
    data = json.loads(path.read_text())
    (anno,) = [a for a in data["annotations"] if a["id"] == 21]
    anno["segmentation"] = {"size": [120, 160], "counts": "25"}  # runs stop short
    path.write_text(json.dumps(data))
    samples = dict(coco_hand.CocoHandReader(coco_root, "train", image_size=48))
    assert len(samples) == 6
    assert samples["2/21"]["has_mask"] == 0 and samples["2/21"]["has_2d"] == 1
    assert samples["2/20"]["has_mask"] == 1
    assert "bad segmentation in image 2: RLE counts do not describe a 120 x 160 mask" in caplog.text


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
