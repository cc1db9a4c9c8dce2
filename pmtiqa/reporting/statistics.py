"""The numbers `pmtiqa report` shows, computed from the results it has loaded (results.load_results):
the Wilcoxon signed-rank test of the reference variant against every other one, Holm-corrected, and
the smallest p such a test can give; each split's value of a metric; the median and quartiles over
splits of the training curves; the splits whose selected epoch left regression untrained; and the
small summary that metrics.json holds. Nothing here reads or writes files or draws."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from pmtiqa.training.selections import honest_selection

# The history.csv columns the curves show, where every split has them (val_* only where the splits
# have a validation part).
CURVE_COLUMNS = ("loss", "l1", "ce", "lambda1", "lambda2", "lr", "val_srcc", "val_plcc", "test_srcc", "test_plcc")


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
    """Each split's ``name`` (srcc, plcc, ...) at the epoch of ``selection``, in split order."""
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


def wilcoxon_per_dataset(results: dict, reference: str) -> dict:
    """{ds: wilcoxon_vs_reference rows on the dataset's honest selection, or None where the reference
    variant did not run there (nothing to compare against)}."""
    return {ds: wilcoxon_vs_reference(r["variants"], reference, honest_selection(r["selections"]))
            if reference in r["variants"] else None for ds, r in results.items()}


def smallest_exact_p(n: int) -> float:
    """The smallest two-sided p an exact Wilcoxon signed-rank test can give with n pairs: 2 / 2^n."""
    return 2.0 / 2**n if n > 0 else math.nan


def median_curve(histories: list[pd.DataFrame]) -> pd.DataFrame:
    """Per epoch, the median over splits of each history column."""
    columns = [c for c in CURVE_COLUMNS if all(c in h for h in histories)]
    stacked = pd.concat([h[["epoch", *columns]] for h in histories], ignore_index=True)
    return stacked.groupby("epoch", as_index=False)[columns].median()


def quantile_curve(histories: list[pd.DataFrame], q: float) -> pd.DataFrame:
    """Per epoch, the ``q`` quantile over splits of each history column (0.25 and 0.75: the quartiles
    the figures draw around median_curve), interpolated as metrics.aggregate's quartiles are."""
    columns = [c for c in CURVE_COLUMNS if all(c in h for h in histories)]
    stacked = pd.concat([h[["epoch", *columns]] for h in histories], ignore_index=True)
    return stacked.groupby("epoch", as_index=False)[columns].quantile(q)


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


def rounded(x) -> float | None:
    """Four decimals, as a comparison reads them (SRCC over a few hundred images moves in the third);
    NaN becomes null."""
    return round(float(x), 4) if x is not None and np.isfinite(x) else None


def summary_metrics(results: dict, selections: list[str]) -> dict:
    """metrics.json, what `dvc exp show` and `dvc metrics diff` compare: {ds: {variant: {srcc, plcc,
    srcc_val, plcc_val, ...}}}, the medians over splits of those of ``selections`` each dataset holds.
    The number to quote (`final`) has the plain names, so that its columns are the shortest."""
    return {ds: {v: {metric_name(m, sel): rounded(d["metrics"]["summary"][sel][m]["median"])
                     for sel in selections if sel in r["selections"] for m in ("srcc", "plcc")}
                 for v, d in r["variants"].items()}
            for ds, r in results.items()}


def metric_name(metric: str, selection: str) -> str:
    return metric if selection == "final" else f"{metric}_{selection}"


def cross_metrics(pairs: dict) -> dict:
    """metrics.json's cross part: {"A-to-B": {variant: {srcc, plcc}}}, medians over A's splits."""
    return {pair: {v: {m: rounded(medians[f"{m}_median"]) for m in ("srcc", "plcc")} for v, medians in by_variant.items()}
            for pair, by_variant in pairs.items()}
