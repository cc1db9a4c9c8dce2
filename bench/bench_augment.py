"""Throughput of the augment stage (decode + EXIF + resize into the memmap), in images per second.

Generates its own JPEGs in a temporary folder: ordinary 500x500 photos-like images and large
2000x1500 ones (where ``Image.draft`` lets the decoder scale while decoding), then times
``pmtiqa.data.augment.build_cache`` on each set with every core and with one.

    python bench/bench_augment.py [--count 200] [--size 384 384]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from pmtiqa.data.augment import build_cache

from photos import write_jpegs  # bench/photos.py, beside this script


def make_labelled_jpegs(folder: Path, count: int, size: tuple[int, int], seed: int) -> Path:
    """Photo-like JPEGs and the labels.csv that build_cache reads; returns the labels' path."""
    names = [p.name for p in write_jpegs(folder, count, size, seed)]
    labels = folder / "labels.csv"
    pd.DataFrame({"image": names, "mos": 0.0, "score": 0.0, "group": names}).to_csv(labels, index=False)
    return labels


def rate(labels: Path, raw: Path, out: Path, size: tuple[int, int], workers: int) -> float:
    count = len(pd.read_csv(labels))
    started = time.perf_counter()
    build_cache(labels, raw, out, size=size, workers=workers)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="images per set")
    parser.add_argument("--size", type=int, nargs=2, default=[384, 384], metavar=("W", "H"),
                        help="cache size the images are resized to")
    args = parser.parse_args()
    size = tuple(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, source_size in (("500x500", (500, 500)), ("2000x1500", (2000, 1500))):
            raw = tmp / label
            labels = make_labelled_jpegs(raw, args.count, source_size, seed=len(label))
            for workers in (0, 1):
                ips = rate(labels, raw, tmp / f"cache-{label}-{workers}", size, workers)
                shown = f"{os.cpu_count()} (all)" if workers == 0 else "1"
                print(f"{label} JPEG -> {size[0]}x{size[1]}, workers {shown}: {ips:7.1f} images/s")


if __name__ == "__main__":
    main()
