"""`python -m hiu_tf data {convert,synth,info}`: make sharded TFRecords of sample dicts.

data convert --source freihand --root ~/data/FreiHAND_pub_v2 --out data/freihand
data synth --out data/synth --count 10000 --seed 0
data info data/freihand [--verify]

Image files are read strictly (`hiu_tf.image`): `data convert` skips and counts
items whose image is missing, empty, truncated, corrupt or not an image, and
prints the counts; `data info` shows them, and `--verify` decodes every record.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from hiu_tf.errors import UserError

_SOURCES = ("freihand", "rhd", "stb", "panoptic", "coco_hand", "folder")


class Progress:
    """Progress on stderr: a line redrawn 4 times a second on a terminal, else a line every 10 s.

    `done` ends with the final state, written once: off a terminal it is skipped when
    the last line written already showed it.
    """

    def __init__(self, label: str, total: int | None, stream=None):
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last = self.start
        self.count = 0
        self.extra = ""
        self.written: tuple[int, str] | None = None  # (count, extra) of the last line

    def update(self, count: int, extra: str = "", force: bool = False) -> None:
        self.count = count
        self.extra = extra
        now = time.perf_counter()
        if not force and now - self.last < (0.25 if self.tty else 10.0):
            return
        self.last = now
        rate = count / max(now - self.start, 1e-9)
        if self.total:
            frac = min(count / self.total, 1.0)
            text = f"{self.label} [{'#' * int(frac * 30):<30}] {count}/{self.total} {rate:.1f}/s"
        else:
            text = f"{self.label} {count} {rate:.1f}/s"
        if extra:
            text += f" ({extra})"
        if self.tty:
            self.stream.write(f"\r{text}" + ("\n" if force else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.written = (count, extra)

    def done(self) -> float:
        """Shows the final state (once); returns the elapsed seconds."""
        if self.tty or self.written != (self.count, self.extra):
            self.update(self.count, self.extra, force=True)
        return time.perf_counter() - self.start


def _parse_sets(values: list[str]) -> dict:
    from hiu_tf.config import parse_assignments

    pairs = parse_assignments(values or [], "key=value", "--set")
    return {key.replace("-", "_"): value for key, value in pairs}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    convert = sub.add_parser(
        "convert", help="convert a dataset to sharded TFRecords of sample dicts"
    )
    convert.add_argument("--source", required=True, choices=_SOURCES, help="dataset reader")
    convert.add_argument("--root", required=True, help="dataset root folder")
    convert.add_argument("--out", required=True, help="output folder")
    convert.add_argument("--split", default="train", help="split to read (default: train)")
    convert.add_argument("--size", type=int, default=256, help="crop side in pixels")
    convert.add_argument("--seed", type=int, default=0, help="seed of the crop jitter")
    jitter = convert.add_mutually_exclusive_group()
    jitter.add_argument(
        "--jitter", dest="jitter", action="store_true", default=None, help="jitter crops"
    )
    jitter.add_argument("--no-jitter", dest="jitter", action="store_false", help="centred crops")
    convert.add_argument("--hand-model", help="MANO_RIGHT.pkl / .npz (FreiHAND MANO labels)")
    convert.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="reader option, e.g. --set min_visible=5 (rhd), --set root_joint=palm (stb)",
    )
    convert.add_argument("--limit", type=int, help="stop after this many samples")
    _add_writer_flags(convert)

    synth = sub.add_parser("synth", help="render synthetic hands into sharded TFRecords")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--count", type=int, required=True, help="number of samples")
    synth.add_argument("--seed", type=int, default=0, help="seed: same seed, same data")
    synth.add_argument("--size", type=int, default=256, help="image side in pixels")
    synth.add_argument(
        "--hand-model", default="open:right", help="'open:right' (default), MANO_RIGHT.pkl or .npz"
    )
    synth.add_argument("--backgrounds", help="folder of background images (else procedural)")
    synth.add_argument("--occluder-rate", type=float, help="fraction of samples with an occluder")
    synth.add_argument(
        "--truncation-rate", type=float, help="fraction of samples cut by the image border"
    )
    synth.add_argument("--workers", type=int, default=1, help="worker processes")
    synth.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="SynthConfig field"
    )
    _add_writer_flags(synth)

    info = sub.add_parser("info", help="describe a folder of TFRecords")
    info.add_argument("path", help="TFRecord folder")
    info.add_argument(
        "--verify",
        action="store_true",
        help="decode every record's image and mask strictly and count the unreadable ones",
    )


def _add_writer_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", help="shard file name prefix (default: SOURCE-SPLIT)")
    parser.add_argument("--image-format", choices=("jpeg", "png"), default="jpeg")
    parser.add_argument("--jpeg-quality", type=int, default=95)
    parser.add_argument("--shard-size", type=int, default=2048, help="samples per shard")
    parser.add_argument("--force", action="store_true", help="overwrite shards of the same prefix")


def _check_positive(value, flag: str) -> None:
    if value is not None and value < 1:
        raise UserError(f"{flag} must be >= 1. Received: {flag}={value}")


def _convert(args: argparse.Namespace) -> int:
    from hiu_tf.data import tfrecord
    from hiu_tf.data.sources import get_reader

    _check_positive(args.size, "--size")
    _check_positive(args.limit, "--limit")
    _check_positive(args.shard_size, "--shard-size")
    kwargs = _parse_sets(args.set)
    if args.hand_model:
        if args.source != "freihand":
            raise UserError("--hand-model applies to --source freihand only")
        kwargs["hand_model"] = args.hand_model
    reader_cls = get_reader(args.source)
    try:
        reader = reader_cls(
            args.root,
            args.split,
            image_size=args.size,
            jitter=args.jitter,
            seed=args.seed,
            **kwargs,
        )
    except TypeError as e:
        raise UserError(f"bad reader option for {args.source}: {e}") from e
    total = len(reader)
    progress = Progress(f"{args.source}/{args.split}", total)

    def samples():
        produced = 0
        for index in range(total):
            for item in reader.load_counted(index):
                yield item
                produced += 1
                if args.limit and produced >= args.limit:
                    return
            skipped = reader.stats["skipped_corrupt"]
            progress.update(index + 1, f"{produced} samples, {skipped} skipped")

    info = tfrecord.write_tfrecords(
        samples(),
        args.out,
        args.prefix or f"{args.source}-{args.split}",
        shard_size=args.shard_size,
        image_format=args.image_format,
        jpeg_quality=args.jpeg_quality,
        source=args.source,
        overwrite=args.force,
        extra_info=lambda: {
            "split": args.split,
            "root": os.path.abspath(args.root),
            "seed": args.seed,
            "jitter": reader.crop.jitter,
            **reader.stats,
        },
    )
    seconds = progress.done()
    part = info["parts"][args.prefix or f"{args.source}-{args.split}"]
    # Counts a reader adds to the common ones (e.g. FreiHAND's unreadable_masks).
    extra = "".join(
        f", {value} {key.replace('_', ' ')}"
        for key, value in reader.stats.items()
        if key not in ("items", "samples", "skipped_corrupt", "skipped_unlabelled") and value
    )
    print(
        f"wrote {part['num_samples']} samples in {len(part['shards'])} shards to {args.out} "
        f"({seconds:.1f} s; {reader.stats['skipped_corrupt']} corrupt items skipped, "
        f"{reader.stats['skipped_unlabelled']} without a usable hand{extra})"
    )
    return 0


def _synth(args: argparse.Namespace) -> int:
    from hiu_tf.data.sources import synthetic

    _check_positive(args.count, "--count")
    _check_positive(args.size, "--size")
    _check_positive(args.workers, "--workers")
    overrides = _parse_sets(args.set)
    if args.occluder_rate is not None:
        overrides["occluder_rate"] = args.occluder_rate
    if args.truncation_rate is not None:
        overrides["truncation_rate"] = args.truncation_rate
    try:
        config = synthetic.SynthConfig(image_size=args.size, **overrides)
    except TypeError as e:
        raise UserError(f"bad --set for the synthetic generator: {e}") from e
    progress = Progress("synth", args.count)
    info = synthetic.write_synthetic(
        args.out,
        count=args.count,
        seed=args.seed,
        config=config,
        hand_model=args.hand_model,
        backgrounds=args.backgrounds,
        workers=args.workers,
        prefix=args.prefix or "synthetic",
        shard_size=args.shard_size,
        image_format=args.image_format,
        jpeg_quality=args.jpeg_quality,
        overwrite=args.force,
        progress=lambda n: progress.update(n),
    )
    seconds = progress.done()
    part = info["parts"][args.prefix or "synthetic"]
    print(
        f"wrote {part['num_samples']} synthetic samples in {len(part['shards'])} shards to "
        f"{args.out} ({seconds:.1f} s, {part['num_samples'] / max(seconds, 1e-9):.1f} samples/s)"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    from hiu_tf.data import tfrecord

    shards = tfrecord.list_shards(args.path)
    info = tfrecord.read_dataset_info(args.path)
    print(f"{args.path}: {len(shards)} shards, {info.get('num_samples', '?')} samples")
    print(f"crop size {info.get('image_size', '?')}, images {info.get('image_format', '?')}")
    for prefix, part in sorted(info.get("parts", {}).items()):
        details = ", ".join(
            f"{k}={v}" for k, v in sorted(part.items()) if k not in ("shards", "num_samples")
        )
        print(f"  {prefix}: {part['num_samples']} samples ({details})")
    if args.verify:
        stats: dict[str, int] = {}
        progress = Progress("verify", None)
        readable = 0
        for _ in tfrecord.iter_record_images(args.path, stats, with_masks=True):
            readable += 1
            progress.update(stats["records"])
        progress.done()
        print(
            f"verified {stats['records']} records: {readable} readable, "
            f"{stats['skipped_corrupt']} with an unreadable image or mask, "
            f"{stats['damaged_shards']} damaged shards"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "convert":
        return _convert(args)
    if args.action == "synth":
        return _synth(args)
    return _info(args)
