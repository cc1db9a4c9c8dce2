"""`pmtiqa report`: the results of the datasets and variants params.yaml selects, in one place. It
loads what pmtiqa.reporting.results reads (each pair's evaluate summary, the splits' histories, predictions
and run settings, the tuned values the runs used) and writes, replacing the whole reports/ folder in
one step so that it always describes the last run only:
- reports/report.md: median SRCC/PLCC with IQR per selection, the paper's table beside ours, the
  Wilcoxon tests of pmtiqa.reporting.statistics on each dataset's honest selection, the cross-dataset matrix,
  the figures, the tuned hyperparameters and the provenance of the numbers (pmtiqa.reporting.provenance);
- reports/report.html: report.md rendered, its figures inlined (pmtiqa.reporting.html_page), the first
  page of `snakemake --report`;
- reports/results.csv (and .html): the results tables as one table; reports/figures/*.png (pmtiqa.reporting.figures);
- reports/curves/<quantity>.csv: the training curves' per-epoch medians as numbers (pmtiqa.reporting.curves);
- metrics.json: the small summary `dvc exp show` and `dvc metrics diff` compare.
A dataset whose splits have no validation part (split.val_fraction 0) has no `val` selection: its
tables, figures and summary leave `val` out, and its honest selection is `final`.
"""
from __future__ import annotations

from pathlib import Path

from pmtiqa.config.params import Params
from pmtiqa.core.atomic import atomic_dir, write_json
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.reporting.cross_matrix import cross_matrix
from pmtiqa.reporting.curves import write_curves
from pmtiqa.reporting.figures import ablation_figure, cross_figure, curves_figure, scatter_figure
from pmtiqa.reporting.html_page import report_html
from pmtiqa.reporting.names import PAPER_BACKBONE, backbones, shown_names
from pmtiqa.reporting.provenance import provenance_section
from pmtiqa.reporting.results import focus_variant, load_cross, load_results, shown_selections
from pmtiqa.reporting.sample_size import sizes_phrase, split_test_sizes, with_footnote
from pmtiqa.reporting.statistics import (cross_metrics, smallest_exact_p, summary_metrics, untrained_selected,
                                         wilcoxon_per_dataset)
from pmtiqa.reporting.tables import (PAPER_ROW, PAPER_TABLE, cross_table, paper_table, results_csv, results_table,
                                     tuned_table, wilcoxon_table)
from pmtiqa.training.selections import SELECTION_NOTES, honest_selection

# ----------------------------------------------------------------------------- the report


