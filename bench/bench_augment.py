"""Throughput of the augment stage (decode + EXIF + resize into the memmap), in images per second.

Generates its own JPEGs in a temporary folder: ordinary 500x500 photos-like images and large
2000x1500 ones (where ``Image.draft`` lets the decoder scale while decoding), then times
``pmtiqa.cache.build_cache`` on each set with every core and with one.

    python bench/bench_augment.py [--count 200] [--size 384 384]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

from pmtiqa.cache import build_cache  # noqa: E402


def make_jpegs(folder: Path, count: int, size: tuple[int, int], seed: int) -> Path:
    """``count`` textured JPEGs (smooth gradients plus noise, so they compress like photos)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    folder.mkdir(parents=True)
    names = []
    for i in range(count):
        base = (np.sin(xx / rng.uniform(20, 80)) + np.cos(yy / rng.uniform(20, 80))) * 60 + 128
        pixels = np.clip(base[..., None] + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        name = f"img{i:04d}.jpg"
        Image.fromarray(pixels).save(folder / name, quality=90)
        names.append(name)
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
            labels = make_jpegs(raw, args.count, source_size, seed=len(label))
            for workers in (0, 1):
                ips = rate(labels, raw, tmp / f"cache-{label}-{workers}", size, workers)
                shown = f"{os.cpu_count()} (all)" if workers == 0 else "1"
                print(f"{label} JPEG -> {size[0]}x{size[1]}, workers {shown}: {ips:7.1f} images/s")


if __name__ == "__main__":
    main()
