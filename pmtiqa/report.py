"""`pmtiqa report`: the results of the datasets and variants params.yaml selects, in one place.

Reads metrics/<ds>/<variant>.json (evaluate), every split's history.csv and predictions.csv, and
runs/tune/<ds>/best.json when present. Writes, atomically:

- reports/report.md: median SRCC/PLCC with IQR per selection, the paper's table beside ours, a
  Wilcoxon signed-rank test (Holm-corrected) of the reference variant against every other one on
  each dataset's honest selection (evaluate.honest_selection), the tuned hyperparameters, and the
  figures below;
- reports/figures/*.png: the ablation, training curves, predictions against MOS;
- reports/curves/<group>/<ds>-<variant>.csv: the median over splits of each epoch's history
  row (what `dvc plots` draws);
- metrics.json: the small summary `dvc metrics diff` and `dvc exp diff` compare.

A dataset whose splits have no validation part (split.val_fraction 0) has no `val` selection: its
tables, figures and summary leave `val` out, and its honest selection is `final`.

The whole reports/ folder is replaced in one step, so it always describes the last run only.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pmtiqa import paths
from pmtiqa.atomic import atomic_dir, write_json
from pmtiqa.config import REPORT_SETTINGS, Params
from pmtiqa.errors import UserError
from pmtiqa.evaluate import REQUIRED_SELECTIONS, SELECTION_NOTES, held_selections, honest_selection, same_selections
from pmtiqa.metrics import STATISTICS
from pmtiqa.readers import read_csv, read_json
from pmtiqa.variants import VARIANTS

# The paper's results table: median over 10 splits, (SRCC, PLCC); None where the paper has none.
PAPER_TABLE = {
    "ResNet50": {"bid": (0.583, 0.599), "livec": (0.824, 0.868), "koniq": None, "live": (0.947, 0.913),
                 "csiq": (0.823, 0.876)},
    "DB-CNN": {"bid": (0.845, 0.859), "livec": (0.851, 0.869), "koniq": (0.875, 0.884), "live": (0.968, 0.971),
               "csiq": (0.946, 0.959)},
    "HyperIQA": {"bid": (0.869, 0.878), "livec": (0.859, 0.882), "koniq": (0.906, 0.917), "live": (0.962, 0.966),
                 "csiq": (0.923, 0.942)},
    "PMT-IQA": {"bid": (0.874, 0.894), "livec": (0.866, 0.893), "koniq": (0.902, 0.916), "live": (0.969, 0.971),
                "csiq": (0.949, 0.951)},
}
# Our variants that have a row in that table.
PAPER_ROW = {"baseline": "ResNet50", "ms_pmt": "PMT-IQA"}
# The history.csv columns the curves show, where every split has them (val_* only where the splits
# have a validation part).
CURVE_COLUMNS = ("loss", "l1", "ce", "lambda1", "lambda2", "lr", "val_srcc", "val_plcc", "test_srcc", "test_plcc")


def focus_variant(params: Params) -> str:
    """The variant the scatter and loss curves show: the reference one when it ran."""
    ref = params.report.reference_variant
    return ref if ref in params.variants else params.variants[0]


# ----------------------------------------------------------------------------- inputs


RUN_STAGES = "run the stages before the report (`dvc repro` or `snakemake`)"


def _read_json(path: Path) -> dict:
    return read_json(path, RUN_STAGES)


def _read_csv(path: Path) -> pd.DataFrame:
    return read_csv(path, RUN_STAGES)


def load_results(params: Params) -> dict:
    """{ds: {"settings" (REPORT_SETTINGS), "selections" (those its metrics hold), "tuned",
    "variants": {v: {"metrics", "histories"[, "predictions" of the focus variant]}}}}."""
    results, focus = {}, focus_variant(params)
    for ds in params.datasets:
        seen = params.for_dataset(ds)
        n = seen.split.n_splits
        tuned_path = paths.tune_dir(ds) / "best.json"
        variants = {}
        for v in params.variants:
            metrics = _read_json(paths.metrics_json(ds, v))
            check_metrics(metrics, paths.metrics_json(ds, v), n,
                          f"run `pmtiqa evaluate --dataset {ds} --variant {v}` again")
            runs = [paths.train_dir(ds, v, k) for k in range(n)]
            variants[v] = {"metrics": metrics, "histories": [_read_csv(r / "history.csv") for r in runs]}
            if v == focus:  # only the scatter reads predictions, and only the focus variant's
                variants[v]["predictions"] = [_read_csv(r / "predictions.csv") for r in runs]
        results[ds] = {
            "settings": {key: seen.setting(key) for key in REPORT_SETTINGS},
            "selections": common_selections(ds, variants),
            "tuned": _read_json(tuned_path) if tuned_path.is_file() and seen.train.use_tuned else None,
            "variants": variants,
        }
    return results


def check_metrics(metrics: dict, path: Path, n: int, fix: str) -> None:
    """Paired tests need every variant over the same splits, in order; the figures need every statistic
    of each selection it holds (a file that an older pmtiqa wrote may lack some)."""
    summary = metrics.get("summary", {})
    held = held_selections(summary)
    if not set(REQUIRED_SELECTIONS) <= set(held) or len(metrics.get("splits", [])) != n \
            or any(not set(STATISTICS) <= set(summary[sel].get("srcc", {})) for sel in held):
        raise UserError(f"{path}: not the summary of {n} splits that params ask for; {fix}")


def common_selections(ds: str, variants: dict) -> tuple[str, ...]:
    """The selections every variant of a dataset holds (comparing variants of different data budgets
    would be unfair)."""
    return same_selections([v["metrics"]["summary"] for v in variants.values()],
                           [paths.metrics_json(ds, v) for v in variants], "the variants", RUN_STAGES)


def shown_selections(params: Params, result: dict) -> list[str]:
    """The selections params ask the report for that a dataset's metrics hold."""
    return [sel for sel in params.report.selections if sel in result["selections"]]


# ----------------------------------------------------------------------------- statistics


def holm(pvalues) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (NaN stays NaN and is not counted)."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m, running = len(valid), 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))  # monotone: never below an earlier step
        adjusted[i] = running
    return adjusted.tolist()


def split_values(metrics: dict, selection: str, name: str) -> np.ndarray:
    return np.array([s[selection][name] for s in metrics["splits"]], dtype=float)


def wilcoxon_vs_reference(variants: dict, reference: str, selection: str) -> list[dict]:
    """The reference variant against every other one on per-split SRCC, paired by split, Holm-adjusted."""
    ref = split_values(variants[reference]["metrics"], selection, "srcc")
    rows = []
    for v, data in variants.items():
        if v == reference:
            continue
        other = split_values(data["metrics"], selection, "srcc")
        keep = np.isfinite(ref) & np.isfinite(other)
        diff = ref[keep] - other[keep]
        if diff.size == 0:
            p = math.nan
        elif not np.any(diff):
            p = 1.0  # identical on every split: no evidence of a difference
        else:
            p = float(stats.wilcoxon(ref[keep], other[keep], alternative="two-sided").pvalue)
        rows.append({"variant": v, "n": int(diff.size), "median_diff": float(np.median(diff)) if diff.size else math.nan,
                     "wins": int((diff > 0).sum()), "p": p})
    for row, adjusted in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = adjusted
    return rows


def smallest_exact_p(n: int) -> float:
    """The smallest two-sided p an exact Wilcoxon signed-rank test can give with n pairs: 2 / 2^n."""
    return 2.0 / 2**n if n > 0 else math.nan


# ----------------------------------------------------------------------------- tables


def _f(x, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _med_iqr(summary: dict, sel: str, name: str) -> str:
    s = summary[sel][name]
    return f"{_f(s['median'])} ({_f(s['iqr'])})"


def results_table(variants: dict, selections: list[str]) -> list[str]:
    head = "| variant | paper name | " + " | ".join(f"SRCC {s} | PLCC {s}" for s in selections) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(selections))]
    for v, data in variants.items():
        summary = data["metrics"]["summary"]
        cells = " | ".join(f"{_med_iqr(summary, s, 'srcc')} | {_med_iqr(summary, s, 'plcc')}" for s in selections)
        lines.append(f"| `{v}` | {VARIANTS[v].paper_name} | {cells} |")
    return lines


