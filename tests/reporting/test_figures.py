"""The report's figures: each is written, shows what its caption says, and keeps its legend off the data."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

matplotlib = pytest.importorskip("matplotlib")  # the report's figures (absent on the GPU machine)
matplotlib.use("Agg")

from pmtiqa.core import paths  # noqa: E402
from pmtiqa.core.atomic import null_as_nan  # noqa: E402
from pmtiqa.method.metrics import aggregate  # noqa: E402
from pmtiqa.reporting import figures  # noqa: E402
from pmtiqa.reporting.cross_matrix import cross_matrix  # noqa: E402
from pmtiqa.reporting.statistics import median_curve, quantile_curve  # noqa: E402
from pmtiqa.reporting.tables import cross_table  # noqa: E402
from tests.builders.results import fabricate, make_params, report  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch):
    """The figures a call draws, kept instead of written: a PNG says nothing a test can read of its content
    (a figure pyplot has closed can still be drawn and read)."""
    kept = []
    monkeypatch.setattr(figures, "save_png", lambda fig, dest: kept.append(fig))
    return kept


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def history(epochs=4, offset=0.0, with_val=True):
    t = np.arange(1, epochs + 1)
    table = pd.DataFrame({"epoch": t, "lambda1": (t - 1) / (epochs - 1), "lambda2": 1 - (t - 1) / (epochs - 1),
                          "lr": 1e-3, "loss": 1.0, "l1": 20.0 / t + offset, "ce": 2.0 / t + offset / 10,
                          "val_srcc": 0.5 + offset / 10, "val_plcc": 0.5, "test_srcc": 0.4 + offset / 10,
                          "test_plcc": 0.4})
    return table if with_val else table.drop(columns=["val_srcc", "val_plcc"])


def one_dataset(srcc_by_variant: dict[str, list[float]], selection="val", backbone="resnet50") -> dict:
    """A dataset as results.load_results gives it, with each split's test SRCC on ``selection`` (and
    PLCC 0.05 below it) over 50 test images."""
    variants = {}
    for v, values in srcc_by_variant.items():
        splits = [{selection: {"srcc": s, "plcc": s - 0.05, "epoch": 2}} for s in values]
        summary = {selection: {"srcc": aggregate(values), "plcc": aggregate(s - 0.05 for s in values)}}
        variants[v] = {"metrics": {"splits": splits, "summary": summary},
                       "histories": [history(offset=k) for k in range(len(values))],
                       "predictions": predictions(len(values))}
    return {"selections": (selection,) if selection == "final" else ("final", selection), "variants": variants,
            "settings": {"model.backbone": backbone}}


def predictions(n_splits=4, seed=0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_splits):
        mos = rng.uniform(0, 100, 50)
        out.append(pd.DataFrame({"mos": mos, "prediction": mos + rng.normal(0, 5, mos.size)}))
    return out


def legend_beside(fig, ax) -> bool:
    """Is the axes' legend wholly right of its plotting area?"""
    fig.canvas.draw()
    return ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1


def test_quantile_curve_gives_each_epochs_quartiles_over_splits():
    histories = [history(offset=k) for k in range(5)]  # l1 at each epoch: 20/t + 0..4
    q1, q3 = quantile_curve(histories, 0.25), quantile_curve(histories, 0.75)
    assert list(q1["epoch"]) == [1, 2, 3, 4]
    assert q1["l1"].tolist() == pytest.approx(20.0 / np.arange(1, 5) + 1)
    assert q3["l1"].tolist() == pytest.approx(20.0 / np.arange(1, 5) + 3)
    assert median_curve(histories)["l1"].tolist() == pytest.approx(20.0 / np.arange(1, 5) + 2)


