"""hiu_tf.data.sources.backgrounds: a folder of background photos, crops of it."""

import numpy as np
import pytest

from hiu_tf.data.sources.backgrounds import BackgroundBank
from hiu_tf.data.sources.base import ReaderError
from hiu_tf.image import write_image
from tests import image_files


def test_a_corrupt_background_is_skipped_and_the_rest_are_cropped(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        write_image(tmp_path / name, rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    image_files.spoil(tmp_path / "b.jpg", "truncated_jpeg")
    bank = BackgroundBank(str(tmp_path), size=16)
    crops = [bank.sample(np.random.default_rng(i)) for i in range(20)]
    assert any(c is None for c in crops)  # the truncated file, every time it is drawn
    kept = [c for c in crops if c is not None]
    assert kept and all(c.shape == (16, 16, 3) and c.dtype == np.uint8 for c in kept)


def test_an_empty_or_missing_folder_is_a_reader_error(tmp_path):
    with pytest.raises(ReaderError, match="not a folder"):
        BackgroundBank(str(tmp_path / "none"), size=16)
    with pytest.raises(ReaderError, match="no images found"):
        BackgroundBank(str(tmp_path), size=16)
