"""The matplotlib figures of `pmtiqa report`, each written as a PNG: the ablation (median test SRCC
per variant and dataset on its honest selection), each dataset's training curves (loss parts, task
weights, SRCC per epoch) and its predictions against the published scores. pyplot is imported inside
each function, after report.write_report has chosen the file-only backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pmtiqa.evaluate import honest_selection
from pmtiqa.variants import VARIANTS


def save_png(fig, dest: Path) -> None:
    """One size and resolution for every figure of the report."""
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
    save_png(fig, dest)
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
    save_png(fig, dest)
    plt.close(fig)


def scatter_figure(ds: str, predictions: list[pd.DataFrame], variant: str, selection: str, dest: Path) -> None:
    """Predictions (of the ``selection`` epoch, which predictions.csv holds) against the published scores."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    # An epoch that gave the regression loss no weight (lambda1 = 0: statistics.untrained_selected)
    # can predict far off the scale: such points are drawn at the edge of the plot, and counted, so
    # that the others stay readable.
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
    save_png(fig, dest)
    plt.close(fig)
