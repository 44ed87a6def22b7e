"""training.kit.studies and .results: variant lists, matched widths, configs and tables."""

import numpy as np
import pytest

from hiu_tf.config import TASKS
from training.kit import ExperimentError, results, studies


@pytest.mark.parametrize("study", studies.STUDIES)
def test_every_variant_resolves_to_a_valid_config(study):
    base = studies.base_config(study)
    for variant in studies.variants(study):
        config = studies.variant_config(base, variant, seed=1, sources=[("/data/train", 1.0)])
        assert config.train.seed == 1
        assert config.name == f"ablate-{variant.slug}"
        assert [s.path for s in config.data.sources] == ["/data/train"]


def test_variant_lists_follow_the_paper():
    names = lambda study: [v.name for v in studies.variants(study)]  # noqa: E731
    assert names("stacks") == ["4-stack", "2-stack", "1-stack"]
    assert names("tam") == ["4-stack", "4-stack §", "1-stack", "1-stack §"]
    tasks = [
        studies.variant_config(studies.base_config("tasks"), v, 0, [("x", 1.0)]).model.tasks
        for v in studies.variants("tasks")
    ]
    assert len(tasks) == 7 and len(set(tasks)) == 7  # every non-empty subset once
    assert all(set(t) <= set(TASKS) for t in tasks)
    mobile = [
        studies.variant_config(studies.base_config("mobile"), v, 0, [("x", 1.0)]).model
        for v in studies.variants("mobile")
    ]
    assert all(m.block_type == "inverted" and m.activation == "relu6" for m in mobile)
    assert [(m.num_stacks, m.expansion, m.decoder_full_res) for m in mobile] == [
        (2, 2, True), (2, 2, False), (2, 1, True), (2, 1, False),
        (1, 2, True), (1, 2, False), (1, 1, True),
    ]  # fmt: skip
    ssl = studies.variants("ssl")
    assert [(v.label_fraction, v.unlabelled) for v in ssl] == [
        (f, u) for f in studies.SSL_FRACTIONS for u in (False, True)
    ]
    base = studies.base_config("ssl")
    assert base.model.render_mask  # the mask consistency term needs the renderer
    plain = studies.variant_config(base, ssl[2], 0, [("x", 1.0)])
    with_ssl = studies.variant_config(base, ssl[3], 0, [("x", 1.0)])
    assert plain.loss.ssl_mask == plain.loss.ssl_2d == 0
    assert with_ssl.loss.ssl_mask > 0 and with_ssl.loss.ssl_2d > 0
    with pytest.raises(ExperimentError, match="--study must be one of"):
        studies.variants("depth")


def test_widths_keep_the_flops_of_the_stacks_about_equal():
    widths = {n: studies.ablation_width(n) for n in (1, 2, 4, 8)}
    assert widths == {1: 32, 2: 22, 4: 16, 8: 12}
    costs = [n * w**2 for n, w in widths.items()]
    assert max(costs) / min(costs) < 1.2


def test_aggregate_and_table_cells():
    assert results.aggregate([0.5, 0.7, None]) == {
        "mean": pytest.approx(0.6),
        "std": pytest.approx(np.std([0.5, 0.7], ddof=1)),
        "n": 2,
    }
    assert results.aggregate([None]) == {"mean": None, "std": None, "n": 0}
    variants = studies.variants("tasks")[:2]
    runs = {
        "heatmap/seed0": {"metrics": {"auc_2d_heatmap": 0.5, "auc_2d_mesh": 0.2}},
        "heatmap/seed1": {"metrics": {"auc_2d_heatmap": 0.7, "auc_2d_mesh": 0.2}},
        "mask/seed0": {"metrics": {"mask_mean_iou": 0.8}},
    }
    table = results.build_table("tasks", variants, runs, [0, 1])
    text = results.format_table("tasks", variants, table)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["Heat-map", "Mask", "POF"]
    assert "0.600 ± 0.141" in lines[1] and lines[1].split()[:3] == ["✓", "✗", "✗"]
    assert "0.800" in lines[2] and "±" not in lines[2]  # one seed: no spread
    markdown = results.format_table("tasks", variants, table, markdown=True)
    assert markdown.splitlines()[1].startswith("|---|")
