"""The matplotlib figures of `pmtiqa report`, each written as a PNG: the ablation (each variant's test
SRCC over splits on each dataset's honest selection), each dataset's training curves (SRCC, the two
loss parts, the task weights per epoch, with the spread over splits), its predictions against the
published scores, and the cross-dataset matrix where `pmtiqa cross` has run. Every legend sits
beside its axes, never on the data. pyplot is imported inside each function, after
report.write_report has chosen the file-only backend."""
from __future__ import annotations

from pathlib import Path
from textwrap import fill

import numpy as np
import pandas as pd

from pmtiqa.method.metrics import plcc, srcc
from pmtiqa.method.variants import VARIANTS
from pmtiqa.reporting.statistics import median_curve, quantile_curve, split_values
from pmtiqa.training.selections import honest_selection

# One colour per variant, the same in every figure whichever variants ran.
COLORS = {v: f"C{j}" for j, v in enumerate(VARIANTS)}
# Schedules get colours no variant has: a schedule's line stands for all the variants that share it.
SCHEDULE_COLORS = {"regression": "C7", "progressive": "C6", "fixed": "C8", "reverse": "C9"}
POINTS, OFF_SCALE = "0.25", "crimson"  # predictions, and marks standing for those beyond the plotted range
BESIDE = {"loc": "center left", "bbox_to_anchor": (1.02, 0.5), "fontsize": 7}  # a legend right of its axes


def save_png(fig, dest: Path) -> None:
    """One resolution for every figure of the report."""
    fig.savefig(dest, format="png", dpi=110, bbox_inches="tight")


# ----------------------------------------------------------------------------- ablation


def ablation_figure(results: dict, variants: list[str], dest: Path) -> None:
    """One panel per dataset, on its honest selection: each variant's median test SRCC over splits as
    a point, their interquartile range as whiskers, and every split's value as a grey dot beside it."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    panel = max(2.6, 0.85 * len(variants))  # inches: room for two lines of tick label per variant
    fig, axes = plt.subplots(1, len(results), figsize=(1.8 + panel * len(results), 4.2),
                             sharey=True, squeeze=False, layout="constrained")
    jitter = np.random.default_rng(0)  # spreads equal values apart; seeded: the same results, the same figure
    for ax, (ds, r) in zip(axes[0], results.items()):
        selection = honest_selection(r["selections"])
        for x, v in enumerate(variants):
            metrics = r["variants"][v]["metrics"]
            values = split_values(metrics, selection, "srcc")
            ax.scatter(x + 0.18 + jitter.uniform(-0.06, 0.06, values.size), values, s=10, color="0.5", alpha=0.7)
            s = metrics["summary"][selection]["srcc"]
            ax.errorbar(x - 0.08, s["median"], yerr=[[s["median"] - s["q1"]], [s["q3"] - s["median"]]], fmt="o",
                        color=COLORS[v], markersize=6, capsize=4, elinewidth=1.5)
        n = len(r["variants"][variants[0]]["metrics"]["splits"])
        ax.set_title(f"{ds}: `{selection}` selection, {n} splits", fontsize=9)
        ax.set_xticks(range(len(variants)), [f"{v}\n{fill(VARIANTS[v].paper_name, 12)}" for v in variants],
                      fontsize=7)
        ax.set_xlim(-0.6, len(variants) - 0.4)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("test SRCC")
    fig.suptitle("Ablation: median over splits (point), interquartile range (whiskers), each split (dots)",
                 fontsize=10)
    keys = [Line2D([], [], color="black", marker="o", label="median, whiskers Q1 to Q3"),
            Line2D([], [], color="0.5", marker="o", markersize=4, linestyle="", alpha=0.7, label="one split")]
    axes[0][-1].legend(handles=keys, **BESIDE)
    save_png(fig, dest)
    plt.close(fig)


# ----------------------------------------------------------------------------- training curves


def median_band(ax, histories: list[pd.DataFrame], column: str, color: str, label: str, **line) -> None:
    """The median over splits of a history column per epoch, in a band from its first to third quartile."""
    mid, q1, q3 = median_curve(histories), quantile_curve(histories, 0.25), quantile_curve(histories, 0.75)
    ax.plot(mid["epoch"], mid[column], color=color, marker="o", markersize=3, label=label, **line)
    ax.fill_between(mid["epoch"], q1[column], q3[column], color=color, alpha=0.15, linewidth=0)


def srcc_panel(ax, histories: dict[str, list[pd.DataFrame]], focus: str) -> None:
    """Each variant's validation SRCC where its splits have a validation part, else its test SRCC (the
    only per-epoch score left), and the focus variant's test SRCC beside its validation one."""
    validates = all("val_srcc" in h for h in histories[focus])
    for v, runs in histories.items():
        median_band(ax, runs, "val_srcc" if validates else "test_srcc", COLORS[v], v)
    if validates:
        median_band(ax, histories[focus], "test_srcc", "black", f"{focus}, test part", linestyle=":")
    ax.set_ylabel("SRCC, validation part" if validates else "SRCC, test part\n(no validation part)")


