"""training.kit.studies and .results: variant lists, matched widths, configs and tables."""

import numpy as np
import pytest

from hiu_tf.config import TASKS
from training.kit import ExperimentError, results, studies


@pytest.mark.parametrize("study", studies.STUDIES)
def test_every_variant_resolves_to_a_valid_config(study):
    base = studies.base_config(study)
    for variant in studies.variants(study):
        config = studies.variant_config(base, variant, seed=1, sources=["/data/train"])
        assert config.train.seed == 1
        assert config.name == f"ablate-{variant.slug}"
        assert [s.path for s in config.data.sources] == ["/data/train"]


def test_variant_lists_follow_the_paper():
    names = lambda study: [v.name for v in studies.variants(study)]  # noqa: E731
    assert names("stacks") == ["4-stack", "2-stack", "1-stack"]
    assert names("tam") == ["4-stack", "4-stack §", "1-stack", "1-stack §"]
    tasks = [
        studies.variant_config(studies.base_config("tasks"), v, 0, ["x"]).model.tasks
        for v in studies.variants("tasks")
    ]
    assert len(tasks) == 7 and len(set(tasks)) == 7  # every non-empty subset once
    assert all(set(t) <= set(TASKS) for t in tasks)
    mobile = [
        studies.variant_config(studies.base_config("mobile"), v, 0, ["x"]).model
        for v in studies.variants("mobile")
    ]
    assert all(m.block_type == "inverted" and m.activation == "relu6" for m in mobile)
    assert [(m.num_stacks, m.expansion, m.decoder_full_res) for m in mobile] == [
        (2, 2, True), (2, 2, False), (2, 1, True), (2, 1, False),
        (1, 2, True), (1, 2, False), (1, 1, True),
    ]  # fmt: skip
    ssl = studies.variants("ssl")
    assert [(v.label_fraction, v.unlabelled) for v in ssl] == [(0.0, False)] + [
        (f, u) for f in studies.SSL_FRACTIONS[1:] for u in (False, True)
    ]
    base = studies.base_config("ssl")
    assert base.model.render_mask  # the mask consistency term needs the renderer
    plain = studies.variant_config(base, ssl[1], 0, ["/d/ssl-10/labelled"])
    with_ssl = studies.variant_config(
        base, ssl[2], 0, ["/d/ssl-10/labelled", "/d/ssl-10/unlabelled"]
    )
    assert plain.loss.ssl_mask == plain.loss.ssl_2d == 0
    assert with_ssl.loss.ssl_mask > 0 and with_ssl.loss.ssl_2d > 0
    # Equal labelled exposure: the SSL arm adds a batch of unlabelled samples.
    assert plain.data.batch_size == base.data.batch_size and plain.data.mix == "weight"
    assert with_ssl.data.batch_size == 2 * base.data.batch_size and with_ssl.data.mix == "batch"
    assert [s.name for s in with_ssl.data.sources] == ["synthetic", "unlabelled"]
    # The tasks study: the head reads heat-map keypoints only where there are heat-maps.
    for v in studies.variants("tasks"):
        model = studies.variant_config(studies.base_config("tasks"), v, 0, ["x"]).model
        assert model.head_keypoints == ("heatmap" in model.tasks)
    for study in ("tasks", "ssl"):  # the stacks study's 2-stack model
        model = studies.base_config(study).model
        assert (model.num_stacks, model.width) == (2, studies.ablation_width(2))
    assert not studies.base_config("mobile").train.jit_compile
    assert studies.base_config("stacks").train.jit_compile
    for study in studies.STUDIES:  # every claim names two of its variants
        slugs = {v.slug for v in studies.variants(study)}
        assert all(a in slugs and b in slugs for a, b, _ in studies.claims(study))
    assert [c for *_, c in studies.claims("ssl")] == [
        "SSL > no SSL at 10 %",
        "SSL > no SSL at 30 %",
        "SSL > no SSL at 100 %",
    ]
    with pytest.raises(ExperimentError, match="--study must be one of"):
        studies.variants("depth")


