"""pmtiqa report on fabricated evaluate/train/tune outputs in a temporary working folder."""
import json
import math
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("matplotlib")  # the report's figures (absent on the GPU machine)

from pmtiqa.core.errors import UserError  # noqa: E402
from pmtiqa.core.paths import DatasetFiles  # noqa: E402
from pmtiqa.reporting.evaluate import evaluate_variant  # noqa: E402
from pmtiqa.reporting.statistics import holm, smallest_exact_p, wilcoxon_vs_reference  # noqa: E402
from tests.builders.results import (  # noqa: E402
    NO_VAL,
    QUALITY,
    SELECTIONS,
    VARIANTS,
    fabricate,
    make_params,
    report,
    run_settings,
)


def test_report_writes_tables_figures_and_summary(workdir):
    params = make_params()
    fabricate(params)
    report(params)

    text = (workdir / "reports/report.md").read_text()
    for ds in ("synthetic", "livec"):
        assert f"### {ds}" in text
    for sel in SELECTIONS:
        assert f"SRCC {sel} | PLCC {sel}" in text
    assert "authors' optimistic protocol" in text  # best_test is labelled as such
    assert "0.866 / 0.893" in text  # the paper's LIVEC PMT-IQA numbers sit beside ours
    assert "none: synthetic is a stand-in" in text
    assert "Holm" in text and "p (Holm)" in text
    assert "2/2^5 = 0.0625" in text  # the note on what 5 splits can show
    assert "our reading" in text  # ms_reverse / type2
    assert "| synthetic | 0.0002 | 11 | 0.0001 | 0.5 | 0.800 | 3/1/0 |" in text  # tuned hyperparameters
    # ms_pmt vs baseline on the val selection: median 0.85+0.04+0.03 vs 0.70+0.04+0.01
    assert "| `baseline` | 5 | 5 of 5 | 0.1700 |" in text

    figures = {p.name for p in (workdir / "reports/figures").iterdir()}
    assert figures == {"ablation.png", "curves_synthetic.png", "curves_livec.png", "scatter_synthetic.png",
                       "scatter_livec.png"}
    for name in figures:
        assert (workdir / "reports/figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = pd.read_csv(workdir / "reports/curves/val_srcc.csv")
    assert list(curves.columns) == ["dataset", "variant", "epoch", "val_srcc"]
    livec = curves[(curves["dataset"] == "livec") & (curves["variant"] == "ms_pmt")]
    assert list(livec["epoch"]) == [1, 2, 3] and livec["val_srcc"].tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert {p.name for p in (workdir / "reports/curves").iterdir()} == {
        "val_srcc.csv", "test_srcc.csv", "l1.csv", "ce.csv", "lambda1.csv"}  # one per quantity

    table = pd.read_csv(workdir / "reports/results.csv")
    row = table[(table["dataset"] == "livec") & (table["variant"] == "ms_pmt") & (table["selection"] == "val")]
    assert len(table) == 2 * len(VARIANTS) * len(SELECTIONS) and row["srcc_median"].item() == pytest.approx(0.92)
    summary = json.loads((workdir / "metrics.json").read_text())
    assert set(summary) == {"synthetic", "livec"}
    assert set(summary["livec"]) == set(VARIANTS)
    assert set(summary["livec"]["ms_pmt"]) == {"srcc", "plcc", "srcc_val", "plcc_val", "srcc_best_test",
                                                "plcc_best_test"}  # final: the plain names
    assert summary["livec"]["ms_pmt"]["srcc_val"] == pytest.approx(0.85 + 0.04 + 0.03, abs=1e-4)
    assert summary["livec"]["ms_pmt"]["plcc_val"] == pytest.approx(0.84 + 0.04, abs=1e-4)
    assert not list(workdir.glob("reports/.*")) and not list(workdir.glob(".metrics.json*"))  # no temporaries


NO_VAL_REASON = "No `val` selection for synthetic, livec: the splits have no validation part (`split.val_fraction: 0`"


# with_val, the honest selection, ms_pmt's lead over baseline on it, metrics.json's names, what the
# scatter's caption says of split 0 (its `val` epoch 1 had lambda1 = 0; the last epoch, 3, had 1; a
# 0-based reading of the epochs would name splits 1-4 instead)
@pytest.mark.parametrize("with_val, honest, lead, names, untrained", [
    (True, "val", "0.1700", {"srcc", "plcc", "srcc_val", "plcc_val", "srcc_best_test", "plcc_best_test"},
     "in split 0 (epoch 1):"),
    (False, "final", "0.1500", {"srcc", "plcc", "srcc_best_test", "plcc_best_test"}, ""),
])
def test_the_report_follows_the_selections_the_splits_hold(workdir, with_val, honest, lead, names, untrained):
    params = make_params()
    fabricate(params, with_val=with_val)
    report(params)

    text = (workdir / "reports/report.md").read_text()
    assert ("SRCC val | PLCC val" in text) == with_val and "SRCC final | PLCC final" in text
    assert ("`val`: the epoch with the best SRCC" in text) == with_val
    assert text.count(NO_VAL_REASON) == (0 if with_val else 1)
    assert ("less the validation part" in text) == with_val
    assert ("train on the whole training part, as the authors do" in text) == (not with_val)
    assert f"test SRCC of the `{honest}` selection" in text  # the Wilcoxon test
    assert f"| `baseline` | 5 | 5 of 5 | {lead} |" in text
    assert f"(`{honest}`) | " in text  # the paper table's honest column
    assert f"at the epoch of the `{honest}` selection" in text  # the scatter's caption
    assert ("gave the regression loss no weight (lambda1 = 0)" in text) == bool(untrained) and untrained in text

    curves = pd.read_csv(workdir / "reports/curves/val_srcc.csv")  # its header even without a validation part
    assert list(curves.columns) == ["dataset", "variant", "epoch", "val_srcc"] and (len(curves) > 0) == with_val
    summary = json.loads((workdir / "metrics.json").read_text())
    assert {name for ds in summary.values() for v in ds.values() for name in v} == names


def test_a_dataset_without_validation_beside_one_with_it(workdir):
    """Each dataset reports the selections its own splits hold, and the text names the rule."""
    fabricate(make_params(datasets=("livec",)), with_val=False)
    fabricate(make_params(datasets=("synthetic",)), with_val=True)
    report(make_params())
    text = (workdir / "reports/report.md").read_text()
    reason = text.split("No `val` selection for")[1].split("\n")[0]
    assert reason.startswith(" livec:") and "synthetic" not in reason
    assert "the `val` selection (`final` for livec, whose splits have no validation part)" in text
    assert "Runs of synthetic train on the training part less the validation part" in text
    summary = json.loads((workdir / "metrics.json").read_text())
    assert "srcc_val" not in summary["livec"]["ms"] and "srcc_val" in summary["synthetic"]["ms"]


def test_variants_trained_with_and_without_validation_are_refused(workdir):
    params = make_params(datasets=("livec",))
    fabricate(params)
    for k in range(params.split.n_splits):  # ms trained again without a validation part
        edit_json(workdir / f"runs/train/livec/ms/split{k}/metrics.json", lambda m: m.pop("val"))
    evaluate_variant(params.for_dataset("livec"), DatasetFiles("livec"), "ms")
    with pytest.raises(UserError, match=re.escape("metrics/livec/ms.json") + ".*split.val_fraction"):
        report(params)


def test_report_describes_only_the_last_run(workdir):
    fabricate(make_params(datasets=("livec",)))
    report(make_params(datasets=("livec",)))
    fabricate(make_params(datasets=("synthetic",)))
    report(make_params(datasets=("synthetic",)))
    assert not (workdir / "reports/figures/curves_livec.png").exists()
    assert "### livec" not in (workdir / "reports/report.md").read_text()
    assert set(json.loads((workdir / "metrics.json").read_text())) == {"synthetic"}


def test_untuned_dataset_is_said_so(workdir):
    params = make_params(datasets=("synthetic",))
    fabricate(params, tuned=False)
    report(params)
    assert "not tuned" in (workdir / "reports/report.md").read_text()


def test_tuned_values_the_runs_did_not_use_are_not_reported_as_theirs(workdir):
    """best.json exists, but the runs trained with the train section's values (train.use_tuned false):
    the report describes the runs, from their run.json."""
    params = make_params()
    fabricate(params)
    for run in workdir.glob("runs/train/livec/*/split*/run.json"):
        recorded = json.loads(run.read_text())
        recorded["settings"] = run_settings("livec", run.parent.parent.name, int(run.parent.name[5:]), tuned=False)
        run.write_text(json.dumps(recorded))
    report(params)
    text = (workdir / "reports/report.md").read_text()
    assert "| livec | not tuned, or not trained with the tuned values" in text
    assert "| synthetic | 0.0002 | 11 |" in text


@pytest.mark.parametrize("missing", ["metrics/livec/ms.json", "runs/train/livec/ms_pmt/split2/history.csv",
                                     "runs/train/synthetic/ms_pmt/split4/predictions.csv"])  # the scatter's
def test_missing_input_is_named(workdir, missing):
    params = make_params()
    fabricate(params)
    (workdir / missing).unlink()
    with pytest.raises(UserError, match=re.escape(missing)):
        report(params)
    assert not (workdir / "reports").exists()  # nothing half-written


def edit_json(path: Path, change) -> None:
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


def every_split(workdir: Path, dataset: str, variant: str, change) -> None:
    for run in sorted(workdir.glob(f"runs/train/{dataset}/{variant}/split*/run.json")):
        edit_json(run, change)


def replace_cell(path: Path, column: str, value: str) -> None:
    table = pd.read_csv(path)
    table[column] = table[column].astype(object)
    table.loc[1, column] = value
    table.to_csv(path, index=False)


def cross_summary(workdir: Path, held=None, pair="livec-to-synthetic", variant="ms_pmt", **changed) -> None:
    """pmtiqa cross's summary of one pair of one variant (None: of none), its medians changed or
    replaced by ``held``."""
    good = {"srcc_median": 0.5, "plcc_median": 0.4, "srcc_splits": [0.5, 0.6], "plcc_splits": [0.4, 0.4],
            "n_images": 100}
    (workdir / "metrics/cross").mkdir(parents=True, exist_ok=True)
    by_variant = {} if variant is None else {variant: {**good, **changed} if held is None else held}
    (workdir / "metrics/cross/summary.json").write_text(
        json.dumps({"pairs": {pair: by_variant}, "selection": "kept"}))


# (case, the damage, what the one line says): runs that do not belong together, summaries older than
# their runs, and files whose values are of the wrong type
DAMAGED = [
    ("one variant trained for other epochs",
     lambda w: every_split(w, "livec", "ms_pmt", lambda r: r["settings"]["train"].update(epochs=5)),
     ("runs/train/livec/ms_pmt/split0/run.json: trained with train.epochs 5 where "
      "runs/train/livec/baseline/split0/run.json has 3")),
    ("a split retrained with another lr",
     lambda w: edit_json(w / "runs/train/livec/ms/split3/run.json", lambda r: r["settings"]["train"].update(lr=0.1)),
     "runs/train/livec/ms/split3/run.json: trained with train.lr 0.1 where runs/train/livec/ms/split0/run.json has"),
    ("another variant's run in a split's folder",
     lambda w: edit_json(w / "runs/train/livec/ms/split1/run.json", lambda r: r["settings"].update(variant="ms_pmt")),
     "runs/train/livec/ms/split1/run.json: a run of variant 'ms_pmt', where 'ms' is expected"),
    ("a summary older than a split's retrain",
     lambda w: edit_json(w / "runs/train/livec/ms/split2/metrics.json", lambda m: m["final"].update(srcc=0.123)),
     "metrics/livec/ms.json: its split 2 is not runs/train/livec/ms/split2/metrics.json as it is now"),
    ("a summary whose median is not its splits'",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m["summary"]["final"]["srcc"].update(median=0.99)),
     "metrics/livec/ms.json: its final srcc median is 0.99, not that of its splits ("),
    ("a summary whose SRCC lost its splits' spread",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m["summary"]["best_test"]["srcc"].update(iqr=None)),
     "metrics/livec/ms.json: its best_test srcc iqr is null, not that of its splits ("),
    ("a summary with a metric its splits do not hold",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m["summary"]["final"].update(foo={})),
     "metrics/livec/ms.json: its final summary holds srcc, plcc, plcc_logistic, krcc, rmse, foo, its splits"),
    ("a summary with a selection its splits do not hold",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m["summary"].update(val2=m["summary"]["final"])),
     "metrics/livec/ms.json: its summary holds the selections final, val, best_test, val2, its splits"),
    ("a summary whose PLCC is a list",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m["summary"]["final"].update(plcc=[0.9])),
     "metrics/livec/ms.json: its final plcc is [0.9], not statistics over its splits"),
    ("a summary whose SRCC is one number",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m["summary"]["final"].update(srcc=0.9)),
     "metrics/livec/ms.json: not a summary of the same 5 splits"),
    ("a summary whose summary is a list",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m.update(summary=["final", "best_test"])),
     "metrics/livec/ms.json: not a summary of the same 5 splits"),
    ("a summary whose n_splits is not the splits it holds",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m.update(n_splits=4)),
     "metrics/livec/ms.json: not a summary of the same 5 splits"),
    ("a summary without n_splits",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m.pop("n_splits")),
     "metrics/livec/ms.json: not a summary of the same 5 splits"),
    ("a history.csv whose epochs have 400 digits",
     lambda w: pd.read_csv(w / "runs/train/livec/ms/split1/history.csv").assign(epoch=[10**400] * 3).to_csv(
         w / "runs/train/livec/ms/split1/history.csv", index=False),
     "runs/train/livec/ms/split1/history.csv: epoch: holds integers too large for a number"),
    ("a summary whose median has 401 digits",
     lambda w: edit_json(w / "metrics/livec/ms.json", lambda m: m["summary"]["final"]["srcc"].update(median=10**400)),
     "metrics/livec/ms.json: its final srcc median is an integer of 401 digits, not that of its splits"),
    ("a split's SRCC as text, in its metrics.json and the summary alike",
     lambda w: [edit_json(f, lambda m: (m["splits"][1] if "splits" in m else m)["final"].update(srcc="abc"))
                for f in (w / "metrics/livec/ms.json", w / "runs/train/livec/ms/split1/metrics.json")],
     "runs/train/livec/ms/split1/metrics.json: its `final` selection is not the metrics of"),
    ("a history.csv with a text epoch",
     lambda w: replace_cell(w / "runs/train/livec/ms/split1/history.csv", "epoch", "two"),
     "runs/train/livec/ms/split1/history.csv: row 3: epoch 'two' is not a number"),
    ("a history.csv with a test SRCC past 1",
     lambda w: replace_cell(w / "runs/train/livec/ms/split1/history.csv", "test_srcc", "7.5"),
     "runs/train/livec/ms/split1/history.csv: row 3: test_srcc 7.5 is not a correlation (-1 to 1, or empty)"),
    ("a history.csv whose test SRCC column is True and False",
     lambda w: pd.read_csv(w / "runs/train/livec/ms/split1/history.csv").assign(test_srcc=True).to_csv(
         w / "runs/train/livec/ms/split1/history.csv", index=False),
     "runs/train/livec/ms/split1/history.csv: row 2: test_srcc True is not a number"),
    ("a history.csv whose test SRCC column is True and an empty cell",
     lambda w: pd.read_csv(w / "runs/train/livec/ms/split1/history.csv").assign(test_srcc=[True, None, None]).to_csv(
         w / "runs/train/livec/ms/split1/history.csv", index=False),
     "runs/train/livec/ms/split1/history.csv: row 2: test_srcc True is not a number"),
    ("a history.csv with a negative loss",
     lambda w: replace_cell(w / "runs/train/livec/ms/split1/history.csv", "l1", "-0.5"),
     "runs/train/livec/ms/split1/history.csv: row 3: l1 -0.5 is not a loss (0 or more)"),
    ("a history.csv with a task weight past 1",
     lambda w: replace_cell(w / "runs/train/livec/ms/split1/history.csv", "lambda1", "2"),
     "runs/train/livec/ms/split1/history.csv: row 3: lambda1 2.0 is not a task weight (0 to 1)"),
    ("a history.csv whose epochs skip one",
     lambda w: replace_cell(w / "runs/train/livec/ms/split1/history.csv", "epoch", "5"),
     "runs/train/livec/ms/split1/history.csv: row 3: epoch 5.0 where the rows count epochs 1, 2, ..."),
    ("a predictions.csv with text scores",
     lambda w: replace_cell(w / "runs/train/synthetic/ms_pmt/split0/predictions.csv", "prediction", "high"),
     "runs/train/synthetic/ms_pmt/split0/predictions.csv: row 3: prediction 'high' is not a number"),
    ("a history.csv without its test SRCC",
     lambda w: pd.read_csv(w / "runs/train/livec/ms/split1/history.csv").drop(columns="test_srcc").to_csv(
         w / "runs/train/livec/ms/split1/history.csv", index=False),
     "runs/train/livec/ms/split1/history.csv: lacks column(s) test_srcc"),
    ("a predictions.csv with no rows",
     lambda w: (w / "runs/train/synthetic/ms_pmt/split0/predictions.csv").write_text("image,mos,prediction,score\n"),
     "runs/train/synthetic/ms_pmt/split0/predictions.csv: holds no rows"),
    ("a run.json of a backbone pmtiqa does not train",
     lambda w: [every_split(w, "livec", v, lambda r: r["settings"]["model"].update(backbone="resnet999"))
                for v in VARIANTS],
     "runs/train/livec/baseline/split0/run.json: settings.model.backbone is 'resnet999', not a backbone pmtiqa trains"),
    ("a cross summary with text for a split's SRCC", lambda w: cross_summary(w, srcc_splits=["abc", 0.5]),
     "metrics/cross/summary.json: pairs.livec-to-synthetic.ms_pmt.srcc_splits: 'abc' is not a correlation"),
    ("a cross summary with one number for the splits' values", lambda w: cross_summary(w, srcc_splits=0.5),
     "metrics/cross/summary.json: pairs.livec-to-synthetic.ms_pmt.srcc_splits: 0.5 is not a list of each split's"),
    ("a cross pair of three datasets", lambda w: cross_summary(w, pair="livec-to-synthetic-to-bid"),
     "metrics/cross/summary.json: pairs.livec-to-synthetic-to-bid: not an A-to-B pair"),
    ("a cross pair of no variants", lambda w: cross_summary(w, variant=None),
     "metrics/cross/summary.json: pairs.livec-to-synthetic: not an A-to-B pair"),
    ("a cross pair of a variant pmtiqa does not train", lambda w: cross_summary(w, variant="ms_best"),
     "metrics/cross/summary.json: pairs.livec-to-synthetic.ms_best: not a variant"),
    ("a cross summary with an SRCC past 1", lambda w: cross_summary(w, srcc_median=7.5),
     "metrics/cross/summary.json: pairs.livec-to-synthetic.ms_pmt.srcc_median: 7.5 is not a correlation"),
    ("a cross summary with a boolean median", lambda w: cross_summary(w, plcc_median=True),
     "metrics/cross/summary.json: pairs.livec-to-synthetic.ms_pmt.plcc_median: True is not a correlation"),
    ("a cross summary with text for its image count", lambda w: cross_summary(w, n_images="many"),
     "metrics/cross/summary.json: pairs.livec-to-synthetic.ms_pmt.n_images: 'many' is not a number of images"),
    ("a cross pair holding a list", lambda w: cross_summary(w, held=[1, 2]),
     "metrics/cross/summary.json: pairs.livec-to-synthetic.ms_pmt: not a pair's medians"),
    ("a run.json whose epochs are text",
     lambda w: [every_split(w, "livec", v, lambda r: r["settings"]["train"].update(epochs="two")) for v in VARIANTS],
     "runs/train/livec/baseline/split0/run.json: settings.train.epochs is 'two', not a whole number of epochs"),
]