def weights_panel(ax, histories: dict[str, list[pd.DataFrame]]) -> None:
    """lambda1 of each schedule that ran, once: variants of one schedule share it exactly."""
    by_schedule: dict[str, list[str]] = {}
    for v in histories:
        by_schedule.setdefault(VARIANTS[v].schedule, []).append(v)
    for schedule, names in by_schedule.items():
        median_band(ax, histories[names[0]], "lambda1", SCHEDULE_COLORS[schedule], f"{schedule} ({', '.join(names)})")
    ax.set_ylabel("lambda1, regression weight\n(lambda2 = 1 - lambda1)")
    ax.set_ylim(-0.05, 1.05)


def curves_figure(ds: str, histories: dict[str, list[pd.DataFrame]], focus: str, dest: Path) -> None:
    """Per epoch, the median over splits with the band of their quartiles: each variant's SRCC, the
    focus variant's L1 and CE loss (scales far apart, so on axes of their own), each schedule's weights."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(4, 1, figsize=(8, 9.5), sharex=True, layout="constrained")
    srcc_panel(axes[0], histories, focus)
    median_band(axes[1], histories[focus], "l1", COLORS[focus], focus)
    axes[1].set_ylabel("L1 loss, regression\n(on loss.target's scale)")
    median_band(axes[2], histories[focus], "ce", COLORS[focus], focus)
    axes[2].set_ylabel("cross-entropy loss,\nquality classes")
    weights_panel(axes[3], histories)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(**BESIDE)
    last = max(int(h["epoch"].max()) for runs in histories.values() for h in runs)
    axes[-1].set_xlim(0.5, last + 0.5)  # epochs count from 1: no tick at 0
    axes[-1].set_xlabel("epoch")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers, 1..T
    fig.suptitle(f"{ds}: median over splits, band from first to third quartile", fontsize=10)
    save_png(fig, dest)
    plt.close(fig)


# ----------------------------------------------------------------------------- predictions


def agreement(predictions: list[pd.DataFrame]) -> str:
    """The median over splits of each split's SRCC and PLCC (raw) of the drawn predictions."""
    per_split = pd.DataFrame([{"srcc": srcc(p["prediction"], p["mos"]), "plcc": plcc(p["prediction"], p["mos"])}
                              for p in predictions], columns=["srcc", "plcc"])
    median = per_split.median()  # skips a split whose correlation is undefined, as metrics.aggregate does
    return f"median over {len(predictions)} splits: SRCC {median['srcc']:.3f}, PLCC {median['plcc']:.3f}"


def off_scale_marks(ax, mos: pd.Series, prediction: pd.Series, lo: float, hi: float) -> None:
    """Predictions beyond the plotted range as triangles on the edge they lie beyond, at their score,
    in a colour of their own, counted in the legend."""
    for beyond, edge, marker, where in ((prediction > hi, hi, "^", "above"), (prediction < lo, lo, "v", "below")):
        n = int(beyond.sum())
        if n:
            ax.scatter(mos[beyond], np.full(n, edge), marker=marker, s=22, color=OFF_SCALE, clip_on=False, zorder=3,
                       label=f"{n} prediction{'s' if n > 1 else ''} {where} the range")