def paper_table(results: dict) -> list[str]:
    lines = ["| dataset | method | paper SRCC / PLCC | ours, honest selection | ours, best_test (authors' protocol) "
             "| best_test - paper |", "|---|---|---|---|---|---|"]
    for ds, r in results.items():
        honest = honest_selection(r["selections"])
        for v, method in PAPER_ROW.items():
            if v not in r["variants"]:
                continue
            summary = r["variants"][v]["metrics"]["summary"]
            ours = {sel: (summary[sel]["srcc"]["median"], summary[sel]["plcc"]["median"])
                    for sel in (honest, "best_test")}
            paper = PAPER_TABLE[method].get(ds)
            if ds == "synthetic":
                ref, delta = "none: synthetic is a stand-in", "-"
            elif paper is None:
                ref, delta = "not reported", "-"
            else:
                ref = f"{paper[0]:.3f} / {paper[1]:.3f}"
                delta = f"{ours['best_test'][0] - paper[0]:+.3f} / {ours['best_test'][1] - paper[1]:+.3f}"
            pair = {sel: f"{_f(s)} / {_f(p)}" for sel, (s, p) in ours.items()}
            lines.append(f"| {ds} | {method} (`{v}`) | {ref} | {pair[honest]} (`{honest}`) | {pair['best_test']} "
                         f"| {delta} |")
    return lines


def wilcoxon_table(rows: list[dict], reference: str) -> list[str]:
    lines = [f"| `{reference}` vs | splits | {reference} better on | median SRCC difference | p | p (Holm) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['variant']}` | {r['n']} | {r['wins']} of {r['n']} | {_f(r['median_diff'], 4)} "
                     f"| {_f(r['p'], 4)} | {_f(r['p_holm'], 4)} |")
    return lines


def tuned_table(results: dict) -> list[str]:
    lines = ["| dataset | lr | batch size | weight decay | gamma | best val SRCC | trials (complete/pruned/failed) |",
             "|---|---|---|---|---|---|---|"]
    for ds, r in results.items():
        t = r["tuned"]
        if t is None:
            lines.append(f"| {ds} | not tuned, or train.use_tuned false: the train section's values apply | | | | | |")
            continue
        p, states = t.get("params", {}), t.get("states", {})
        counts = "/".join(str(states.get(s, 0)) for s in ("complete", "pruned", "fail"))
        shown = [f"{p[k]:.3g}" if k in p else "not searched" for k in ("lr", "batch_size", "weight_decay", "gamma")]
        lines.append(f"| {ds} | {' | '.join(shown)} | {_f(t.get('value'))} | {counts} |")
    return lines


# ----------------------------------------------------------------------------- curves and figures


def median_curve(histories: list[pd.DataFrame]) -> pd.DataFrame:
    """Per epoch, the median over splits of each history column."""
    columns = [c for c in CURVE_COLUMNS if all(c in h for h in histories)]
    stacked = pd.concat([h[["epoch", *columns]] for h in histories], ignore_index=True)
    return stacked.groupby("epoch", as_index=False)[columns].median()


# reports/curves/<group>/<ds>-<variant>.csv: one folder per `dvc plots` plot (dvc.yaml), whose
# lines are the files in it and the columns named here.
CURVE_GROUPS = {"srcc": ("val_srcc", "test_srcc"), "loss": ("loss", "l1", "ce"), "weights": ("lambda1", "lambda2")}


def write_curves(curve: pd.DataFrame, folder: Path, name: str) -> None:
    """Every column dvc.yaml's plots name, empty where the runs have none (no validation part):
    `dvc plots` refuses a file that lacks a column its plot names, and draws nothing for empty cells."""
    for group, columns in CURVE_GROUPS.items():
        (folder / group).mkdir(parents=True, exist_ok=True)
        curve.reindex(columns=["epoch", *columns]).to_csv(folder / group / name, index=False)


def _save(fig, dest: Path) -> None:
    fig.savefig(dest, format="png", dpi=110, bbox_inches="tight")