@pytest.mark.parametrize("case, damage, says", DAMAGED, ids=[case[0] for case in DAMAGED])
def test_report_inputs_that_do_not_belong_or_hold_the_wrong_type_are_named(workdir, case, damage, says):
    params = make_params()
    fabricate(params)
    damage(workdir)
    with pytest.raises(UserError) as err:
        report(params)
    assert str(err.value).startswith(says), str(err.value)
    assert not (workdir / "reports").exists()  # nothing half-written


def test_undefined_medians_are_reported_as_such(workdir):
    """An SRCC that is undefined in every split (constant predictions) is null in evaluate's and cross's
    summaries: the report shows it as n/a or a dash and draws the rest, not a traceback."""
    params = make_params()
    fabricate(params)
    for k in range(params.split.n_splits):
        edit_json(workdir / f"runs/train/livec/ms_pmt/split{k}/metrics.json",
                  lambda m: [m[selection].update(srcc=None) for selection in ("final", "val")])
    evaluate_variant(params.for_dataset("livec"), DatasetFiles("livec"), "ms_pmt")
    cross_summary(workdir, srcc_median=None, srcc_splits=[None, None], n_images=None)
    report(params)
    text = (workdir / "reports/report.md").read_text()
    assert "| `ms_pmt` | PMT-IQA | n/a (n/a) |" in text and "| `ms_pmt` | livec | - | - |" in text, text
    assert json.loads((workdir / "metrics.json").read_text())["livec"]["ms_pmt"]["srcc"] is None


