"""The augment stage: decode every image once, resize it, store uint8 arrays for training.

Training then reads one memory-mapped ``images.npy`` (N x H x W x 3, uint8, the row order of
labels.csv) and never touches a JPEG again; on a GPU the whole array can live in device memory.
A dataset listed under ``augment.native`` keeps each image's own size: the images sit at the top
left of a canvas as large as the largest, and ``sizes.npy`` (N x 2, width and height; written for
such datasets only) says how much of its row each one fills, so that crops are drawn inside it.

Layout of ``data/cache/<name>/``: ``images.npy``, ``labels.csv`` (a copy of the rows it was built
from, same order) and ``meta.json`` (where it was built from: the source labels.csv and its sha256,
the raw folder, the sha256 of images.npy, and the images that decoded with a warning). The folder is
written under a temporary name and swapped in at the end, so a failed build leaves an earlier
cache untouched.
"""
from __future__ import annotations

import hashlib
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

IMAGES, LABELS, META, SIZES = "images.npy", "labels.csv", "meta.json", "sizes.npy"
# EXIF orientations that swap width and height (transpose, rotate 90/270, transverse)
SWAPS_AXES = {5, 6, 7, 8}


@dataclass(frozen=True)
class Cache:
    images: np.ndarray  # N x H x W x 3 uint8, memory-mapped read-only
    labels: pd.DataFrame  # the labels.csv rows, same order
    meta: dict  # provenance (build_cache); the array's shape says the size and count
    sizes: np.ndarray | None = None  # N x 2 (width, height) where images keep their own sizes


def decode(path: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, str | None]:
    """One image as H x W x 3 uint8 at ``size`` (width, height; None: its own), upright, plus a
    warning or None.

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


def _decode(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """``draft`` lets the JPEG decoder scale by 1/2..1/8 while decoding, never below the target,
    so large photos cost little; Pillow's bilinear resize then filters over the whole footprint
    (antialiased). The draft size is asked in stored orientation, before the EXIF rotation."""
    with Image.open(path) as im:
        if size is None:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        w, h = size
        orientation = im.getexif().get(0x0112, 1)
        im.draft("RGB", (h, w) if orientation in SWAPS_AXES else (w, h))
        im = ImageOps.exif_transpose(im).convert("RGB")
        return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR))


# -- worker side: each process opens the memmap once and writes its rows into it --------------

_worker: dict = {}


def _init_worker(array_path: str, raw_dir: str, size: tuple[int, int] | None) -> None:
    _worker.update(images=np.load(array_path, mmap_mode="r+"), raw_dir=Path(raw_dir), size=size)


def _work(task: tuple[int, str]) -> tuple[int, str, str | None, str | None, str | None]:
    """Decode row ``index`` into the top left of its row of the memmap; return (index, image, error,
    warning, sha256 of the pixels)."""
    index, image = task
    try:
        pixels, warning = decode(_worker["raw_dir"] / image, _worker["size"])
        height, width, _ = pixels.shape
        _worker["images"][index, :height, :width] = pixels
    except Exception as err:  # Pillow raises many types for damaged files; report them all by name
        return index, image, f"{type(err).__name__}: {err}", None, None
    return index, image, None, warning, hashlib.sha256(pixels.tobytes()).hexdigest()


def build_cache(labels_csv: Path, raw_dir: Path, out_dir: Path, size: tuple[int, int] | None, workers: int) -> None:
    """Decode every image of labels.csv into ``out_dir`` (atomically), resized to ``size`` (width,
    height) or, with None, at its own size."""
    labels_csv, raw_dir, out_dir = Path(labels_csv), Path(raw_dir), Path(out_dir)
    labels = _read_labels(labels_csv)
    names = labels["image"].tolist()
    sizes = np.array([upright_size(raw_dir / name) for name in names], dtype=np.int64).reshape(-1, 2) \
        if size is None else None
    width, height = (int(v) for v in (size or sizes.max(axis=0, initial=0)))  # the canvas
    workers = workers or os.cpu_count() or 1
    with atomic_dir(out_dir) as tmp:
        images = np.lib.format.open_memmap(tmp / IMAGES, mode="w+", dtype=np.uint8,
                                           shape=(len(labels), height, width, 3))
        del images  # workers open it themselves; the header is on disk now
        warnings, digests = _decode_all(names, tmp / IMAGES, raw_dir, size, workers)
        if sizes is not None:  # even where all are alike: a native dataset's model scores any image at its own size
            np.save(tmp / SIZES, sizes)
        shutil.copyfile(labels_csv, tmp / LABELS)
        # images_sha256: of the pixels training reads (each row's, in row order, as the workers decode
        # them), so that a run knows when they change (a corrected download, other decoding) even
        # where the labels and sizes stay the same
        meta = {"labels_csv": str(labels_csv), "labels_sha256": sha256_file(labels_csv), "raw_dir": str(raw_dir),
                "images_sha256": hashlib.sha256("".join(digests).encode()).hexdigest(), "warnings": warnings}
        write_json(tmp / META, meta)
    log.info("%s: %d images %s -> %s", labels_csv, len(labels),
             f"at {width}x{height}" if size else f"at their own sizes, up to {width}x{height}", out_dir)


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as decode returns it (EXIF rotation applied), from its header."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            return (height, width) if im.getexif().get(0x0112, 1) in SWAPS_AXES else (width, height)
    except Exception as err:  # as in _work: name the file, whatever Pillow raised
        raise UserError(f"{path}: cannot read image ({type(err).__name__}: {err})") from None


def _read_labels(labels_csv: Path) -> pd.DataFrame:
    labels = read_csv(labels_csv, "run `pmtiqa prepare` for this dataset", ["image"],
                      dtype={"image": str, "group": str})
    empty = labels["image"].isna().to_numpy()
    if empty.any():
        raise UserError(f"{labels_csv}: an empty image name in row {int(empty.argmax()) + 1}")
    return labels


def _decode_all(images: list[str], array_path: Path, raw_dir: Path, size: tuple[int, int] | None,
                workers: int) -> tuple[dict, list[str]]:
    """Decode every image into the memmap with ``workers`` processes; raise naming any failure.
    Returns the decoding warnings and each row's pixel sha256, in row order."""
    from tqdm import tqdm

    tasks = list(enumerate(images))
    init = (str(array_path), str(raw_dir), size)
    errors, warnings, digests = {}, {}, [""] * len(images)
    progress = tqdm(total=len(tasks), desc=f"decode {raw_dir.name}", unit="img", mininterval=1.0)
    if workers == 1 or len(tasks) < 2:
        _init_worker(*init)
        results = map(_work, tasks)
    else:
        pool = multiprocessing.get_context().Pool(min(workers, len(tasks)), _init_worker, init)
        results = pool.imap_unordered(_work, tasks, chunksize=max(1, min(64, len(tasks) // (8 * workers))))
    try:
        for index, image, error, warning, digest in results:
            digests[index] = digest or ""
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
    return warnings, digests


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
    n, height, width, _ = images.shape
    sizes = None
    if (cache_dir / SIZES).is_file():
        sizes = np.load(cache_dir / SIZES)
        if sizes.shape != (n, 2) or (sizes < 1).any() or (sizes > [width, height]).any():
            raise UserError(f"{cache_dir / SIZES}: not the sizes of the {n} images of {IMAGES}; "
                            f"run `pmtiqa augment` again")
    return Cache(images=images, labels=labels, meta=meta, sizes=sizes)
