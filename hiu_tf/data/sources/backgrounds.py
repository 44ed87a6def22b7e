"""Backgrounds for synthetic hands: procedural images, or random crops of a folder of photos.

`procedural_background` draws a gradient, fractal noise or stripes, maybe with
clutter shapes (flat-coloured circles, boxes, lines, polygons) and a blur;
`BackgroundBank` crops and flips the images of a folder. Both are seeded by the
caller's `numpy.random.Generator`, so `hiu_tf.data.sources.synthetic` stays
reproducible sample by sample.
"""

from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict

import cv2
import numpy as np

from hiu_tf.data.sources.base import ReaderError, read_image
from hiu_tf.image import ImageError, image_files_under

logger = logging.getLogger(__name__)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour, float32 in [0, 255], not too dark (HSV value >= 30)."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(0, 256), rng.integers(30, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    a, b = random_colour(rng), random_colour(rng)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * math.pi)
        t = xx * math.cos(angle) + yy * math.sin(angle)
    else:
        cx, cy = rng.uniform(0, 1, 2)
        t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return a + (b - a) * t[..., None]


def _fractal_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    total = np.zeros((size, size), np.float32)
    amplitude = 1.0
    for octave in range(rng.integers(3, 6)):
        cells = 2 ** (octave + 2)
        layer = rng.random((cells, cells)).astype(np.float32)
        total += amplitude * cv2.resize(layer, (size, size), interpolation=cv2.INTER_CUBIC)
        amplitude *= rng.uniform(0.4, 0.65)
    total = (total - total.min()) / max(float(np.ptp(total)), 1e-6)
    palette = np.stack([random_colour(rng) for _ in range(3)])
    t = total[..., None]
    return np.where(
        t < 0.5,
        palette[0] + (palette[1] - palette[0]) * 2 * t,
        palette[1] + (palette[2] - palette[1]) * (2 * t - 1),
    )


def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    freq = rng.uniform(2, 20) * 2 * math.pi / size
    wave = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * freq)
    if rng.random() < 0.4:  # checkerboard
        wave = wave * np.sin((-xx * math.sin(angle) + yy * math.cos(angle)) * freq)
    t = (wave > 0).astype(np.float32) if rng.random() < 0.5 else (wave + 1) / 2
    a, b = random_colour(rng), random_colour(rng)
    return a + (b - a) * t[..., None]


def _clutter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    size = image.shape[0]
    image = np.ascontiguousarray(image)
    for _ in range(rng.integers(2, 14)):
        colour = tuple(float(c) for c in random_colour(rng))
        kind = rng.integers(0, 4)
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        radius = int(rng.uniform(0.03, 0.3) * size)
        if kind == 0:
            cv2.circle(image, centre, radius, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            box = cv2.boxPoints(
                (centre, (radius * rng.uniform(0.5, 2), radius), rng.uniform(0, 180))
            )
            cv2.fillPoly(image, [np.int32(box)], colour, cv2.LINE_AA)
        elif kind == 2:
            end = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.line(
                image, centre, end, colour, int(rng.integers(1, max(size // 25, 2))), cv2.LINE_AA
            )
        else:
            n = rng.integers(3, 8)
            angles = np.sort(rng.uniform(0, 2 * math.pi, n))
            radii = radius * rng.uniform(0.4, 1.0, n)
            pts = np.stack(
                [centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], -1
            )
            cv2.fillPoly(image, [np.int32(pts)], colour, cv2.LINE_AA)
    return image


def procedural_background(
    rng: np.random.Generator, size: int, clutter_rate: float = 0.6
) -> np.ndarray:
    """An `[S, S, 3]` uint8 RGB background: gradient, fractal noise or stripes, maybe cluttered."""
    kind = rng.choice(3, p=(0.35, 0.4, 0.25))
    base = (_gradient, _fractal_noise, _stripes)[kind](rng, size).astype(np.float32)
    if rng.random() < clutter_rate:
        base = _clutter(rng, base)
    if rng.random() < 0.3:
        base = cv2.GaussianBlur(base, (0, 0), rng.uniform(0.5, 3.0))
    return np.clip(base, 0, 255).astype(np.uint8)


class BackgroundBank:
    """Random square crops of the images in a folder (decoded images cached, at most `cache`).

    Args:
        folder: images (recursively).
        size: output side.
        cache: number of decoded images kept in memory (downscaled to at most 2 x size).
    """

    def __init__(self, folder: str, size: int, cache: int = 64):
        if not os.path.isdir(folder):
            raise ReaderError(f"backgrounds folder not found: {folder!r} is not a folder")
        self.paths = image_files_under(folder)
        if not self.paths:
            raise ReaderError(f"no images found under the backgrounds folder {folder!r}")
        self.size = size
        self.cache_size = cache
        self._cache: OrderedDict[int, np.ndarray | None] = OrderedDict()

    def _image(self, index: int) -> np.ndarray | None:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        try:
            image = read_image(self.paths[index])
        except ImageError as e:  # a missing or corrupt background is skipped, not fatal
            logger.warning("skipping background %s: %s", self.paths[index], e)
            image = None
        if image is not None:
            scale = 2 * self.size / min(image.shape[:2])
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        self._cache[index] = image
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return image

    def sample(self, rng: np.random.Generator) -> np.ndarray | None:
        """A random crop, or None if the chosen image is unreadable."""
        image = self._image(int(rng.integers(len(self.paths))))
        if image is None:
            return None
        h, w = image.shape[:2]
        side = max(int(min(h, w) * rng.uniform(0.4, 1.0)), 1)
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = image[y0 : y0 + side, x0 : x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return cv2.resize(
            np.ascontiguousarray(crop), (self.size, self.size), interpolation=cv2.INTER_AREA
        )
