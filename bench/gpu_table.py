"""The GPU measurement as one table, from what bench_train.py and bench_concurrent.py wrote (--json):
b/a, b/d and b's images per second at each precision and batch, eager and graphed; a paper split's
minutes and its scoring share; the paper grid's hours with 1..8 runs sharing the device. A measurement
cut short shows as a dash.

    python bench/gpu_table.py --train TRAIN_JSON [TRAIN_JSON ...] --concurrent CONCURRENT_JSON
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_rows(path: str, needs: set[str]) -> tuple[str, list[dict]]:
    """(device, rows) of a file a benchmark wrote; none where it did not write one (a step cut
    short), said on a line; SystemExit naming the file where it holds something else."""
    file = Path(path)
    if not file.is_file():
        print(f"({path}: not written; its rows show as dashes)")
        return "", []
    try:
        content = json.loads(file.read_text())
        rows = content["rows"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) and needs <= r.keys() for r in rows):
            raise ValueError(f"rows without {', '.join(sorted(needs))}")
    except (ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"gpu_table.py: {path}: not what the benchmark writes ({err})") from None
    return content.get("device", ""), rows


def training_lines(train: list[dict]) -> list[tuple[str, str, str]]:
    """b/a, b/d and b's images per second at each precision and batch, eager and graph, for the
    first backbone measured."""
    backbone = train[0]["backbone"]
    rows = [r for r in train if r["backbone"] == backbone]
    lines = []
    for precision in dict.fromkeys(r.get("precision", "") for r in rows):
        label = f"{precision}: " if precision else ""
        for batch in sorted({r["batch"] for r in rows if r.get("precision", "") == precision}):
            by_mode = {r["step"]: r for r in rows if r["batch"] == batch and r.get("precision", "") == precision}
            for key, what, form in (("b/a", "b/a", ".2f"), ("b/d", "b/d", ".2f"), ("b", "b images/s", ".0f")):
                lines.append((f"{label}{what} at batch {batch}",
                              *(format(by_mode[m][key], form) if m in by_mode else "-" for m in ("eager", "graph"))))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", default=[], help="what bench_train.py wrote (--json), one file or more")
    parser.add_argument("--concurrent", help="what bench_concurrent.py wrote (--json)")
    args = parser.parse_args()
    device, train = "", []
    for path in args.train:
        named, rows = read_rows(path, {"backbone", "batch", "step", "b", "b/a", "b/d"})
        device, train = device or named, train + rows
    _, concurrent = read_rows(args.concurrent, {"at_once", "run_min", "scoring_share", "grid_h"}) \
        if args.concurrent else ("", [])
    lines = [("quantity", "eager", "graph"), *(training_lines(train) if train else [])]
    lines.append(("quantity", "runs at once", "value"))
    for row in concurrent:
        k = str(row["at_once"])
        if row["at_once"] == 1:
            lines.append(("paper split, 30 epochs, minutes", k, f"{row['run_min']:.2f}"))
            lines.append(("scoring share of an epoch", k, f"{row['scoring_share']:.1%}"))
        lines.append(("paper grid, hours", k, f"{row['grid_h']:.2f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    print(f"GPU measurement: {device or 'device unknown'}; {train[0]['backbone'] if train else 'no training-step rows'}")
    for line in lines:
        print(" | ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))


if __name__ == "__main__":
    main()
