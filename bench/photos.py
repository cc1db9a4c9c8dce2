"""Photo-like JPEGs for the benchmarks: smooth gradients plus noise, so that they decode and
compress as photographs do (a flat or random image would be far cheaper or dearer to decode)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_jpegs(folder: Path, count: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    """``count`` JPEGs of ``size`` (width, height) as folder/img0000.jpg, ...; returns their paths."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        base = (np.sin(xx / rng.uniform(20, 80)) + np.cos(yy / rng.uniform(20, 80))) * 60 + 128
        pixels = np.clip(base[..., None] + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        path = folder / f"img{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths
