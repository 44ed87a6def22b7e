import itertools

import numpy as np
import pytest

from hiu_tf.layers.concat_fusion import ConcatFusion
from hiu_tf.layers.mtl_block import MTLBlock
from hiu_tf.layers.task_attention import TaskAttention
from tests.helpers import run_layer_test


def _stem(channels=6, size=16):
    return np.random.default_rng(0).normal(size=(2, size, size, channels)).astype("float32")


def test_mtl_block_layer():
    run_layer_test(
        MTLBlock,
        {"filters": 8, "levels": 2},
        _stem(),
        expected_output_shape={
            "heatmaps": (2, 16, 16, 21),
            "mask_logits": (2, 16, 16, 1),
            "pof": (2, 16, 16, 60),
            "features": (2, 16, 16, 8),
        },
    )


def test_mtl_block_with_previous_no_tam():
    rng = np.random.default_rng(1)
    inputs = [_stem(), rng.normal(size=(2, 16, 16, 8)).astype("float32")]
    run_layer_test(
        MTLBlock,
        {
            "filters": 8,
            "levels": 1,
            "use_tam": False,
            "tasks": ["pof", "heatmap"],
            "has_previous": True,
        },
        inputs,
        expected_output_shape={
            "heatmaps": (2, 16, 16, 21),
            "pof": (2, 16, 16, 60),
            "features": (2, 16, 16, 8),
        },
        run_mixed_precision_check=False,
    )


@pytest.mark.parametrize(
    "tasks",
    [list(c) for n in (1, 2, 3) for c in itertools.combinations(("heatmap", "mask", "pof"), n)],
)
def test_the_seven_task_subsets_of_table_4(tasks):
    block = MTLBlock(8, tasks=tasks, levels=1)
    out = block(_stem())
    names = {"heatmap": "heatmaps", "mask": "mask_logits", "pof": "pof"}
    assert sorted(out) == sorted([names[t] for t in tasks] + ["features"])
    if len(tasks) == 1:
        assert block.fusion is None  # nothing to attend over: the task features pass
    else:
        assert isinstance(block.fusion, TaskAttention)
    assert isinstance(MTLBlock(8, tasks=["heatmap", "mask"], use_tam=False).fusion, ConcatFusion)


def test_bad_tasks():
    with pytest.raises(ValueError, match="Received: tasks=\\['heatmap', 'depth'\\]"):
        MTLBlock(8, tasks=["heatmap", "depth"])
    with pytest.raises(ValueError, match="Received: tasks=\\[\\]"):
        MTLBlock(8, tasks=[])
