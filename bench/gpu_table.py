"""The GPU measurement as one table, from what bench_train.py and bench_concurrent.py wrote (--json):
b/a, b/d and b's images per second at each precision and batch, eager and graphed; a paper split's
minutes and its scoring share; the paper grid's hours with 1..8 runs sharing the device. A mode or batch
a file lacks shows as a dash; a file not written (its step skipped or cut short before its first row)
is named and left out. Several training files are one device's (`on_gpu.sh`'s bf16 and tf32 runs):
files of different devices, or two rows of the same measurement, are refused.

    python bench/gpu_table.py --train TRAIN_JSON [TRAIN_JSON ...] --concurrent CONCURRENT_JSON
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

NUMBER, WHOLE, TEXT, STEP = "a number", "a whole number", "a string", "eager or graph"
TRAIN = {"backbone": TEXT, "batch": WHOLE, "step": STEP, "precision": TEXT, "b": NUMBER, "b/a": NUMBER, "b/d": NUMBER}
CONCURRENT = {"at_once": WHOLE, "run_min": NUMBER, "scoring_share": NUMBER, "grid_h": NUMBER}


def refuse(message: str) -> NoReturn:
    """One line on stderr and status 2, as for any bad input."""
    print(f"gpu_table.py: {message}", file=sys.stderr)
    raise SystemExit(2)


def is_a(value, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    return {NUMBER: isinstance(value, (int, float)), WHOLE: isinstance(value, int), TEXT: isinstance(value, str),
            STEP: value in ("eager", "graph")}[kind]


def read_rows(path: str, needs: dict[str, str]) -> tuple[str, list[dict]]:
    """(device, rows) of a file a benchmark wrote; none where it did not write one (a step cut
    short), said on a line; refused, naming the file, where it holds something else."""
    file = Path(path)
    if not file.is_file():
        print(f"({path}: not written; what it would have measured is left out)")
        return "", []
    try:
        content = json.loads(file.read_text())
        rows, device = content["rows"], content.get("device", "")
        if not isinstance(rows, list) or not isinstance(device, str):
            raise ValueError("no list of rows")
        for i, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise ValueError(f"row {i}: not a mapping")
            if "precision" in needs:
                row.setdefault("precision", "")  # older files have none
            wrong = [f"{key} not {kind}" for key, kind in needs.items() if not is_a(row.get(key), kind)]
            if wrong:
                raise ValueError(f"row {i}: {', '.join(wrong)}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        refuse(f"{path}: not what the benchmark writes ({err})")
    return device, rows


def one_device(files: list[tuple[str, str, list[dict]]]) -> tuple[str, list[dict]]:
    """(device, rows) of the training files, which must be one device's measurements, each once."""
    devices = {device for _, device, _ in files if device}
    if len(devices) > 1:
        refuse(f"--train: files of different devices ({', '.join(sorted(devices))}); one table is one device's")
    rows, seen = [], set()
    for path, _, file_rows in files:
        for row in file_rows:
            key = (row["backbone"], row["precision"], row["batch"], row["step"])
            if key in seen:
                refuse(f"{path}: measures {', '.join(map(str, key))} again")
            seen.add(key)
            rows.append(row)
    return next(iter(devices), ""), rows


def training_lines(train: list[dict]) -> list[tuple[str, str, str]]:
    """b/a, b/d and b's images per second at each precision and batch, eager and graph, for the
    first backbone measured."""
    backbone = train[0]["backbone"]
    rows = [r for r in train if r["backbone"] == backbone]
    lines = []
    for precision in dict.fromkeys(r["precision"] for r in rows):
        label = f"{precision}: " if precision else ""
        for batch in sorted({r["batch"] for r in rows if r["precision"] == precision}):
            by_mode = {r["step"]: r for r in rows if r["batch"] == batch and r["precision"] == precision}
            for key, what, form in (("b/a", "b/a", ".2f"), ("b/d", "b/d", ".2f"), ("b", "b images/s", ".0f")):
                lines.append((f"{label}{what} at batch {batch}",
                              *(format(by_mode[m][key], form) if m in by_mode else "-" for m in ("eager", "graph"))))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", default=[], help="what bench_train.py wrote (--json), one file or more")
    parser.add_argument("--concurrent", help="what bench_concurrent.py wrote (--json)")
    args = parser.parse_args()
    device, train = one_device([(path, *read_rows(path, TRAIN)) for path in args.train])
    _, concurrent = read_rows(args.concurrent, CONCURRENT) if args.concurrent else ("", [])
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
