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
from pmtiqa.reporting.names import shown_name
from pmtiqa.reporting.sample_size import DAGGER, mark, sizes_range, split_test_sizes
from pmtiqa.reporting.statistics import median_curve, quantile_curve, split_values
from pmtiqa.training.selections import honest_selection

# One colour per variant, the same in every figure whichever variants ran.
COLORS = {v: f"C{j}" for j, v in enumerate(VARIANTS)}
# Schedules get colours no variant has: a schedule's line stands for all the variants that share it.
SCHEDULE_COLORS = {"regression": "C7", "progressive": "C6", "fixed": "C8", "reverse": "C9"}
POINTS, OFF_SCALE = "0.25", "crimson"  # predictions, and marks standing for those beyond the plotted range
CROSS_MAP = "RdBu"  # diverging, blue for agreement, red for a reversed ranking, white at 0
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
        sizes, backbone = split_test_sizes(r), r["settings"]["model.backbone"]
        ax.set_title(f"{ds}: `{selection}` selection\n{len(sizes)} splits, {sizes_range(sizes)} test images each",
                     fontsize=9)
        ax.set_xticks(range(len(variants)), [f"{v}\n{fill(shown_name(v, backbone), 12)}" for v in variants],
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


def cross_text(cell: dict | None) -> tuple[str, str]:
    """A cell's median SRCC (a dagger where its test images are too few) and, smaller below it, the
    first to third quartile over splits; a dash where no pair was evaluated."""
    if cell is None or not np.isfinite(cell["srcc"]["median"]):
        return "\u2014", ""
    s = cell["srcc"]
    median = f"{s['median']:.3f}{mark(s['median'], cell['n'])}"
    quartiles = f"{s['q1']:.2f} to {s['q3']:.2f}" if np.isfinite(s["q1"]) else ""
    return median, quartiles


def cross_panel(ax, matrix: dict, variant: str):
    """One variant's heatmap on a diverging scale centred on 0 over -1..1 (SRCC can be negative: a
    model ranking the images backwards is shown as such), each cell's median and quartiles written in
    it, the within-dataset diagonal framed."""
    from matplotlib.patches import Rectangle

    datasets, cells = matrix["datasets"], matrix["cells"][variant]
    grid = np.array([[np.nan if cells[(a, b)] is None else cells[(a, b)]["srcc"]["median"] for b in datasets]
                     for a in datasets], dtype=float)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=CROSS_MAP, vmin=-1.0, vmax=1.0)
    ax.set_facecolor("0.93")  # no pair: light grey, apart from any value's colour
    for (i, j), value in np.ndenumerate(grid):
        median, quartiles = cross_text(cells[(datasets[i], datasets[j])])
        dark = np.isfinite(value) and abs(value) > 0.55  # white text on the map's deep ends
        color = "white" if dark else "black"
        ax.text(j, i - 0.12, median, ha="center", va="center", fontsize=9, color=color, weight="bold")
        ax.text(j, i + 0.2, quartiles, ha="center", va="center", fontsize=6.5, color=color)
        if i == j:
            ax.text(j, i - 0.38, "within", ha="center", va="center", fontsize=6.5, color=color, style="italic")
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.2,
                                   linestyle="--"))
    ax.set_xticks(range(len(datasets)), datasets, fontsize=8)
    ax.set_yticks(range(len(datasets)), datasets, fontsize=8)
    ax.set_xlabel("tested on")
    return image


def cross_figure(matrix: dict, titles: dict[str, str], within: str, dest: Path) -> None:
    """One heatmap per variant of cross_matrix's ``matrix`` (``titles``: each one's name): the dataset
    trained on in rows, the dataset tested on in columns, the median SRCC over the train dataset's
    splits with their quartiles in each cell, on one colour scale for every panel; on the framed
    diagonal, each dataset's own test SRCC on ``within`` (the selection, in words)."""
    import matplotlib.pyplot as plt

    shown, n = matrix["variants"], len(matrix["datasets"])
    fig, axes = plt.subplots(1, len(shown), squeeze=False, layout="constrained",
                             figsize=(2.0 + (0.6 + 1.0 * n) * len(shown), 2.2 + 0.8 * n))
    for ax, v in zip(axes[0], shown):
        image = cross_panel(ax, matrix, v)
        ax.set_title(f"{v} ({titles[v]})", fontsize=9)
    axes[0][0].set_ylabel("trained on")
    fig.colorbar(image, ax=axes[0].tolist(), label="median SRCC (0: no agreement)", shrink=0.9,
                 ticks=[-1, -0.5, 0, 0.5, 1])
    flagged = any(DAGGER in cross_text(c)[0] for cells in matrix["cells"].values() for c in cells.values())
    fig.suptitle("Cross-dataset: median SRCC over the train dataset's splits, first to third quartile below it\n"
                 f"framed diagonal: within the dataset, its own test parts ({within})"
                 + (f"; {DAGGER} too few test images (report.md)" if flagged else ""), fontsize=9)
    save_png(fig, dest)
    plt.close(fig)