def test_the_report_reads_each_run_json_once(workdir, monkeypatch):
    from pmtiqa.core import readers

    params = make_params()
    fabricate(params)
    reads, read_json = [], readers.read_json

    def counted(path, missing):
        reads.append(str(path))
        return read_json(path, missing)

    monkeypatch.setattr("pmtiqa.training.finished.read_json", counted)
    monkeypatch.setattr("pmtiqa.reporting.results.read_json", counted)
    report(params)
    runs = sorted(r for r in reads if r.endswith("run.json"))
    assert runs == sorted(str(p.relative_to(workdir)) for p in workdir.glob("runs/train/*/*/split*/run.json"))


def test_metrics_of_an_older_evaluate_are_refused_with_what_to_run(workdir):
    """A summary lacking a statistic the figures need (written by an older evaluate, before q1/q3)."""
    params = make_params()
    fabricate(params)
    path = workdir / "metrics/livec/ms.json"
    metrics = json.loads(path.read_text())
    for summary in metrics["summary"].values():
        del summary["srcc"]["q1"]
    path.write_text(json.dumps(metrics))
    with pytest.raises(UserError, match=re.escape("metrics/livec/ms.json") + ".*run `pmtiqa evaluate"):
        report(params)


def test_holm_on_a_known_example():
    # Holm (1979): sorted p 0.01, 0.02, 0.03, 0.04 with m = 4 -> 0.04, 0.06, 0.06 (monotone), 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    adjusted = holm([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)


