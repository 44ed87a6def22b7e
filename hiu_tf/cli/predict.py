"""`python -m hiu_tf predict PATH... --model PATH --out DIR`: run a model on images and videos.

Inputs are image files, folders (their images and videos, not recursive) and
videos (every frame, or every N-th with `--every N`). For each image or frame it
writes `NAME_overlay.png` (mask, skeleton and, when the model has a mesh, the
shaded mesh), `NAME_mask.png` and `NAME.json` (all outputs, in image pixels).
Unreadable files (missing, empty, truncated, corrupt or not an image:
`hiu_tf.image` decides) are reported on stderr with the reason, counted and
skipped, and the others go on; the exit code is 0 when at least one input
succeeded.
"""

from __future__ import annotations

import argparse
import os
import sys

from hiu_tf.errors import UserError
from hiu_tf.image import IMAGE_EXTENSIONS

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="images, folders or videos")
    parser.add_argument(
        "--model",
        required=True,
        help="run folder, .keras file, SavedModel (version or base folder) or .tflite",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--bbox", help="x,y,w,h box around the hand, image pixels (default: whole image)"
    )
    parser.add_argument("--left", action="store_true", help="left hand: mirror, run, mirror back")
    parser.add_argument("--every", type=int, default=1, help="videos: every N-th frame")
    parser.add_argument("--threads", type=int, default=2, help="TFLite interpreter threads")
    parser.add_argument(
        "--max-side", type=int, default=2048, help="downscale larger images to this side first"
    )


def _parse_box(text: str | None):
    if text is None:
        return None
    try:
        box = tuple(float(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
        raise UserError(f"--bbox must be x,y,w,h with w, h > 0. Received: --bbox {text!r}")
    return box


def _expand(paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        if os.path.isdir(path):
            out.extend(
                os.path.join(path, f)
                for f in sorted(os.listdir(path))
                if f.lower().endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
            )
        else:
            out.append(path)
    return out


def _unique(name: str, used: set[str]) -> str:
    candidate, i = name, 1
    while candidate in used:
        i += 1
        candidate = f"{name}_{i}"
    used.add(candidate)
    return candidate


def _frames(path: str, every: int):
    import cv2

    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f"cannot open {path} as a video")
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield index, frame[..., ::-1]
            index += 1
    finally:
        capture.release()


def run(args: argparse.Namespace) -> int:
    from export.inference import Predictor, save_result
    from hiu_tf.image import ImageError, read_image

    box = _parse_box(args.bbox)
    if args.every < 1:
        raise UserError(f"--every must be >= 1. Received: --every {args.every}")
    inputs = _expand(args.paths)
    if not inputs:
        raise UserError(f"no images or videos found in {', '.join(args.paths)}")
    predictor = Predictor.load(args.model, num_threads=args.threads, max_side=args.max_side)
    used: set[str] = set()
    done = failed = 0

    def process(image, name, source, frame=None):
        result = predictor.predict(image, box=box, left=args.left)
        extra = {"source": source, "model": args.model, "backend": predictor.kind}
        if frame is not None:
            extra["frame"] = frame
        save_result(args.out, _unique(name, used), image, result, predictor.faces, **extra)

    for path in inputs:
        stem = os.path.splitext(os.path.basename(path))[0]
        try:
            if path.lower().endswith(VIDEO_EXTENSIONS):
                count = 0
                for index, frame in _frames(path, args.every):
                    process(frame, f"{stem}_{index:06d}", path, index)
                    count += 1
                if not count:
                    raise ValueError(f"no frames read from {path}")
                done += count
            else:
                process(read_image(path), stem, path)
                done += 1
        except ImageError as e:  # its message names the file
            failed += 1
            print(f"skipped {e}", file=sys.stderr)
        except (ValueError, OSError) as e:
            failed += 1
            print(f"skipped {path}: {e}", file=sys.stderr)
    if not done:
        raise UserError(f"no input could be read ({failed} skipped)")
    print(
        f"wrote {done} result(s) to {args.out}"
        + (f"; skipped {failed} unreadable input(s)" if failed else "")
    )
    return 0
