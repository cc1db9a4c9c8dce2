"""`pmtiqa report`: the results of the datasets and variants params.yaml selects, in one place. It
loads what pmtiqa.results reads (each pair's evaluate summary, the splits' histories, predictions
and run settings, the tuned values the runs used), and writes, replacing the whole reports/ folder in one step
so that it always describes the last run only: reports/report.md (median SRCC/PLCC with IQR per
selection, the paper's table beside ours, the Wilcoxon tests of pmtiqa.statistics on each dataset's
honest selection, the tuned hyperparameters, the figures), reports/figures/*.png (pmtiqa.figures),
reports/curves/<group>/<ds>-<variant>.csv (the median over splits of each epoch's history row, what
`dvc plots` draws), and metrics.json (the small summary `dvc metrics diff` and `dvc exp diff`
compare). A dataset whose splits have no validation part (split.val_fraction 0) has no `val`
selection: its tables, figures and summary leave `val` out, and its honest selection is `final`.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pmtiqa.atomic import atomic_dir, write_json
from pmtiqa.config import Params
from pmtiqa.paths import DatasetFiles
from pmtiqa.evaluate import SELECTION_NOTES, honest_selection
from pmtiqa.figures import ablation_figure, curves_figure, scatter_figure
from pmtiqa.results import focus_variant, load_cross, load_results, shown_selections
from pmtiqa.tables import PAPER_ROW, PAPER_TABLE, cross_table, paper_table, results_table, tuned_table, wilcoxon_table
from pmtiqa.statistics import median_curve, smallest_exact_p, summary_metrics, untrained_selected, wilcoxon_per_dataset
from pmtiqa.variants import VARIANTS

# ----------------------------------------------------------------------------- curves


# reports/curves/<group>/<ds>-<variant>.csv: one folder per `dvc plots` plot (dvc.yaml), whose
# lines are the files in it and the columns named here.
CURVE_GROUPS = {"srcc": ("val_srcc", "test_srcc"), "loss": ("loss", "l1", "ce"), "weights": ("lambda1", "lambda2")}


def write_curves(curve: pd.DataFrame, folder: Path, name: str) -> None:
    """Every column dvc.yaml's plots name, empty where the runs have none (no validation part):
    `dvc plots` refuses a file that lacks a column its plot names, and draws nothing for empty cells."""
    for group, columns in CURVE_GROUPS.items():
        (folder / group).mkdir(parents=True, exist_ok=True)
        curve.reindex(columns=["epoch", *columns]).to_csv(folder / group / name, index=False)


# ----------------------------------------------------------------------------- the report


def describe_dataset(dataset: str, settings: dict) -> str:
    return (f"{dataset} ({settings['split.n_splits']} splits, {settings['model.backbone']}, "
            f"weights {settings['model.weights']}, {settings['train.epochs']} epochs)")


def without_val(results: dict) -> list[str]:
    """The datasets whose splits have no validation part."""
    return [ds for ds, r in results.items() if "val" not in r["selections"]]


def honest_phrase(results: dict) -> str:
    """The honest selection in words: its name, or the rule where the datasets differ."""
    honest = {honest_selection(r["selections"]) for r in results.values()}
    if len(honest) == 1:
        return f"the `{honest.pop()}` selection"
    return f"the `val` selection (`final` for {', '.join(without_val(results))}, whose splits have no validation part)"


def no_val_reason(results: dict) -> list[str]:
    """One line on why some datasets have no `val` selection."""
    missing = without_val(results)
    if not missing:
        return []
    return [f"No `val` selection for {', '.join(missing)}: the splits have no validation part "
            "(`split.val_fraction: 0`, the paper's setting), so the runs train on the whole training part (80 %) "
            "as the authors do, and `final` is the honest selection.", ""]


def training_part(results: dict) -> str:
    """What our runs train on against the authors' whole training part."""
    missing = without_val(results)
    carved = [ds for ds in results if ds not in missing]
    less = ("train on the training part less the validation part carved from it (split.val_fraction), where the "
            "authors train on all of it: expect every selection a little below theirs")
    if not missing:
        return f"Our runs {less}."
    if not carved:
        return "Our runs train on the whole training part, as the authors do."
    return f"Runs of {', '.join(carved)} {less}; runs of {', '.join(missing)} train on all of it, as the authors do."