def describe_dataset(dataset: str, result: dict) -> str:
    settings = result["settings"]
    return (f"{dataset} ({sizes_phrase(split_test_sizes(result))}, {settings['model.backbone']}, "
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
    out = ["Datasets: " + ", ".join(describe_dataset(ds, r) for ds, r in results.items()), "",
           "Variants: " + ", ".join(f"`{v}` ({shown_names(v, backbones(results))})" for v in params.variants), ""]
    if any(b != PAPER_BACKBONE for b in backbones(results)):
        out += [f"The paper's names (ResNet50, PMT-IQA, ...) describe networks on its backbone, {PAPER_BACKBONE}; "
                "a variant run on another backbone is named after it.", ""]
    if "synthetic" in results:
        out += ["**synthetic is a stand-in** generated from bundled photos: its numbers show that the "
                "pipeline works, not how PMT-IQA performs.", ""]
    out += ["Selections (the epoch whose test metrics are reported; one training run gives all of them):", ""]
    out += [f"- `{s}`: {SELECTION_NOTES[s]}" for s in shown] + [""]
    return out + no_val_reason(results)


def results_section(params: Params, results: dict, shown: list[str]) -> list[str]:
    out = ["## Results", "", "Median over splits, interquartile range in brackets; test part of each split.", ""]
    for ds, r in results.items():
        sizes = split_test_sizes(r)
        table = results_table(r["variants"], shown_selections(params, r), r["settings"]["model.backbone"], sizes)
        out += [f"### {ds}", "", f"Each split's numbers rest on its test part: {sizes_phrase(sizes)}.", ""]
        out += with_footnote(table, min(sizes)) + [""]
    return out


def paper_section(results: dict) -> list[str]:
    others = "; ".join(f"{m}: " + ", ".join(f"{ds} {v[0]:.3f}/{v[1]:.3f}" for ds, v in row.items() if v)
                       for m, row in PAPER_TABLE.items() if m not in PAPER_ROW.values())
    return ["## Against the paper", "",
            "The paper reports the median over 10 splits of the epoch chosen ON THE TEST SET, which our "
            f"`best_test` selection reproduces; {honest_phrase(results)} gives the honest number. "
            f"{training_part(results)} Other methods of the paper's table, for context: " + others + ".", ""] \
        + with_footnote(paper_table(results)) + [""]


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


def figures_section(results: dict, focus: str, matrix: dict | None = None) -> list[str]:
    out = ["## Figures", "", "Ablation: test SRCC per variant, one panel per dataset on "
           f"{honest_phrase(results)}: the median over splits as a point, the interquartile range as whiskers, "
           "and every split's value as a grey dot beside them.", "", "![ablation](figures/ablation.png)", ""]
    if matrix:
        out += ["Cross-dataset: the matrix of the table above as a heatmap, one panel per variant, the dataset "
                "trained on in rows and the one tested on in columns: the median SRCC over the train dataset's "
                "splits, their first to third quartile below it, on a scale from -1 (a reversed ranking, red) "
                "through 0 (white) to 1 (blue). The framed diagonal is each dataset's own test SRCC on "
                f"{honest_phrase(results)}.", "", "![cross](figures/cross.png)", ""]
    for ds, r in results.items():
        honest = honest_selection(r["selections"])
        srcc_part = (f"on its validation part (and the test SRCC of `{focus}`, dotted)" if "val" in r["selections"]
                     else "on its test part (the splits have no validation part; for reading only, no epoch is "
                     "chosen by it)")
        out += [f"### {ds}", "", "Training curves, the median over splits per epoch in a band from the first to "
                f"the third quartile: the SRCC of each variant {srcc_part}; the L1 and the cross-entropy loss of "
                f"`{focus}`, each on its own axis; the regression weight lambda1 of each schedule.", "",
                f"![curves {ds}](figures/curves_{ds}.png)", "",
                f"Predictions of `{focus}` at the epoch of the `{honest}` selection against the published scores, "
                "pooled over the test parts of every split, with the median over splits of their SRCC and PLCC. "
                "Predictions beyond the plotted range (the scores' range, a quarter wider on each side) are not drawn "
                "as points: red triangles on the edge they lie beyond mark them, counted in the legend."
                + scatter_note(r["variants"][focus], honest),
                "", f"![scatter {ds}](figures/scatter_{ds}.png)", ""]
    return out


def tuned_section(results: dict) -> list[str]:
    return ["## Tuned hyperparameters", "",
            "`pmtiqa tune` searched on the train and validation parts of one split (never its test part); "
            "every variant then trains with these values. Note: that split's train part holds test "
            "images of other splits, as in the usual practice of tuning once per dataset.", ""] \
        + tuned_table(results) + [""]


def cross_section(results: dict, matrix: dict | None) -> list[str]:
    if not matrix:
        return []
    return ["## Cross-dataset", "",
            "Each dataset's models (every split's kept model) score every image of the others, as those "
            "datasets' own protocol prepares them (metrics/cross/): median SRCC (interquartile range) / median "
            "PLCC over the train dataset's splits; the column says how many images each split's value rests on. "
            "On the diagonal (\"within\"), for reading the others against: the dataset's own test parts, on "
            f"{honest_phrase(results)}, the epoch of the model each split kept.", ""] \
        + with_footnote(cross_table(matrix)) + [""]


NOTES = ["## Notes", "",
         "- `ms_reverse` (type2) is our reading of the paper: the same two tasks in the reverse order "
         "(regression first, classification last); the paper does not define it further.",
         "- PLCC is computed on the raw predictions, as the authors do; `plcc_logistic` (after a "
         "4-parameter logistic fit) is in metrics/<dataset>/<variant>.json.",
         "- Per-split numbers: metrics/<dataset>/<variant>.json; per-epoch curves: reports/curves/.", ""]


def render(params: Params, results: dict, tests: dict, matrix: dict | None, files: dict[str, DatasetFiles]) -> str:
    """report.md: ``tests`` are statistics.wilcoxon_per_dataset's rows, ``matrix`` the cross-dataset
    one (cross_matrix.py) where pmtiqa cross has run, ``files`` the datasets' (where their data came from)."""
    # a selection is shown where any dataset holds it; each dataset's own table keeps to its own
    shown = [sel for sel in params.report.selections if any(sel in r["selections"] for r in results.values())]
    out = ["# pmtiqa report", ""] + introduction(params, results, shown) + results_section(params, results, shown)
    out += paper_section(results) + wilcoxon_section(results, tests, params.report.reference_variant)
    out += cross_section(results, matrix)
    out += figures_section(results, focus_variant(params), matrix) + tuned_section(results) + NOTES
    runs = {ds: [run for d in r["variants"].values() for run in d["runs"]] for ds, r in results.items()}
    return "\n".join(out + provenance_section(files, runs))


def write_report(params: Params, files: dict[str, DatasetFiles], cross: Path, reports: Path, summary: Path) -> None:
    """The folder ``reports`` (report.md and report.html, results.csv and results.html, figures/,
    curves/) and the ``summary`` (metrics.json) of the
    selected datasets (their ``files``) and variants, and of pmtiqa cross's ``cross`` summary where
    there is one."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    results = load_results(params, files)
    crossed = load_cross(cross)
    focus = focus_variant(params)
    tests = wilcoxon_per_dataset(results, params.report.reference_variant)
    matrix = cross_matrix(crossed["pairs"], results, params.cross.variants) if crossed and crossed["pairs"] else None
    with atomic_dir(reports) as tmp:
        (tmp / "figures").mkdir()
        ablation_figure(results, params.variants, tmp / "figures" / "ablation.png")
        if matrix:
            titles = {v: shown_names(v, backbones(results, matrix["datasets"])) for v in matrix["variants"]}
            cross_figure(matrix, titles, honest_phrase(results), tmp / "figures" / "cross.png")
        for ds, r in results.items():
            curves_figure(ds, {v: d["histories"] for v, d in r["variants"].items()}, focus,
                          tmp / "figures" / f"curves_{ds}.png")
            scatter_figure(ds, r["variants"][focus]["predictions"], focus, honest_selection(r["selections"]),
                           tmp / "figures" / f"scatter_{ds}.png")
        write_curves(results, tmp / "curves")
        table = results_csv(results, params.report.selections)
        table.to_csv(tmp / "results.csv", index=False)
        table.to_html(tmp / "results.html", index=False)  # shown as a table by `snakemake --report`
        markdown = render(params, results, tests, matrix, files)
        (tmp / "report.md").write_text(markdown, encoding="utf-8")  # its daggers and ± whatever the locale
        (tmp / "report.html").write_text(report_html(markdown, tmp), encoding="utf-8")  # the engine's first page
    cross_medians = {"cross": cross_metrics(crossed["pairs"])} if matrix else {}
    write_json(summary, {**summary_metrics(results, params.report.selections), **cross_medians})