def test_ablation_draws_every_split_and_the_quartiles(drawn, tmp_path):
    values = {"baseline": [0.60, 0.70, 0.65, 0.62, 0.71], "ms_pmt": [0.80, 0.75, 0.85, 0.90, 0.78]}
    results = {"livec": one_dataset(values), "koniq": one_dataset(values, selection="final", backbone="cnn4")}
    figures.ablation_figure(results, list(values), tmp_path / "ablation.png")
    fig = drawn[0]
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["livec: `val` selection\n5 splits, 50 test images each",
                                               "koniq: `final` selection\n5 splits, 50 test images each"]
    # the paper's names on its backbone only
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["baseline\nResNet50", "ms_pmt\nPMT-IQA"]
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["baseline\ncnn4", "ms_pmt\nPMT-IQA on\ncnn4"]
    dots = [c.get_offsets()[:, 1] for c in axes[0].collections if len(c.get_offsets()) == 5]
    assert [sorted(d) for d in dots] == [sorted(values["baseline"]), sorted(values["ms_pmt"])]
    whisker = [line.get_ydata() for line in axes[0].lines if len(line.get_ydata()) == 1]
    assert pytest.approx(np.median(values["ms_pmt"])) in [y[0] for y in whisker]  # the median point
    assert "interquartile range (whiskers)" in fig._suptitle.get_text()
    assert legend_beside(fig, axes[-1])


@pytest.mark.parametrize("with_val", [True, False])
def test_curves_put_each_quantity_on_its_own_labelled_axis(drawn, tmp_path, with_val):
    histories = {v: [history(offset=k, with_val=with_val) for k in range(3)] for v in ("baseline", "ms_pmt", "pmt")}
    figures.curves_figure("livec", histories, "ms_pmt", tmp_path / "curves.png")
    fig = drawn[0]
    srcc_ax, l1_ax, ce_ax, weights_ax = fig.axes
    assert srcc_ax.get_ylabel() == ("SRCC, validation part" if with_val else "SRCC, test part\n(no validation part)")
    assert "L1" in l1_ax.get_ylabel() and "cross-entropy" in ce_ax.get_ylabel()
    assert l1_ax.lines[0].get_ydata().tolist() == pytest.approx(20.0 / np.arange(1, 5) + 1)  # the median of 0..2
    assert len(l1_ax.collections) == 1  # the quartile band
    labels = [t.get_text() for t in weights_ax.get_legend().get_texts()]
    assert labels == ["regression (baseline)", "progressive (ms_pmt, pmt)"]  # one line per schedule
    ticks = [t for t in weights_ax.get_xticks() if weights_ax.get_xlim()[0] <= t <= weights_ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() and t >= 1 for t in ticks)
    assert all(legend_beside(fig, ax) for ax in fig.axes)


def test_scatter_states_the_median_srcc_and_marks_what_lies_off_the_scale(drawn, tmp_path):
    preds = predictions()
    preds[0].loc[0, "prediction"] = 1e4  # an untrained regression head
    figures.scatter_figure("livec", preds, "ms_pmt", "val", tmp_path / "scatter.png")
    fig = drawn[0]
    ax = fig.axes[0]
    expected_srcc = np.median([stats.spearmanr(p["prediction"], p["mos"]).statistic for p in preds])
    expected_plcc = np.median([stats.pearsonr(p["prediction"], p["mos"]).statistic for p in preds])
    assert f"median over 4 splits: SRCC {expected_srcc:.3f}, PLCC {expected_plcc:.3f}" in ax.get_title()
    points, above = ax.collections[:2]
    assert len(points.get_offsets()) == 199 and points.get_offsets()[:, 1].max() < ax.get_ylim()[1]
    assert len(above.get_offsets()) == 1 and above.get_facecolor()[0].tolist() != points.get_facecolor()[0].tolist()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "1 prediction above the range" in labels and not any("below" in label for label in labels)
    assert legend_beside(fig, ax)


def cross_pairs() -> dict:
    """pmtiqa cross's pairs: koniq's ms_pmt models rank livec's images backwards; baseline is missing
    one pair (null medians) and the other has no per-split values (an older summary); as the report
    reads them (results.load_cross: null as NaN)."""
    return null_as_nan({"livec-to-koniq": {"ms_pmt": {"srcc_median": 0.61, "plcc_median": 0.6, "srcc_splits": [0.5, 0.6, 0.61,
                                                                                                   0.7, 0.72],
                                          "plcc_splits": [0.6] * 5, "n_images": 10073},
                               "baseline": {"srcc_median": 0.52, "plcc_median": 0.5}},
            "koniq-to-livec": {"ms_pmt": {"srcc_median": -0.2, "plcc_median": -0.1, "srcc_splits": [-0.3, -0.25, -0.2,
                                                                                                    -0.1, 0.0],
                                          "plcc_splits": [-0.1] * 5, "n_images": 1162},
                               "baseline": {"srcc_median": None, "plcc_median": None}}})