def test_wilcoxon_pairs_by_split():
    def variant(values):
        return {"metrics": {"splits": [{"val": {"srcc": v}} for v in values]}}

    ref = [0.80, 0.82, 0.85, 0.79, 0.90, 0.88]
    other = [0.70, 0.83, 0.75, 0.78, 0.80, 0.88]  # one tie, one loss
    rows = wilcoxon_vs_reference({"ms_pmt": variant(ref), "ms": variant(other), "pmt": variant(ref)}, "ms_pmt", "val")
    by = {r["variant"]: r for r in rows}
    assert by["ms"]["p"] == pytest.approx(stats.wilcoxon(ref, other).pvalue)
    assert by["ms"]["wins"] == 4 and by["ms"]["n"] == 6
    assert by["pmt"]["p"] == 1.0  # identical on every split
    assert by["ms"]["p_holm"] == pytest.approx(min(1.0, 2 * by["ms"]["p"]))
    assert smallest_exact_p(5) == pytest.approx(0.0625)


def _evaluate_livec_ms(params):
    evaluate_variant(params.for_dataset("livec"), DatasetFiles("livec"), "ms")


@pytest.mark.parametrize("with_val, held", [(True, SELECTIONS), (False, NO_VAL)])
def test_evaluate_summarises_the_selections_the_splits_hold(workdir, with_val, held):
    params = make_params(datasets=("livec",))
    fabricate(params, with_val=with_val)
    _evaluate_livec_ms(params)
    result = json.loads((workdir / "metrics/livec/ms.json").read_text())
    assert tuple(result["summary"]) == held and tuple(result["selections"]) == held
    assert result["summary"]["final"]["srcc"]["median"] == pytest.approx(QUALITY["ms"] + 0.04)