def scatter_note(data: dict, selection: str) -> str:
    """Why predictions may lie off the scale: the splits whose selected epoch gave regression no weight."""
    untrained = untrained_selected(data, selection)
    if not untrained:
        return ""
    where = ", ".join(f"split {k} (epoch {epoch})" for k, epoch in untrained)
    return (f" The `{selection}` selection took an epoch that gave the regression loss no weight (lambda1 = 0) in "
            f"{where}: its predictions need not lie on the published scale.")


def introduction(params: Params, results: dict, shown: list[str]) -> list[str]:
    """What ran, and what each selection shown means."""
    out = ["Datasets: " + ", ".join(describe_dataset(ds, r["settings"]) for ds, r in results.items()),
           "", "Variants: " + ", ".join(f"`{v}` ({VARIANTS[v].paper_name})" for v in params.variants), ""]
    if "synthetic" in results:
        out += ["**synthetic is a stand-in** generated from bundled photos: its numbers show that the "
                "pipeline works, not how PMT-IQA performs.", ""]
    out += ["Selections (the epoch whose test metrics are reported; one training run gives all of them):", ""]
    out += [f"- `{s}`: {SELECTION_NOTES[s]}" for s in shown] + [""]
    return out + no_val_reason(results)


def results_section(params: Params, results: dict, shown: list[str]) -> list[str]:
    out = ["## Results", "", "Median over splits, interquartile range in brackets; test part of each split.", ""]
    for ds, r in results.items():
        out += [f"### {ds}", ""] + results_table(r["variants"], shown_selections(params, r)) + [""]
    return out


def paper_section(results: dict) -> list[str]:
    others = "; ".join(f"{m}: " + ", ".join(f"{ds} {v[0]:.3f}/{v[1]:.3f}" for ds, v in row.items() if v)
                       for m, row in PAPER_TABLE.items() if m not in PAPER_ROW.values())
    return ["## Against the paper", "",
            "The paper reports the median over 10 splits of the epoch chosen ON THE TEST SET, which our "
            f"`best_test` selection reproduces; {honest_phrase(results)} gives the honest number. "
            f"{training_part(results)} Other methods of the paper's table, for context: " + others + ".", ""] \
        + paper_table(results) + [""]


def wilcoxon_section(results: dict, tests: dict, ref: str) -> list[str]:
    out = ["## Does each module help? (Wilcoxon signed-rank test over splits)", "",
           f"`{ref}` against each other variant on the test SRCC of {honest_phrase(results)}, "
           "paired by split (same split, same images), two-sided, p-values adjusted for the comparisons "
           "within a dataset with Holm's method. Read a small adjusted p (below 0.05) as: the difference "
           "holds consistently across splits; a large one as: these splits cannot tell the two apart "
           "(not: they are equal). The splits share training images, so the p-values are, if anything, "
           "optimistic.", ""]
    for ds, rows in tests.items():
        out += [f"### {ds}", ""]
        if rows is None:
            out += [f"`{ref}` is not among the variants run: no test.", ""]
            continue
        out += wilcoxon_table(rows, ref) + [""]
        n = min((r["n"] for r in rows), default=0)
        if n and smallest_exact_p(n) > 0.05:
            out += [f"With {n} splits the smallest two-sided p an exact test can give is 2/2^{n} = "
                    f"{smallest_exact_p(n):.4f}, above 0.05 before any correction: no difference can be "
                    "called significant here, however large. Read the wins and the median differences; "
                    "the paper protocol's 10 splits allow p down to 0.002.", ""]
    return out