def ablation_figure(results: dict, variants: list[str], dest: Path) -> None:
    """Each dataset's bars show its honest selection, named under the dataset."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(results) * max(1, len(variants)) / 4, 3.6))
    width = 0.8 / len(variants)
    for j, v in enumerate(variants):
        med, lo, hi = [], [], []
        for r in results.values():
            summary = r["variants"][v]["metrics"]["summary"]
            s = summary[honest_selection(r["selections"])]["srcc"]  # evaluate's quartiles
            med.append(s["median"]), lo.append(s["median"] - s["q1"]), hi.append(s["q3"] - s["median"])
        x = np.arange(len(results)) + (j - (len(variants) - 1) / 2) * width
        ax.bar(x, med, width, yerr=[lo, hi], capsize=2, label=f"{v} ({VARIANTS[v].paper_name})")
    ax.set_xticks(np.arange(len(results)),
                  [f"{ds}\n({honest_selection(r['selections'])})" for ds, r in results.items()])
    ax.set_ylabel("median test SRCC (honest selection)")
    ax.set_title("Ablation: median over splits, bars = interquartile range")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    _save(fig, dest)
    plt.close(fig)


def curves_figure(ds: str, curves: dict[str, pd.DataFrame], focus: str, dest: Path) -> None:
    """Loss parts of the focus variant, task weights, and SRCC per epoch: each variant's validation
    SRCC where its splits have a validation part, else its test SRCC (the only per-epoch score left)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    ref = curves[focus]
    for col in ("l1", "ce"):
        if col in ref:
            axes[0].plot(ref["epoch"], ref[col], marker="o", label=col)
    axes[0].set_title(f"{focus}: loss parts", fontsize=9)
    for j, (v, c) in enumerate(curves.items()):
        if VARIANTS[v].multitask:
            color = f"C{j}"
            axes[1].plot(c["epoch"], c["lambda1"], color=color, marker="o", label=f"lambda1 {v}")
            axes[1].plot(c["epoch"], c["lambda2"], color=color, marker="x", linestyle="--", label=f"lambda2 {v}")
    axes[1].set_title("task weights: lambda1 regression, lambda2 classes", fontsize=9)
    for j, (v, c) in enumerate(curves.items()):
        part = "val" if "val_srcc" in c else "test"
        axes[2].plot(c["epoch"], c[f"{part}_srcc"], color=f"C{j}", marker="o", label=f"{v} {part}")
    if "val_srcc" in ref:  # else its test curve is drawn already
        axes[2].plot(ref["epoch"], ref["test_srcc"], color="black", linestyle=":", label=f"{focus} test")
    axes[2].set_title("SRCC per epoch", fontsize=9)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers, 1..T
        ax.legend(fontsize=7)
    fig.suptitle(f"{ds}: median over splits", y=1.02)
    _save(fig, dest)
    plt.close(fig)


