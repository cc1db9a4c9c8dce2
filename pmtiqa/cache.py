"""The augment stage: decode every image once, resize it, store uint8 arrays for training.

Training then reads one memory-mapped ``images.npy`` (N x H x W x 3, uint8, the row order of
labels.csv) and never touches a JPEG again; on a GPU the whole array can live in device memory.

Layout of ``data/cache/<name>/``: ``images.npy``, ``labels.csv`` (a copy of the rows it was built
from, same order) and ``meta.json`` (where it was built from: the source labels.csv and its sha256,
the raw folder, and the images that decoded with a warning). The folder is
written under a temporary name and swapped in at the end, so a failed build leaves an earlier
cache untouched.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFile, ImageOps

from pmtiqa.atomic import atomic_dir, write_json
from pmtiqa.checksum import sha256_file
from pmtiqa.errors import UserError
from pmtiqa.readers import read_csv, read_json

log = logging.getLogger(__name__)

IMAGES, LABELS, META = "images.npy", "labels.csv", "meta.json"
# EXIF orientations that swap width and height (transpose, rotate 90/270, transverse)
SWAPS_AXES = {5, 6, 7, 8}


@dataclass(frozen=True)
class Cache:
    images: np.ndarray  # N x H x W x 3 uint8, memory-mapped read-only
    labels: pd.DataFrame  # the labels.csv rows, same order
    meta: dict  # provenance (build_cache); the array's shape says the size and count


def decode(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, str | None]:
    """One image as H x W x 3 uint8 at ``size`` (width, height), upright, plus a warning or None.

    A truncated file is decoded again as far as it goes, with a warning: some BID JPEGs are known
    to trouble strict decoders. Anything else that fails raises, and the caller names the file.
    """
    try:
        return _decode(path, size), None
    except OSError as err:
        if "truncated" not in str(err):
            raise
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # this process only, only after a strict attempt failed
    try:
        return _decode(path, size), "truncated file, decoded as far as it goes"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _decode(path: Path, size: tuple[int, int]) -> np.ndarray:
    """``draft`` lets the JPEG decoder scale by 1/2..1/8 while decoding, never below the target,
    so large photos cost little; Pillow's bilinear resize then filters over the whole footprint
    (antialiased). The draft size is asked in stored orientation, before the EXIF rotation."""
    w, h = size
    with Image.open(path) as im:
        orientation = im.getexif().get(0x0112, 1)
        im.draft("RGB", (h, w) if orientation in SWAPS_AXES else (w, h))
        im = ImageOps.exif_transpose(im).convert("RGB")
        return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR))


# -- worker side: each process opens the memmap once and writes its rows into it --------------

_worker: dict = {}


def _init_worker(array_path: str, raw_dir: str, size: tuple[int, int]) -> None:
    _worker.update(images=np.load(array_path, mmap_mode="r+"), raw_dir=Path(raw_dir), size=size)


def _work(task: tuple[int, str]) -> tuple[str, str | None, str | None]:
    """Decode row ``index`` into the memmap; return (image, error, warning)."""
    index, image = task
    try:
        pixels, warning = decode(_worker["raw_dir"] / image, _worker["size"])
    except Exception as err:  # Pillow raises many types for damaged files; report them all by name
        return image, f"{type(err).__name__}: {err}", None
    _worker["images"][index] = pixels
    return image, None, warning


def build_cache(labels_csv: Path, raw_dir: Path, out_dir: Path, size: tuple[int, int], workers: int) -> None:
    """Decode and resize every image of labels.csv into ``out_dir`` (atomically)."""
    labels_csv, raw_dir, out_dir = Path(labels_csv), Path(raw_dir), Path(out_dir)
    labels = _read_labels(labels_csv)
    width, height = int(size[0]), int(size[1])
    workers = workers or os.cpu_count() or 1
    with atomic_dir(out_dir) as tmp:
        images = np.lib.format.open_memmap(tmp / IMAGES, mode="w+", dtype=np.uint8,
                                           shape=(len(labels), height, width, 3))
        del images  # workers open it themselves; the header is on disk now
        warnings = _decode_all(labels["image"].tolist(), tmp / IMAGES, raw_dir, (width, height), workers)
        shutil.copyfile(labels_csv, tmp / LABELS)
        meta = {"labels_csv": str(labels_csv), "labels_sha256": sha256_file(labels_csv), "raw_dir": str(raw_dir),
                "warnings": warnings}
        write_json(tmp / META, meta)
    log.info("%s: %d images at %dx%d -> %s", labels_csv, len(labels), width, height, out_dir)


def _read_labels(labels_csv: Path) -> pd.DataFrame:
    labels = read_csv(labels_csv, "run `pmtiqa prepare` for this dataset", ["image"],
                      dtype={"image": str, "group": str})
    empty = labels["image"].isna().to_numpy()
    if empty.any():
        raise UserError(f"{labels_csv}: an empty image name in row {int(empty.argmax()) + 1}")
    return labels


def _decode_all(images: list[str], array_path: Path, raw_dir: Path, size: tuple[int, int], workers: int) -> dict:
    """Decode every image into the memmap with ``workers`` processes; raise naming any failure."""
    from tqdm import tqdm

    tasks = list(enumerate(images))
    init = (str(array_path), str(raw_dir), size)
    errors, warnings = {}, {}
    progress = tqdm(total=len(tasks), desc=f"decode {raw_dir.name}", unit="img", mininterval=1.0)
    if workers == 1 or len(tasks) < 2:
        _init_worker(*init)
        results = map(_work, tasks)
    else:
        pool = multiprocessing.get_context().Pool(min(workers, len(tasks)), _init_worker, init)
        results = pool.imap_unordered(_work, tasks, chunksize=max(1, min(64, len(tasks) // (8 * workers))))
    try:
        for image, error, warning in results:
            if error:
                errors[image] = error
            if warning:
                warnings[image] = warning
                log.warning("%s: %s", raw_dir / image, warning)
            progress.update()
    finally:
        progress.close()
        _worker.clear()
        if workers != 1 and len(tasks) >= 2:
            pool.close()
            pool.join()
    if errors:
        image, error = sorted(errors.items())[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(f"{raw_dir / image}: cannot decode image{more}: {error}")
    return warnings


def load_cache(cache_dir: Path) -> Cache:
    """Open a cache written by ``build_cache``: images memory-mapped read-only, labels, meta."""
    cache_dir = Path(cache_dir)
    rerun = "run `pmtiqa augment` for this dataset"
    if not (cache_dir / IMAGES).is_file():
        raise UserError(f"{cache_dir / IMAGES}: missing; {rerun}")
    try:
        images = np.load(cache_dir / IMAGES, mmap_mode="r")
    except (ValueError, OSError) as err:
        raise UserError(f"{cache_dir / IMAGES}: damaged ({err}); {rerun}") from None
    labels = read_csv(cache_dir / LABELS, rerun, ["image"], dtype={"image": str, "group": str})
    meta = read_json(cache_dir / META, rerun)
    if images.ndim != 4 or images.shape[0] != len(labels) or images.dtype != np.uint8:
        raise UserError(f"{cache_dir / IMAGES}: shape {images.shape} {images.dtype} does not match "
                        f"{len(labels)} labels; run `pmtiqa augment` again")
    return Cache(images=images, labels=labels, meta=meta)