def figures_section(results: dict, focus: str) -> list[str]:
    out = ["## Figures", "", "Ablation: median test SRCC per variant and dataset, interquartile range as bars; each "
           f"dataset's bars show {honest_phrase(results)}, named under the dataset.", "",
           "![ablation](figures/ablation.png)", ""]
    for ds, r in results.items():
        honest = honest_selection(r["selections"])
        srcc_part = ("on its validation part" if "val" in r["selections"] else "on its test part (the splits "
                     "have no validation part; for reading only, no epoch is chosen by it)")
        out += [f"### {ds}", "", f"Training curves (median over splits): the loss parts of `{focus}`, the task "
                f"weights of each multi-task variant, and the SRCC per epoch of each variant {srcc_part}.", "",
                f"![curves {ds}](figures/curves_{ds}.png)", "",
                f"Predictions of `{focus}` at the epoch of the `{honest}` selection against the published scores, "
                "pooled over the test parts of every split. Predictions beyond the published scale are drawn at its "
                "edge and counted on the figure." + scatter_note(r["variants"][focus], honest),
                "", f"![scatter {ds}](figures/scatter_{ds}.png)", ""]
    return out


def tuned_section(results: dict) -> list[str]:
    return ["## Tuned hyperparameters", "",
            "`pmtiqa tune` searched on the train and validation parts of one split (never its test part); "
            "every variant then trains with these values. Note: that split's train part holds test "
            "images of other splits, as in the usual practice of tuning once per dataset.", ""] \
        + tuned_table(results) + [""]


def cross_section(cross: dict | None, variants: list[str]) -> list[str]:
    if not cross or not cross["pairs"]:
        return []
    return ["## Cross-dataset", "",
            "Each dataset's models (every split's kept model) score every image of the others, as those "
            "datasets' own protocol prepares them: median SRCC / PLCC over the train dataset's splits "
            "(metrics/cross/).", ""] + cross_table(cross["pairs"], variants) + [""]


NOTES = ["## Notes", "",
         "- `ms_reverse` (type2) is our reading of the paper: the same two tasks in the reverse order "
         "(regression first, classification last); the paper does not define it further.",
         "- PLCC is computed on the raw predictions, as the authors do; `plcc_logistic` (after a "
         "4-parameter logistic fit) is in metrics/<dataset>/<variant>.json.",
         "- Per-split numbers: metrics/<dataset>/<variant>.json; per-epoch curves: reports/curves/.", ""]


def render(params: Params, results: dict, tests: dict, cross: dict | None) -> str:
    """report.md: ``tests`` are statistics.wilcoxon_per_dataset's rows, ``cross`` pmtiqa cross's summary."""
    # a selection is shown where any dataset holds it; each dataset's own table keeps to its own
    shown = [sel for sel in params.report.selections if any(sel in r["selections"] for r in results.values())]
    out = ["# pmtiqa report", ""] + introduction(params, results, shown) + results_section(params, results, shown)
    out += paper_section(results) + wilcoxon_section(results, tests, params.report.reference_variant)
    out += cross_section(cross, params.cross.variants)
    out += figures_section(results, focus_variant(params)) + tuned_section(results) + NOTES
    return "\n".join(out)


def write_report(params: Params, files: dict[str, DatasetFiles], cross: Path, reports: Path, summary: Path) -> None:
    """The folder ``reports`` (report.md, figures/, curves/) and the ``summary`` (metrics.json) of the
    selected datasets (their ``files``) and variants, and of pmtiqa cross's ``cross`` summary where
    there is one."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    results = load_results(params, files)
    crossed = load_cross(cross)
    focus = focus_variant(params)
    tests = wilcoxon_per_dataset(results, params.report.reference_variant)
    with atomic_dir(reports) as tmp:
        (tmp / "figures").mkdir()
        ablation_figure(results, params.variants, tmp / "figures" / "ablation.png")
        for ds, r in results.items():
            curves = {v: median_curve(d["histories"]) for v, d in r["variants"].items()}
            for v, c in curves.items():
                write_curves(c, tmp / "curves", f"{ds}-{v}.csv")
            curves_figure(ds, curves, focus, tmp / "figures" / f"curves_{ds}.png")
            scatter_figure(ds, r["variants"][focus]["predictions"], focus, honest_selection(r["selections"]),
                           tmp / "figures" / f"scatter_{ds}.png")
        (tmp / "report.md").write_text(render(params, results, tests, crossed))
    cross_medians = {"cross": crossed["pairs"]} if crossed and crossed["pairs"] else {}
    write_json(summary, {**summary_metrics(results, params.report.selections), **cross_medians})