def scatter_figure(ds: str, predictions: list[pd.DataFrame], variant: str, selection: str, dest: Path) -> None:
    """Predictions (of the ``selection`` epoch, which predictions.csv holds) against the published scores."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    # An epoch that gave the regression loss no weight (lambda1 = 0: untrained_selected) can predict
    # far off the scale: such points are drawn at the edge of the plot, and counted, so that the
    # others stay readable.
    mos = pd.concat([p["mos"] for p in predictions])
    margin = 0.25 * float(mos.max() - mos.min())
    y_lo, y_hi = float(mos.min()) - margin, float(mos.max()) + margin
    off = 0
    for k, p in enumerate(predictions):
        off += int(((p["prediction"] < y_lo) | (p["prediction"] > y_hi)).sum())
        ax.scatter(p["mos"], p["prediction"].clip(y_lo, y_hi), s=6, alpha=0.5, label=f"split {k}")
    ax.set_ylim(y_lo - 0.02 * margin, y_hi + 0.02 * margin)
    if off:
        ax.text(0.02, 0.98, f"{off} of {len(mos)} predictions off the scale, drawn at the edge",
                transform=ax.transAxes, fontsize=6, va="top")
    lo, hi = ax.get_xlim()
    ax.plot([lo, hi], [lo, hi], color="gray", linewidth=0.8, linestyle="--", label="prediction = score")
    ax.set_xlabel("MOS / DMOS as published")
    ax.set_ylabel("prediction (same scale)")
    ax.set_title(f"{ds}, {variant}: test images of every split\n(epoch of the {selection} selection)", fontsize=9)
    ax.legend(fontsize=6, markerscale=2, loc="lower right")  # the top left holds the off-scale count
    _save(fig, dest)
    plt.close(fig)


def untrained_selected(data: dict, selection: str) -> list[tuple[int, int]]:
    """(split, epoch) of each split whose ``selection`` epoch gave the regression loss no weight
    (lambda1 = 0 in history.csv: the last epoch of a reverse schedule, or a progressive run's first
    where training kept it): its predictions need not lie on the published scale at all."""
    found = []
    for k, (split, history) in enumerate(zip(data["metrics"]["splits"], data["histories"])):
        epoch = split[selection]["epoch"]  # 1-based, as history.csv's epoch column
        row = history[history["epoch"] == epoch]
        if "lambda1" in row and len(row) and row["lambda1"].iloc[0] == 0:
            found.append((k, int(epoch)))
    return found


# ----------------------------------------------------------------------------- the report


def summary_metrics(results: dict, selections: list[str]) -> dict:
    """metrics.json: {ds: {variant: {selection: {srcc_median, plcc_median}}}} for those of
    ``selections`` each dataset holds; NaN becomes null."""
    def clean(x):
        return float(x) if x is not None and np.isfinite(x) else None

    return {ds: {v: {sel: {"srcc_median": clean(d["metrics"]["summary"][sel]["srcc"]["median"]),
                           "plcc_median": clean(d["metrics"]["summary"][sel]["plcc"]["median"])}
                     for sel in selections if sel in r["selections"]}
                 for v, d in r["variants"].items()}
            for ds, r in results.items()}


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


def render(params: Params, results: dict, tests: dict) -> str:
    ref, focus = params.report.reference_variant, focus_variant(params)
    shown = [sel for sel in params.report.selections if any(sel in r["selections"] for r in results.values())]
    out = ["# pmtiqa report", ""]
    out += ["Datasets: " + ", ".join(describe_dataset(ds, r["settings"]) for ds, r in results.items()),
            "", "Variants: " + ", ".join(f"`{v}` ({VARIANTS[v].paper_name})" for v in params.variants), ""]
    if "synthetic" in results:
        out += ["**synthetic is a stand-in** generated from bundled photos: its numbers show that the "
                "pipeline works, not how PMT-IQA performs.", ""]
    out += ["Selections (the epoch whose test metrics are reported; one training run gives all of them):", ""]
    out += [f"- `{s}`: {SELECTION_NOTES[s]}" for s in shown] + [""]
    out += no_val_reason(results)
    out += ["## Results", "", "Median over splits, interquartile range in brackets; test part of each split.", ""]
    for ds, r in results.items():
        out += [f"### {ds}", ""] + results_table(r["variants"], shown_selections(params, r)) + [""]
    out += ["## Against the paper", "",
            "The paper reports the median over 10 splits of the epoch chosen ON THE TEST SET, which our "
            f"`best_test` selection reproduces; {honest_phrase(results)} gives the honest number. "
            f"{training_part(results)} Other methods of the paper's table, for context: " + "; ".join(
                f"{m}: " + ", ".join(f"{ds} {v[0]:.3f}/{v[1]:.3f}" for ds, v in row.items() if v)
                for m, row in PAPER_TABLE.items() if m not in PAPER_ROW.values()) + ".", ""]
    out += paper_table(results) + [""]
    out += ["## Does each module help? (Wilcoxon signed-rank test over splits)", "",
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
    out += ["## Figures", "", "Ablation: median test SRCC per variant and dataset, interquartile range as bars; each "
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
    out += ["## Tuned hyperparameters", "",
            "`pmtiqa tune` searched on the train and validation parts of one split (never its test part); "
            "every variant then trains with these values. Note: that split's train part holds test "
            "images of other splits, as in the usual practice of tuning once per dataset.", ""]
    out += tuned_table(results) + [""]
    out += ["## Notes", "",
            "- `ms_reverse` (type2) is our reading of the paper: the same two tasks in the reverse order "
            "(regression first, classification last); the paper does not define it further.",
            "- PLCC is computed on the raw predictions, as the authors do; `plcc_logistic` (after a "
            "4-parameter logistic fit) is in metrics/<dataset>/<variant>.json.",
            "- Per-split numbers: metrics/<dataset>/<variant>.json; per-epoch curves: reports/curves/.", ""]
    return "\n".join(out)


def write_report(params: Params) -> None:
    """reports/ (report.md, figures/, curves/) and metrics.json for the selected datasets and variants."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    results = load_results(params)
    ref, focus = params.report.reference_variant, focus_variant(params)
    tests = {ds: wilcoxon_vs_reference(r["variants"], ref, honest_selection(r["selections"]))
             if ref in r["variants"] else None for ds, r in results.items()}
    with atomic_dir(paths.REPORTS_DIR) as tmp:
        (tmp / "figures").mkdir()
        ablation_figure(results, params.variants, tmp / "figures" / "ablation.png")
        for ds, r in results.items():
            curves = {v: median_curve(d["histories"]) for v, d in r["variants"].items()}
            for v, c in curves.items():
                write_curves(c, tmp / "curves", f"{ds}-{v}.csv")
            curves_figure(ds, curves, focus, tmp / "figures" / f"curves_{ds}.png")
            scatter_figure(ds, r["variants"][focus]["predictions"], focus, honest_selection(r["selections"]),
                           tmp / "figures" / f"scatter_{ds}.png")
        (tmp / "report.md").write_text(render(params, results, tests))
    write_json(paths.SUMMARY_JSON, summary_metrics(results, params.report.selections))
