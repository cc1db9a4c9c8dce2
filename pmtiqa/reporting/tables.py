"""The report's tables, as Markdown lines: results per selection, the paper's table beside ours, the
paired tests, the tuned hyperparameters, and the cross-dataset matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pmtiqa.reporting.names import PAPER_BACKBONE, shown_name
from pmtiqa.reporting.sample_size import mark, sizes_range, split_test_sizes
from pmtiqa.training.selections import honest_selection

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


def _f(x, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _marked(value: float, n: int, metric: str) -> str:
    """A correlation with its dagger where ``n`` test images are too few for it."""
    return f"{_f(value)}{mark(value, n, metric)}"


def _med_iqr(stats: dict, n: int, metric: str) -> str:
    """Median (IQR) of ``metric``'s statistics over splits."""
    return f"{_marked(stats['median'], n, metric)} ({_f(stats['iqr'])})"


def results_table(variants: dict, selections: list[str], backbone: str, sizes: list[int]) -> list[str]:
    """A dataset's table: a row per variant (named for ``backbone``: names.py), median (IQR) per
    selection, a dagger where the smallest of the splits' test parts (``sizes``) is too small."""
    n = min(sizes)
    head = "| variant | name | " + " | ".join(f"SRCC {s} | PLCC {s}" for s in selections) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(selections))]
    for v, data in variants.items():
        summary = data["metrics"]["summary"]
        cells = " | ".join(f"{_med_iqr(summary[s]['srcc'], n, 'srcc')} | {_med_iqr(summary[s]['plcc'], n, 'plcc')}"
                           for s in selections)
        lines.append(f"| `{v}` | {shown_name(v, backbone)} | {cells} |")
    return lines


def results_csv(results: dict, selections: list[str]) -> pd.DataFrame:
    """The results tables as one CSV (reports/results.csv, which Snakemake's report shows as a table):
    a row per dataset, variant and selection it holds, the median and quartiles over splits, the
    smallest and largest test part of the splits."""
    sizes = {ds: split_test_sizes(r) for ds, r in results.items()}
    rows = [{"dataset": ds, "variant": v, "name": shown_name(v, r["settings"]["model.backbone"]),
             "selection": sel, "n_splits": data["metrics"]["n_splits"],
             "test_images_min": min(sizes[ds]), "test_images_max": max(sizes[ds]),
             **{f"{m}_{stat}": round(float(data["metrics"]["summary"][sel][m][stat]), 4)
                for m in ("srcc", "plcc") for stat in ("median", "q1", "q3")}}
            for ds, r in results.items() for v, data in r["variants"].items()
            for sel in selections if sel in r["selections"]]
    return pd.DataFrame(rows)


def paper_pair(summary: dict, selection: str, n: int) -> str:
    """Our SRCC / PLCC of a selection, each with its dagger where ``n`` test images are too few."""
    s, p = summary[selection]["srcc"]["median"], summary[selection]["plcc"]["median"]
    return f"{_marked(s, n, 'srcc')} / {_marked(p, n, 'plcc')}"


def paper_table(results: dict) -> list[str]:
    """Our rows beside the paper's, where our runs are the paper's (its backbone); a run on another
    backbone has no row of the paper to stand beside."""
    lines = ["| dataset | test images per split | method | paper SRCC / PLCC | ours, honest selection "
             "| ours, best_test (authors' protocol) | best_test - paper |", "|---|---|---|---|---|---|---|"]
    for ds, r in results.items():
        honest, backbone, sizes = honest_selection(r["selections"]), r["settings"]["model.backbone"], \
            split_test_sizes(r)
        for v, method in PAPER_ROW.items():
            if v not in r["variants"]:
                continue
            summary = r["variants"][v]["metrics"]["summary"]
            paper = PAPER_TABLE[method].get(ds)
            if ds == "synthetic":
                ref, delta = "none: synthetic is a stand-in", "-"
            elif backbone != PAPER_BACKBONE:
                ref, delta = f"not comparable: {backbone}, not the paper's ResNet-50", "-"
            elif paper is None:
                ref, delta = "not reported", "-"
            else:
                best = summary["best_test"]
                ref = f"{paper[0]:.3f} / {paper[1]:.3f}"
                delta = f"{best['srcc']['median'] - paper[0]:+.3f} / {best['plcc']['median'] - paper[1]:+.3f}"
            lines.append(f"| {ds} | {sizes_range(sizes)} | {shown_name(v, backbone)} (`{v}`) | {ref} "
                         f"| {paper_pair(summary, honest, min(sizes))} (`{honest}`) "
                         f"| {paper_pair(summary, 'best_test', min(sizes))} | {delta} |")
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
            lines.append(f"| {ds} | not tuned, or not trained with the tuned values (train.use_tuned false) | | | | | |")
            continue
        p, states = t.get("params", {}), t.get("states", {})
        counts = "/".join(str(states.get(s, 0)) for s in ("complete", "pruned", "fail"))
        shown = [f"{p[k]:.3g}" if k in p else "not searched" for k in ("lr", "batch_size", "weight_decay", "gamma")]
        lines.append(f"| {ds} | {' | '.join(shown)} | {_f(t.get('value'))} | {counts} |")
    return lines


def cross_cell(cell: dict | None) -> str:
    """Median SRCC (IQR) / median PLCC of a cell, each with its dagger where its images are too few."""
    if cell is None or not np.isfinite(cell["srcc"]["median"]):
        return "-"
    s, p, n = cell["srcc"], cell["plcc"], cell["n"]
    text = f"{_med_iqr(s, n, 'srcc')} / {_marked(p['median'], n, 'plcc')}"
    return f"within ({sizes_range(cell['sizes'])} test images): {text}" if cell["within"] else text


def cross_table(matrix: dict) -> list[str]:
    """cross_matrix's ``matrix`` as a table: a row per variant and dataset trained on, a column per
    dataset tested on (with the images each split's value rests on), the diagonal marked within."""
    datasets = matrix["datasets"]
    sizes = {b: next((c["n"] for cells in matrix["cells"].values() for (a, t), c in cells.items()
                      if t == b and c is not None and not c["within"] and c["n"]), None) for b in datasets}
    head = [f"tested on {b}" + (f" ({sizes[b]} images)" if sizes[b] else "") for b in datasets]
    lines = ["| variant | trained on | " + " | ".join(head) + " |", "|" + "---|" * (2 + len(datasets))]
    for v in matrix["variants"]:
        for a in datasets:
            cells = [cross_cell(matrix["cells"][v][(a, b)]) for b in datasets]
            lines.append(f"| `{v}` | {a} | " + " | ".join(cells) + " |")
    return lines