# fabricated with or without val, the split whose metrics.json then differs, and how
@pytest.mark.parametrize("with_val, split, edit", [
    (True, 3, lambda m: m.pop("val")),  # one split retrained with split.val_fraction 0
    (False, 1, lambda m: m.update(val=m["final"])),  # one split left from a run with validation
    (False, 0, lambda m: m.update(val=m["final"])),  # the first split alone differs: split 1 is named
])
def test_evaluate_refuses_splits_that_hold_different_selections(workdir, with_val, split, edit):
    params = make_params(datasets=("livec",))
    fabricate(params, with_val=with_val)
    path = workdir / f"runs/train/livec/ms/split{split}/metrics.json"
    metrics = json.loads(path.read_text())
    edit(metrics)
    path.write_text(json.dumps(metrics))
    named = f"runs/train/livec/ms/split{max(split, 1)}/metrics.json"
    with pytest.raises(UserError, match=re.escape(named) + ": holds the selections.*rerun the training"):
        _evaluate_livec_ms(params)


@pytest.mark.parametrize("split, content, says", [
    (0, [], "holds no selections (an array where a mapping belongs)"),
    (2, [], "holds no selections (an array where a mapping belongs)"),
    (0, {}, "holds the selections none"),
    (2, {"final": {}}, "holds the selections final,"),
    (1, "7.5", "holds no selections (a string where a mapping belongs)"),
    (1, None, "holds no selections (null where a mapping belongs)"),
])
def test_evaluate_names_a_metrics_json_that_holds_no_selections_not_a_val_fraction(workdir, split, content, says):
    """A metrics.json of the wrong shape (hand-edited, another tool's) is named as such, whichever split
    it is; splits of different split.val_fraction are a different complaint."""
    params = make_params(datasets=("livec",))
    fabricate(params, with_val=False)
    path = workdir / f"runs/train/livec/ms/split{split}/metrics.json"
    path.write_text(json.dumps(content))
    with pytest.raises(UserError) as err:
        _evaluate_livec_ms(params)
    assert str(err.value).startswith(f"runs/train/livec/ms/split{split}/metrics.json: {says}")
    assert "not final and best_test" in str(err.value) and "val_fraction" not in str(err.value)


@pytest.mark.parametrize("broken, content, run, message, output", [
    ("runs/train/livec/ms/split1/history.csv", "", report, "cannot read", "reports"),
    ("runs/train/livec/ms/split0/metrics.json", '{"final": ', _evaluate_livec_ms, "not valid JSON",
     "metrics/livec/ms.json"),
])
def test_a_damaged_input_is_named_and_nothing_is_written(workdir, broken, content, run, message, output):
    params = make_params()
    fabricate(params)
    before = (workdir / output).read_bytes() if (workdir / output).is_file() else None
    (workdir / broken).write_text(content)
    with pytest.raises(UserError, match=re.escape(broken) + ": " + message):
        run(params)
    after = (workdir / output).read_bytes() if (workdir / output).is_file() else None
    assert after == before and not (workdir / "reports").exists()  # nothing half-written, nothing lost


@pytest.mark.parametrize("damage, says", [
    (lambda m: m["final"].pop("srcc"), "is not the metrics of"),
    (lambda m: m["final"].update(srcc="high"), "is not the metrics of"),
    (lambda m: m.update(final=[1, 2]), "is [1, 2], not a mapping of metrics"),
    (lambda m: m.update(final=1, best_test=2), "is 1, not a mapping of metrics"),
])
def test_evaluate_names_a_damaged_metrics_json(workdir, damage, says):
    params = make_params()
    fabricate(params)
    path = DatasetFiles("synthetic").run("ms_pmt", 1) / "metrics.json"
    metrics = json.loads(path.read_text())
    damage(metrics)
    path.write_text(json.dumps(metrics))
    with pytest.raises(UserError, match=r"split1/metrics.json: its `final` selection " + re.escape(says)):
        evaluate_variant(params.for_dataset("synthetic"), DatasetFiles("synthetic"), "ms_pmt")


