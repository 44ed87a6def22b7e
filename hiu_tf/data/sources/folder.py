"""A folder of unlabelled images, for self-supervision.

Every image under the root (recursively; `.jpg`, `.jpeg`, `.png`, `.bmp`,
`.webp`, `.tif`) gives one sample: the largest centred square, resized to the
crop size, with every label flag off. Such samples train only the
self-supervised terms (rendered vs predicted mask, projected joints vs
heat-maps). With jitter (training), the square is shrunk by up to
`scale_jitter` and moved by up to `centre_jitter` of its side.
"""

from __future__ import annotations

import os

from hiu_tf.data.sources.base import (
    IMAGE_EXTENSIONS,
    Reader,
    ReaderError,
    crop_sample,
    read_image,
)
from hiu_tf.image import centred_square, image_files_under


class FolderReader(Reader):
    """Unlabelled images from a folder tree.

    Args:
        root: the folder.
        split: "train" (with jitter) or "eval" (centre crops); the folder is the same.
        **kwargs: `Reader` options.
    """

    name = "folder"
    splits = ("train", "eval")

    def __init__(self, root, split: str = "train", **kwargs):
        super().__init__(root, split, **kwargs)
        self.paths = image_files_under(self.root)
        if not self.paths:
            raise ReaderError(
                f"no images found under {self.root!r} (looked for {', '.join(IMAGE_EXTENSIONS)})"
            )

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int):
        path = self.paths[index]
        image = read_image(path)
        h, w = image.shape[:2]
        x0, y0, side = centred_square(h, w, min(h, w))
        if self.crop.jitter:
            rng = self.rng(index)
            shrink = 1.0 - rng.uniform(0.0, self.crop.scale_jitter)
            new_side = max(int(round(side * shrink)), 1)
            slack = side - new_side
            shift = rng.uniform(-1.0, 1.0, 2) * self.crop.centre_jitter * new_side
            x0 = int(round(x0 + slack / 2 + shift[0]))
            y0 = int(round(y0 + slack / 2 + shift[1]))
            side = new_side
        sample = crop_sample(image, (x0, y0, side), self.crop.image_size)
        return [(os.path.relpath(path, self.root), sample)]
