"""The report's tables, as Markdown lines: results per selection, the paper's table beside ours, the
paired tests, the tuned hyperparameters, and the cross-dataset matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pmtiqa.method.variants import VARIANTS
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


def results_csv(results: dict, selections: list[str]) -> pd.DataFrame:
    """The results tables as one CSV (reports/results.csv, which Snakemake's report shows as a table):
    a row per dataset, variant and selection it holds, the median and quartiles over splits."""
    rows = [{"dataset": ds, "variant": v, "paper_name": VARIANTS[v].paper_name, "selection": sel,
             "n_splits": data["metrics"]["n_splits"],
             **{f"{m}_{stat}": round(float(data["metrics"]["summary"][sel][m][stat]), 4)
                for m in ("srcc", "plcc") for stat in ("median", "q1", "q3")}}
            for ds, r in results.items() for v, data in r["variants"].items()
            for sel in selections if sel in r["selections"]]
    return pd.DataFrame(rows)


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
            lines.append(f"| {ds} | not tuned, or not trained with the tuned values (train.use_tuned false) | | | | | |")
            continue
        p, states = t.get("params", {}), t.get("states", {})
        counts = "/".join(str(states.get(s, 0)) for s in ("complete", "pruned", "fail"))
        shown = [f"{p[k]:.3g}" if k in p else "not searched" for k in ("lr", "batch_size", "weight_decay", "gamma")]
        lines.append(f"| {ds} | {' | '.join(shown)} | {_f(t.get('value'))} | {counts} |")
    return lines


def cross_table(pairs: dict, variants: list[str]) -> list[str]:
    """Rows: the dataset trained on; columns: the dataset tested on; cells: median SRCC / PLCC of the
    kept models over the train dataset's splits, per variant."""
    trained = sorted({pair.split("-to-")[0] for pair in pairs})
    tested = sorted({pair.split("-to-")[1] for pair in pairs})
    lines = ["| variant | trained on | " + " | ".join(f"tested on {b}" for b in tested) + " |",
             "|" + "---|" * (2 + len(tested))]
    for v in [v for v in variants if any(v in medians for medians in pairs.values())]:
        for a in trained:
            cells = []
            for b in tested:
                m = pairs.get(f"{a}-to-{b}", {}).get(v)
                cells.append("" if m is None else f"{_f(m['srcc_median'])} / {_f(m['plcc_median'])}")
            lines.append(f"| `{v}` | {a} | " + " | ".join(cells) + " |")
    return lines