def test_provenance_names_code_versions_devices_and_data(workdir):
    """What the numbers came from: the code's state, the versions, what each run computed on (as its
    run.json says), and each dataset's source and checksums (as its download recorded them)."""
    params = make_params(datasets=("livec",))
    fabricate(params)
    raw = DatasetFiles("livec").raw
    raw.mkdir(parents=True)
    (raw / ".download.json").write_text(json.dumps({"source": "https://example.org/livec.zip",
                                                    "files": [{"file": "livec.zip", "sha256": "ef" * 32}]}))
    report(params)
    section = (workdir / "reports/report.md").read_text().split("## Provenance")[1]
    assert re.search(r"from (commit [0-9a-f]{12}, |not a git checkout)", section)
    assert re.search(r"pmtiqa \S+, torch \S+, torchvision \S+, Python 3\.", section)
    assert "livec: cpu bf16; cpu fp32." in section  # ms ran in bf16, the others in fp32
    assert ("livec data: https://example.org/livec.zip; livec.zip sha256 " + "ef" * 8 + "; labels sha256 "
            + "ab" * 8 + "; pixels sha256 " + "cd" * 8) in section


def test_provenance_says_what_the_tree_holds_beside_the_commit(tmp_path):
    from pmtiqa.reporting.provenance import code_state

    assert code_state(tmp_path) == "not a git checkout"
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    run("add", "params.yaml")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    assert re.fullmatch(r"commit [0-9a-f]{12}, no tracked file changed", code_state(tmp_path))
    (tmp_path / "params.yaml").write_text("a: 2\n")
    (tmp_path / "untracked.txt").write_text("")
    assert code_state(tmp_path).endswith("with changes to tracked files: params.yaml")
    (tmp_path / "dvc.lock").write_text("")  # what an experiment records comes after what made it
    run("add", "dvc.lock")
    assert code_state(tmp_path).endswith("with changes to tracked files: params.yaml, dvc.lock")


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "3"])
def test_a_run_json_that_is_not_an_object_is_named(workdir, content):
    params = make_params(datasets=("livec",))
    fabricate(params)
    (DatasetFiles("livec").run("ms", 3) / "run.json").write_text(content)
    with pytest.raises(UserError, match=re.escape("runs/train/livec/ms/split3/run.json") + ": not a run.json"):
        report(params)


@pytest.mark.parametrize("key, value", [("srcc", 7.5), ("plcc", -1.2), ("rmse", -0.1), ("epoch", 0), ("epoch", 2.5)])
def test_evaluate_refuses_a_value_no_run_computes(workdir, key, value):
    """An SRCC of 7.5 in one split's metrics.json would become a median of 4 in the report."""
    params = make_params()
    fabricate(params)
    path = DatasetFiles("synthetic").run("ms_pmt", 1) / "metrics.json"
    edit_json(path, lambda m: m["final"].update({key: value}))
    with pytest.raises(UserError, match=rf"split1/metrics.json: final.{key} is {value!r}, which no run computes"):
        evaluate_variant(params.for_dataset("synthetic"), DatasetFiles("synthetic"), "ms_pmt")
