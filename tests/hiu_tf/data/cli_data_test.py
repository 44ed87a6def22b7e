"""`python -m hiu_tf data convert / info` end to end on tiny fixtures."""

import json

import numpy as np

from hiu_tf.__main__ import main
from hiu_tf.data import schema, tfrecord
from tests import image_files
from tests.hiu_tf.data.sources.hands import draw, write_rgb


def _panoptic(root):
    folder = root / "manual_train"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        uv = rng.uniform(30, 90, (21, 2))
        write_rgb(folder / f"im{i}.jpg", draw(np.zeros((120, 120, 3), np.uint8), uv))
        pts = np.concatenate([uv, np.ones((21, 1))], 1).tolist()
        (folder / f"im{i}.json").write_text(json.dumps({"hand_pts": pts, "is_left": i % 2}))
    (folder / "im4.jpg").write_bytes(b"corrupt")


def test_convert_and_info(tmp_path, capsys):
    _panoptic(tmp_path / "hand_labels")
    out = tmp_path / "records"
    argv = [
        "data",
        "convert",
        "--source",
        "panoptic",
        "--root",
        str(tmp_path / "hand_labels"),
        "--out",
        str(out),
        "--size",
        "32",
        "--shard-size",
        "2",
        "--image-format",
        "png",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "wrote 4 samples in 2 shards" in printed and "1 corrupt items skipped" in printed
    samples = list(tfrecord.read_tfrecords(out).as_numpy_iterator())
    assert len(samples) == 4
    for sample in samples:
        schema.validate_sample(sample)
    assert [s["is_left"] for s in samples] == [0, 1, 0, 1]
    info = tfrecord.read_dataset_info(out)
    assert info["parts"]["panoptic-train"]["skipped_corrupt"] == 1
    # A second run refuses to overwrite; --force and --limit work.
    assert main(argv) == 2
    assert "already holds" in capsys.readouterr().err
    assert main(argv + ["--force", "--limit", "3"]) == 0
    assert tfrecord.read_dataset_info(out)["num_samples"] == 3
    capsys.readouterr()
    assert main(["data", "info", str(out)]) == 0
    assert "panoptic-train: 3 samples" in capsys.readouterr().out


def test_user_errors_are_one_line(tmp_path, capsys):
    rc = main(
        [
            "data",
            "convert",
            "--source",
            "rhd",
            "--root",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: rhd root not found") and err.count("\n") == 1
    rc = main(
        [
            "data",
            "convert",
            "--source",
            "folder",
            "--root",
            str(tmp_path),
            "--out",
            str(tmp_path),
            "--set",
            "bogus=1",
        ]
    )
    assert rc == 2 and "bad reader option" in capsys.readouterr().err
    assert main(["data", "info", str(tmp_path)]) == 2


def _spoil_record(shard_in, shard_out, index: int) -> None:
    """Copies a shard with record `index`'s image replaced by its first half."""
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(shard_out)) as writer:
        for i, record in enumerate(tf.data.TFRecordDataset(str(shard_in)).as_numpy_iterator()):
            example = tf.train.Example.FromString(record)
            if i == index:
                encoded = example.features.feature["image/encoded"].bytes_list
                encoded.value[0] = encoded.value[0][: len(encoded.value[0]) // 2]
            writer.write(example.SerializeToString())


def test_convert_counts_every_unreadable_image_and_info_verifies(tmp_path, capsys):
    root = tmp_path / "photos"
    root.mkdir()
    rng = np.random.default_rng(0)
    for kind in image_files.KINDS:
        write_rgb(root / f"{kind}.jpg", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
        image_files.spoil(root / f"{kind}.jpg", kind)
    write_rgb(root / "good.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    out = tmp_path / "records"
    argv = ["data", "convert", "--source", "folder", "--root", str(root), "--out", str(out)]
    assert main(argv + ["--size", "16", "--shard-size", "1"]) == 0
    printed = capsys.readouterr().out
    # The PNG named .jpg is read by its content; the four others are skipped and counted.
    assert "wrote 2 samples in 2 shards" in printed and "4 corrupt items skipped" in printed
    assert tfrecord.read_dataset_info(out)["parts"]["folder-train"]["skipped_corrupt"] == 4

    shards = tfrecord.list_shards(out)
    _spoil_record(shards[0], out / "spoilt-00000.tfrecord", 0)
    data = open(shards[1], "rb").read()
    (out / "truncated-00000.tfrecord").write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert main(["data", "info", str(out), "--verify"]) == 0
    printed = capsys.readouterr().out
    assert "skipped_corrupt=4" in printed
    assert (
        "verified 3 records: 2 readable, 1 with an unreadable image or mask, 1 damaged shards"
        in printed
    )


def test_progress_writes_the_final_state_once_off_a_terminal(monkeypatch):
    import io

    from hiu_tf.cli import data as data_cli

    clock = iter([0.0, 11.0, 11.5])  # the start, update, done (perf_counter calls)
    monkeypatch.setattr(data_cli.time, "perf_counter", lambda: next(clock))
    stream = io.StringIO()
    progress = data_cli.Progress("synth", 8, stream=stream)
    progress.update(8)  # 11 s after the start: written (every 10 s off a terminal)
    progress.done()  # the same state: not written again
    assert stream.getvalue().count("8/8") == 1, stream.getvalue()
    # A state the last line did not show is written by done.
    stream = io.StringIO()
    clock = iter([0.0, 11.0, 12.0, 13.0, 13.0])
    progress = data_cli.Progress("synth", 8, stream=stream)
    progress.update(4)
    progress.update(8)  # 1 s later: not written
    progress.done()
    assert [line.split()[-2] for line in stream.getvalue().splitlines()] == ["4/8", "8/8"]
