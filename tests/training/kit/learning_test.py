"""training.kit.learning: targets and the depth-ratio comparison (summarize: report_test.py)."""

import pytest

from training.kit import learning


def test_improved_reads_the_direction_of_each_row():
    assert learning.improved(0.2, 0.5, True) is True
    assert learning.improved(0.2, 0.5, False) is False
    assert learning.improved(0.5, 0.5, True) is None
    assert learning.improved(None, 0.5, True) is None
    # The depth ratio is best at 1, on a log scale: 0.8 beats 1.3 and 2.0 beats 0.4.
    assert learning.improved(1.3, 0.8, None) is True
    assert learning.improved(0.4, 2.0, None) is True
    assert learning.improved(0.9, 3.0, None) is False


def _summary(**values):
    keys = {t.key for targets in learning.TARGET_SETS.values() for t in targets}
    return {key: values.get(key) for key in keys}


def test_demo_targets_met_and_missed():
    good = _summary(
        median_2d_heatmap_px=3.0,
        **{"pck_2d_heatmap@8px": 0.8},
        median_2d_mesh_px=5.0,
        pa_mpjpe_mm=10.0,
        mpjpe_mm=30.0,
        rotation_error_deg=20.0,
        mask_mean_iou=0.9,
    )
    untrained = _summary(pa_mpjpe_mm=15.0)
    results = learning.check_targets(good, untrained, learning.DEMO_TARGETS, 64)
    assert all(r.met for r in results), learning.target_lines(results)
    # PA-MPJPE must also be 30 % below the untrained model's: 10.0 > 0.7 * 14.0.
    results = learning.check_targets(good, _summary(pa_mpjpe_mm=14.0), learning.DEMO_TARGETS, 64)
    missed = [r for r in results if not r.met]
    assert [r.target.key for r in missed] == ["pa_mpjpe_mm"]
    assert missed[0].limit == pytest.approx(9.8)
    # A missing value is never met; a lower bound is checked from below.
    worse = dict(good, rotation_error_deg=None, mask_mean_iou=0.8)
    missed = {
        r.target.key
        for r in learning.check_targets(worse, untrained, learning.DEMO_TARGETS, 64)
        if not r.met
    }
    assert missed == {"rotation_error_deg", "mask_mean_iou"}
    lines = learning.target_lines(
        learning.check_targets(worse, untrained, learning.DEMO_TARGETS, 64)
    )
    assert any(line.strip().startswith("MISSED global rotation") for line in lines)


def test_long_targets_scale_the_2d_error_with_the_crop():
    summary = _summary(median_2d_heatmap_px=3.5, pa_mpjpe_mm=7.0, rotation_error_deg=10.0)
    assert all(r.met for r in learning.check_targets(summary, None, learning.LONG_TARGETS, 128))
    at_64 = learning.check_targets(summary, None, learning.LONG_TARGETS, 64)
    assert [r.met for r in at_64] == [False, True, True]
    assert at_64[0].limit == pytest.approx(1.92)


def _row(step, **values):
    return {"step": step, "wall_s": 10.0 * step, **values}


def test_regressions_compare_each_row_with_the_best_earlier_one():
    rows = [
        _row(0, median_2d_heatmap_px=30.0, mask_mean_iou=0.2, depth_ratio=1.2, pa_mpjpe_mm=15.0),
        _row(500, median_2d_heatmap_px=8.0, mask_mean_iou=0.6, depth_ratio=1.0, pa_mpjpe_mm=17.0),
        _row(1000, median_2d_heatmap_px=8.2, mask_mean_iou=0.5, depth_ratio=1.05, pa_mpjpe_mm=12.0),
        _row(2000, median_2d_heatmap_px=9.0, mask_mean_iou=0.7, depth_ratio=1.5, pa_mpjpe_mm=11.0),
    ]
    found = learning.regressions(rows)
    # 8.2 is within 5 % of 8.0; 9.0 is not. IoU 0.5 < 0.6. Depth 1.05 is within 10 % (log),
    # 1.5 is not. The untrained row is a reference too: PA-MPJPE passes above it.
    assert found == [
        "hm med at step 2000 (9) is worse than at step 500 (8)",
        "PA-MPJPE at step 500 (17) is worse than at step 0 (15)",
        "IoU at step 1000 (0.5) is worse than at step 500 (0.6)",
        "depth at step 2000 (1.5) is worse than at step 500 (1)",
    ]
    assert learning.regressions(rows[:1]) == []


def test_curve_table_has_a_row_per_evaluation_and_marks_missing_values():
    lines = learning.curve_table_lines([_row(0, median_2d_heatmap_px=30.0), _row(500)])
    assert lines[0].split()[:3] == ["step", "wall", "s"]
    assert len(lines) == 4 and set(lines[1]) == {"-"}
    assert lines[2].split()[:3] == ["0", "0", "30.00"]
    assert lines[3].split()[2:] == ["n/a"] * len(learning.CURVE_COLUMNS)


def test_sets_table_has_a_row_per_named_set():
    lines = learning.sets_table_lines(
        {"held-out": _row(8000, mask_mean_iou=0.83), "family": _row(8000, mask_mean_iou=0.89)}
    )
    assert lines[0].split()[:2] == ["set", "hm"]
    assert len(lines) == 4 and set(lines[1]) == {"-"}
    iou = 1 + [h for h, *_ in learning.CURVE_COLUMNS].index("IoU")
    assert [line.split()[0] for line in lines[2:]] == ["held-out", "family"]
    assert [line.split()[iou] for line in lines[2:]] == ["0.830", "0.890"]
    assert len({len(line) for line in lines}) == 1  # the columns line up


def test_plot_learning_curves_writes_a_figure_of_several_runs(tmp_path):
    import matplotlib.image

    rows_64 = [_row(0, median_2d_heatmap_px=32.0), _row(500, median_2d_heatmap_px=4.0)]
    rows_128 = [_row(0, median_2d_heatmap_px=64.0), _row(500, median_2d_heatmap_px=8.0)]
    path = learning.plot_learning_curves(
        [(rows_64, "64 px", 64), (rows_128, "128 px", 128)],
        str(tmp_path / "curves.png"),
        "test",
        crop_relative=True,
        targets=learning.DEMO_TARGETS,
    )
    assert path == str(tmp_path / "curves.png")
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (650, 1400) and image.std() > 0


def test_every_curve_gets_its_own_colour():
    import matplotlib

    assert learning.line_colors(3) == list(matplotlib.colormaps["tab10"].colors[:3])
    eleven = learning.line_colors(11)  # the ssl study with two extra fractions
    assert len(set(eleven)) == 11
    assert learning.line_colors(21)[20] == eleven[0]  # beyond 20 they repeat