def test_ssl_fractions_name_rows_and_claims():
    ssl = studies.variants("ssl", [0.3, 0.025])
    assert [v.slug for v in ssl] == [
        "labelled0",
        "labelled2.5",
        "labelled2.5-ssl",
        "labelled30",
        "labelled30-ssl",
    ]
    assert ssl[2].name == "2.5 % labelled ‡" and ssl[2].label_fraction == 0.025
    assert studies.claims("ssl", ssl) == (
        ("labelled2.5-ssl", "labelled2.5", "SSL > no SSL at 2.5 %"),
        ("labelled30-ssl", "labelled30", "SSL > no SSL at 30 %"),
    )
    assert studies.ssl_fractions() == studies.SSL_FRACTIONS
    assert studies.percent(0.07) == "7" and studies.percent(0.3) == "30"
    with pytest.raises(ExperimentError, match=r"in \(0, 1\]. Received: 0"):
        studies.variants("ssl", [0, 0.5])
    with pytest.raises(ExperimentError, match="Received: 1.5"):
        studies.variants("ssl", [1.5])
    with pytest.raises(ExperimentError, match="differ in percent"):
        studies.variants("ssl", [0.1, 0.1000000001])
    with pytest.raises(ExperimentError, match="options of the ssl study"):
        studies.variants("stacks", [0.1])
    # The verdicts follow the rows asked for.
    table = {
        "labelled2.5": {"3d": _stat(0.30, 0.01)},
        "labelled2.5-ssl": {"3d": _stat(0.40, 0.01)},
    }
    found = results.verdicts("ssl", table, ssl)
    assert [(v["claim"], v["verdict"]) for v in found] == [
        ("SSL > no SSL at 2.5 %", "held"),
        ("SSL > no SSL at 30 %", "not run"),
    ]


def test_widths_keep_the_flops_of_the_stacks_about_equal():
    widths = {n: studies.ablation_width(n) for n in (1, 2, 4, 8)}
    assert widths == {1: 68, 2: 48, 4: 34, 8: 24}
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


def _stat(mean, std, n=3):
    return {"mean": mean, "std": std, "n": n}


def test_left_untrained_needs_three_spreads():
    row = {
        "2d_mesh": _stat(0.50, 0.02),
        "2d_mesh_initial": _stat(0.30, 0.01),  # 0.20 > 3 * 0.02
        "3d": _stat(0.10, 0.03),
        "3d_initial": _stat(0.02, 0.01),  # 0.08 < 3 * 0.03
        "2d": _stat(0.4, 0.0),
    }
    left = results.left_untrained(row)
    assert left == {"2d": None, "2d_mesh": True, "mask": None, "3d": False}
    row["3d"] = _stat(0.10, 0.02)  # 0.08 > 3 * 0.02 (the larger spread)
    assert results.left_untrained(row)["3d"] is True


def test_verdicts_follow_the_seed_spread():
    a, b = _stat(0.60, 0.01), _stat(0.50, 0.01)
    table = {
        "4-stack": {"2d": a, "2d_mesh": a, "mask": _stat(0.5, 0.05), "3d": b},
        "2-stack": {"2d": b, "2d_mesh": _stat(0.58, 0.02), "mask": b, "3d": a},
        "1-stack": {"2d": b, "2d_mesh": b, "mask": b, "3d": b},
    }
    found = {v["claim"]: v for v in results.verdicts("stacks", table)}
    mixed = found["4-stack > 2-stack"]
    assert mixed["columns"] == {
        "2d": "held",
        "2d_mesh": "within spread",  # 0.02 apart, spreads 0.01 + 0.02
        "mask": "within spread",
        "3d": "not held",
    }
    assert mixed["verdict"] == "mixed"
    assert found["4-stack > 1-stack"]["verdict"] == "held"
    assert found["2-stack > 1-stack"]["verdict"] == "held"
    table["1-stack"] = {"2d": a, "2d_mesh": _stat(0.7, 0.01), "mask": b, "3d": _stat(0.7, 0.01)}
    found = {v["claim"]: v for v in results.verdicts("stacks", table)}
    assert found["2-stack > 1-stack"]["verdict"] == "not held"
    lines = results.verdict_lines(results.verdicts("stacks", table))
    assert lines[0].startswith("4-stack > 2-stack: **mixed** (held on 2D Pose; within spread")
    assert results.verdicts("stacks", {})[0]["verdict"] == "not run"
    assert results.compare((0.5, 0.01), (0.53, 0.01), higher=True) == "better"
    assert results.compare((0.5, 0.01), (0.53, 0.01), higher=False) == "worse"
