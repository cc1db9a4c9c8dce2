"""The training curves as numbers: one CSV per quantity, reports/curves/<quantity>.csv, with the
columns dataset, variant, epoch and the quantity, a row per (dataset, variant, epoch) holding the
median over splits of that epoch's history.csv value, as the report's curves figure draws it
(figures.py computes its medians from the same histories); these files are for other tools and for
diffing revisions' numbers.

One long file per quantity, not a file per run: a plotting tool draws a panel per dataset with a line
per variant from it directly.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pmtiqa.method.variants import VARIANTS
from pmtiqa.reporting.statistics import median_curve

# history.csv columns written; each file keeps its header even where no run has the quantity (no
# validation part), so that a reader finds the column it names
QUANTITIES = ("val_srcc", "test_srcc", "l1", "ce", "lambda1")


def curve_rows(dataset: str, variant: str, curve: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """The rows of one run's median curve, none where it lacks the quantity or (the cross-entropy of
    a regression-only variant) computes it without training on it."""
    if quantity not in curve or curve[quantity].isna().all():
        return pd.DataFrame()
    if quantity == "ce" and not VARIANTS[variant].multitask:
        return pd.DataFrame()
    return pd.DataFrame({"dataset": dataset, "variant": variant, "epoch": curve["epoch"].astype(int),
                         quantity: curve[quantity]})


def write_curves(results: dict, folder: Path) -> None:
    """``results`` as pmtiqa.reporting.results.load_results returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    curves = {(ds, v): median_curve(d["histories"]) for ds, r in results.items() for v, d in r["variants"].items()}
    for quantity in QUANTITIES:
        frames = [curve_rows(ds, v, c, quantity) for (ds, v), c in curves.items()]
        table = pd.concat([f for f in frames if len(f)] or [pd.DataFrame()], ignore_index=True)
        table.reindex(columns=["dataset", "variant", "epoch", quantity]).to_csv(folder / f"{quantity}.csv",
                                                                             index=False)
