"""The GPU measurement as one table, from what bench_train.py and bench_concurrent.py wrote (--json):
b/a and b/d at each batch, eager and graphed; a paper split's minutes and its scoring share; the paper
grid's hours with 1..8 runs sharing the device. A measurement cut short shows as a dash.

    python bench/gpu_table.py TRAIN_JSON CONCURRENT_JSON
"""
from __future__ import annotations

import json
import sys
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


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: python bench/gpu_table.py TRAIN_JSON CONCURRENT_JSON")
    device, train = read_rows(sys.argv[1], {"backbone", "batch", "step", "b", "b/a", "b/d"})
    _, concurrent = read_rows(sys.argv[2], {"at_once", "run_min", "scoring_share", "grid_h"})
    lines = [("quantity", "eager", "graph")]
    backbone = train[0]["backbone"] if train else ""
    for batch in sorted({r["batch"] for r in train}):
        by_mode = {r["step"]: r for r in train if r["batch"] == batch and r["backbone"] == backbone}
        for ratio in ("b/a", "b/d"):
            lines.append((f"{ratio} at batch {batch}", *(f"{by_mode[m][ratio]:.2f}" if m in by_mode else "-"
                                                         for m in ("eager", "graph"))))
        lines.append((f"b images/s at batch {batch}", *(f"{by_mode[m]['b']:.0f}" if m in by_mode else "-"
                                                        for m in ("eager", "graph"))))
    lines.append(("quantity", "runs at once", "value"))
    for row in concurrent:
        k = str(row["at_once"])
        if row["at_once"] == 1:
            lines.append(("paper split, 30 epochs, minutes", k, f"{row['run_min']:.2f}"))
            lines.append(("scoring share of an epoch", k, f"{row['scoring_share']:.1%}"))
        lines.append(("paper grid, hours", k, f"{row['grid_h']:.2f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    print(f"GPU measurement: {device or 'device unknown'}; {backbone or 'no training-step rows'}")
    for line in lines:
        print(" | ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))


if __name__ == "__main__":
    main()