def test_cross_figure_fills_the_diagonal_and_centres_its_scale_on_zero(drawn, tmp_path):
    values = {"baseline": [0.60, 0.70, 0.65, 0.62, 0.71], "ms_pmt": [0.80, 0.75, 0.85, 0.90, 0.78]}
    results = {"livec": one_dataset(values), "koniq": one_dataset(values, selection="final", backbone="cnn4")}
    matrix = cross_matrix(cross_pairs(), results, ["ms_pmt", "ms", "baseline"])
    assert matrix["variants"] == ["ms_pmt", "baseline"]  # ms did not run
    titles = {"ms_pmt": "PMT-IQA", "baseline": "ResNet50"}
    figures.cross_figure(matrix, titles, "the `val` selection", tmp_path / "cross.png")
    heatmaps = [ax for ax in drawn[0].axes if ax.images]
    assert [ax.get_title() for ax in heatmaps] == ["ms_pmt (PMT-IQA)", "baseline (ResNet50)"]
    ms_pmt = heatmaps[0]
    assert [t.get_text() for t in ms_pmt.get_yticklabels()] == ["koniq", "livec"]  # trained on, in rows
    assert [t.get_text() for t in ms_pmt.get_xticklabels()] == ["koniq", "livec"]  # tested on
    medians = [t.get_text() for t in ms_pmt.texts if t.get_fontsize() == 9]
    # the diagonal: each dataset's own median test SRCC (koniq on `final`, livec on `val`); 50 images flag 0.8
    assert medians == ["0.800\u2020", "-0.200", "0.610", "0.800\u2020"]
    assert "-0.25 to -0.10" in [t.get_text() for t in ms_pmt.texts]  # the quartiles over splits
    assert sum(t.get_text() == "within" for t in ms_pmt.texts) == 2
    image = ms_pmt.images[0]
    assert image.get_cmap().name == "RdBu" and image.norm.vmin == -1 and image.norm.vmax == 1
    baseline = [t.get_text() for t in heatmaps[1].texts if t.get_fontsize() == 9]
    assert baseline == ["0.650\u2020", "\u2014", "0.520", "0.650\u2020"]  # no pair: a dash


def test_cross_table_marks_the_diagonal_and_the_images_each_value_rests_on():
    values = {"baseline": [0.60, 0.70, 0.65, 0.62, 0.71], "ms_pmt": [0.80, 0.75, 0.85, 0.90, 0.78]}
    results = {"livec": one_dataset(values), "koniq": one_dataset(values, selection="final")}
    lines = cross_table(cross_matrix(cross_pairs(), results, ["ms_pmt", "baseline"]))
    assert lines[0] == "| variant | trained on | tested on koniq (10073 images) | tested on livec (1162 images) |"
    assert lines[2] == ("| `ms_pmt` | koniq | within (50 test images): 0.800\u2020 (0.070) / 0.750\u2020 "
                        "| -0.200 (0.150) / -0.100 |")
    assert lines[3].startswith("| `ms_pmt` | livec | 0.610 (0.100) / 0.600 | within (50 test images)")
    assert lines[4] == ("| `baseline` | koniq | within (50 test images): 0.650\u2020 (0.080) / 0.600\u2020 | - |")
    assert "| 0.520 (n/a) / 0.500 |" in lines[5]  # an older summary: no spread, no size, no flag


@pytest.mark.parametrize("pairs", [{"synthetic-to-livec": {"ms_pmt": {"srcc_median": 0.4, "plcc_median": 0.3}},
                                   "livec-to-synthetic": {"ms_pmt": {"srcc_median": 0.5, "plcc_median": 0.5}}},
                                   {}, None])
def test_the_report_draws_the_cross_matrix_exactly_when_cross_has_pairs(workdir, pairs):
    params = make_params()
    fabricate(params)
    if pairs is not None:
        paths.CROSS_DIR.mkdir(parents=True)
        (paths.CROSS_DIR / "summary.json").write_text(json.dumps({"pairs": pairs, "selection": "kept"}))
    report(params)
    written = {p.name for p in (workdir / "reports/figures").iterdir()}
    assert ("cross.png" in written) == bool(pairs)
    assert ("![cross](figures/cross.png)" in (workdir / "reports/report.md").read_text()) == bool(pairs)
    for name in written:
        assert (workdir / "reports/figures" / name).read_bytes()[:8] == PNG