def scatter_figure(ds: str, predictions: list[pd.DataFrame], variant: str, selection: str, dest: Path) -> None:
    """Predictions (of the ``selection`` epoch, which predictions.csv holds) against the published
    scores, pooled over the test parts of every split, on one scale for both axes."""
    import matplotlib.pyplot as plt

    pooled = pd.concat(predictions, ignore_index=True)
    lo, hi = float(pooled["mos"].min()), float(pooled["mos"].max())
    # An epoch that gave the regression loss no weight (lambda1 = 0: statistics.untrained_selected)
    # can predict far off the scale; a range a quarter wider than the scores' keeps the rest readable.
    margin = 0.25 * (hi - lo) or 1.0
    lo, hi = lo - margin, hi + margin
    inside = pooled["prediction"].between(lo, hi)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    ax.scatter(pooled.loc[inside, "mos"], pooled.loc[inside, "prediction"], s=7, alpha=0.4, color=POINTS,
               linewidth=0, label=f"{int(inside.sum())} predictions in the range")
    off_scale_marks(ax, pooled["mos"], pooled["prediction"], lo, hi)
    ax.plot([lo, hi], [lo, hi], color="gray", linewidth=0.8, linestyle="--", label="prediction = score")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("MOS / DMOS as published")
    ax.set_ylabel("prediction (same scale)")
    ax.set_title(f"{ds}, {variant}: test images of every split at the `{selection}` epoch\n"
                 f"{agreement(predictions)}", fontsize=9)
    ax.legend(markerscale=1.5, **BESIDE)
    save_png(fig, dest)
    plt.close(fig)


# ----------------------------------------------------------------------------- cross-dataset


def cross_grid(pairs: dict, variant: str, trained: list[str], tested: list[str]) -> np.ndarray:
    """A variant's median SRCC, trained dataset by row and tested one by column; NaN where no pair."""
    grid = np.full((len(trained), len(tested)), np.nan)
    for i, a in enumerate(trained):
        for j, b in enumerate(tested):
            value = pairs.get(f"{a}-to-{b}", {}).get(variant, {}).get("srcc_median")
            grid[i, j] = np.nan if value is None else value
    return grid


def cross_panel(ax, grid: np.ndarray, trained: list[str], tested: list[str], lowest: float):
    """One variant's heatmap, its value written in each cell (a dash where no pair was evaluated)."""
    image = ax.imshow(grid, cmap="viridis", vmin=lowest, vmax=1.0)
    for (i, j), value in np.ndenumerate(grid):
        light = np.isnan(value) or image.norm(value) > 0.6  # dark text on white and on viridis' yellow end
        ax.text(j, i, "\u2014" if np.isnan(value) else f"{value:.3f}", ha="center", va="center", fontsize=8,
                color="black" if light else "white")
    ax.set_xticks(range(len(tested)), tested, fontsize=8)
    ax.set_yticks(range(len(trained)), trained, fontsize=8)
    ax.set_xlabel("tested on")
    return image


def cross_figure(pairs: dict, variants: list[str], dest: Path) -> None:
    """One heatmap per variant of ``variants`` that `pmtiqa cross` evaluated (where none was, the
    variants the pairs hold): the dataset trained on in rows, the dataset tested on in columns, the
    median SRCC over the train dataset's splits in each cell, on one colour scale for every panel."""
    import matplotlib.pyplot as plt

    held = {v for medians in pairs.values() for v in medians}
    shown = [v for v in variants if v in held] or [v for v in VARIANTS if v in held]
    trained = sorted({pair.split("-to-")[0] for pair in pairs})
    tested = sorted({pair.split("-to-")[1] for pair in pairs})
    grids = {v: cross_grid(pairs, v, trained, tested) for v in shown}
    lowest = min([0.0, *(float(np.nanmin(g)) for g in grids.values() if np.isfinite(g).any())])
    fig, axes = plt.subplots(1, len(shown), squeeze=False, layout="constrained",
                             figsize=(1.4 + (1.0 + 0.75 * len(tested)) * len(shown), 1.6 + 0.75 * len(trained)))
    for ax, (v, grid) in zip(axes[0], grids.items()):
        image = cross_panel(ax, grid, trained, tested, lowest)
        ax.set_title(f"{v} ({VARIANTS[v].paper_name})", fontsize=9)
    axes[0][0].set_ylabel("trained on")
    fig.colorbar(image, ax=axes[0].tolist(), label="median SRCC", shrink=0.9)
    fig.suptitle("Cross-dataset: median SRCC over the train dataset's splits", fontsize=10)
    save_png(fig, dest)
    plt.close(fig)
