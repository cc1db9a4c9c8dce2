"""The augment stage: decode every image once (images.py), resize it, store uint8 arrays for training.

Training then reads one memory-mapped ``images.npy`` (N x H x W x 3, uint8, the row order of
labels.csv) and never touches a JPEG again; on a GPU the whole array can live in device memory.
Where the images keep their own sizes (``augment.size`` own: LIVE's protocol), each sits at the top
left of a canvas as large as the largest, and ``sizes.npy`` (N x 2, width and height; written for
such datasets only) says how much of its row each one fills, so that crops are drawn inside it.

Layout of ``data/cache/<name>/``: ``images.npy``, ``labels.csv`` (a copy of the rows it was built
from, same order) and ``meta.json`` (where it was built from: the source labels.csv and its sha256,
the raw folder, the sha256 of the pixels, the size they were resized to, how they were decoded, and
the images that decoded with a warning). The folder is
written under a temporary name and swapped in at the end, so a failed build leaves an earlier
cache untouched.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pmtiqa.core.atomic import atomic_dir, write_json
from pmtiqa.core.checksum import sha256_file
from pmtiqa.core.errors import UserError
from pmtiqa.core.processes import die_with_parent
from pmtiqa.core.progress import progress_bar
from pmtiqa.core.readers import image_files, read_json, read_labels
from pmtiqa.data.images import DECODINGS, UPRIGHT, decode, decoded_size

log = logging.getLogger(__name__)

IMAGES, LABELS, META, SIZES = "images.npy", "labels.csv", "meta.json", "sizes.npy"
SOURCE_SIZES = "source_sizes.npy"  # each image's own (width, height), as decoded, before any resize
MadeAs = tuple[tuple[int, int] | None, str]  # the size (None: their own) and decoding a cache is made with


@dataclass(frozen=True)
class Cache:
    images: np.ndarray  # N x H x W x 3 uint8, memory-mapped read-only
    labels: pd.DataFrame  # the labels.csv rows, same order
    meta: dict  # provenance (build_cache); the array's shape says the size and count
    source_sizes: np.ndarray  # N x 2 (width, height) of each image in the dataset: what a crop can hold
    sizes: np.ndarray | None = None  # N x 2 (width, height) where images keep their own sizes


# -- worker side: each process opens the memmap once and writes its rows into it --------------

_worker: dict = {}


def _init_worker(array_path: str, size: tuple[int, int] | None, how: str, parent: int) -> None:
    die_with_parent(parent)
    _worker.update(images=np.load(array_path, mmap_mode="r+"), size=size, how=how)


def _work(task: tuple[int, str]) -> tuple[int, str | None, str | None, str | None]:
    """Decode the image ``file`` into the top left of row ``index`` of the memmap; return (index,
    error, warning, sha256 of the pixels)."""
    index, file = task
    try:
        pixels, warning = decode(Path(file), _worker["size"], _worker["how"])
        height, width, _ = pixels.shape
        _worker["images"][index, :height, :width] = pixels
    except Exception as err:  # Pillow raises many types for damaged files; report them all by name
        return index, f"{type(err).__name__}: {err}", None, None
    return index, None, warning, hashlib.sha256(pixels.tobytes()).hexdigest()


def build_cache(labels_csv: Path, raw_dir: Path, out_dir: Path, size: tuple[int, int] | None, workers: int,
                how: str = UPRIGHT) -> None:
    """Decode every image of labels.csv ``how`` (images.py) into ``out_dir`` (atomically), resized to
    ``size`` (width, height) or, with None, at its own size."""
    labels_csv, raw_dir, out_dir = Path(labels_csv), Path(raw_dir), Path(out_dir)
    labels = read_labels(labels_csv)
    names = labels["image"].tolist()
    files = image_files(names, raw_dir, labels_csv)
    sources = np.array([decoded_size(file, how) for file in files], dtype=np.int64).reshape(-1, 2)
    sizes = sources if size is None else None
    width, height = (int(v) for v in (size or sizes.max(axis=0, initial=0)))  # the canvas
    workers = workers or len(os.sched_getaffinity(0))
    with atomic_dir(out_dir) as tmp:
        images = np.lib.format.open_memmap(tmp / IMAGES, mode="w+", dtype=np.uint8,
                                           shape=(len(labels), height, width, 3))
        del images  # workers open it themselves; the header is on disk now
        reserve(tmp / IMAGES)
        warnings, digests = _decode_all(names, files, tmp / IMAGES, size, how, workers)
        if sizes is not None:  # even where all are alike: an own-size dataset's model scores any image at its own size
            np.save(tmp / SIZES, sizes)
        np.save(tmp / SOURCE_SIZES, sources)  # a resize can hide an image too small for any crop: training checks
        shutil.copyfile(labels_csv, tmp / LABELS)
        # images_sha256: of the pixels training reads (each row's, in row order, as the workers decode
        # them), so that a run knows when they change (a corrected download, other decoding) even
        # where the labels and sizes stay the same
        meta = {"labels_csv": str(labels_csv), "labels_sha256": sha256_file(labels_csv), "raw_dir": str(raw_dir),
                "images_sha256": hashlib.sha256("".join(digests).encode()).hexdigest(),
                "size": None if size is None else list(size), "decode": how, "warnings": warnings}
        write_json(tmp / META, meta)
    log.info("%s: %d images %s -> %s", labels_csv, len(labels),
             f"at {width}x{height}" if size else f"at their own sizes, up to {width}x{height}", out_dir)


def reserve(path: Path) -> None:
    """Claim the disk space of the memory-mapped ``path`` now. Its pages are otherwise allocated as
    the workers write them, and on a full disk a write into a mapped page kills the worker (SIGBUS),
    which leaves its pool waiting forever; here a full disk is an OSError that names the file."""
    with open(path, "r+b") as file:
        try:
            os.posix_fallocate(file.fileno(), 0, path.stat().st_size)
        except OSError as err:
            if err.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system that cannot reserve: written as it goes
                return
            raise OSError(err.errno, err.strerror, str(path)) from None


def _decode_all(names: list[str], files: list[Path], array_path: Path, size: tuple[int, int] | None, how: str,
                workers: int) -> tuple[dict, list[str]]:
    """Decode every image into the memmap with ``workers`` processes; raise naming any failure.
    Returns the decoding warnings (by image name) and each row's pixel sha256, in row order."""
    tasks = [(index, str(file)) for index, file in enumerate(files)]
    init = (str(array_path), size, how, os.getpid())
    errors, warnings, digests = {}, {}, [""] * len(files)
    in_pool = workers != 1 and len(tasks) >= 2
    if in_pool:
        pool = _pool_context().Pool(min(workers, len(tasks)), _init_worker, init)
        results = pool.imap_unordered(_work, tasks, chunksize=max(1, min(64, len(tasks) // (8 * workers))))
    else:
        _worker.update(images=np.load(array_path, mmap_mode="r+"), size=size, how=how)
        results = map(_work, tasks)
    progress = progress_bar(total=len(tasks), desc=f"decode {array_path.parent.name}", unit="img", mininterval=1.0)
    try:
        for index, error, warning, digest in results:
            digests[index] = digest or ""
            if error:
                errors[index] = error
            if warning:
                warnings[names[index]] = warning
                log.warning("%s: %s", files[index], warning)
            progress.update()
    finally:
        progress.close()
        _worker.clear()
        if in_pool:
            pool.close()
            pool.join()
    if errors:
        index, error = sorted(errors.items(), key=lambda item: names[item[0]])[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(f"{files[index]}: cannot decode image{more}: {error}")
    return warnings, digests


def _pool_context() -> multiprocessing.context.BaseContext:
    """A start method whose workers are children of this process, which die_with_parent relies on
    (a forkserver's workers are the server's children)."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def load_cache(cache_dir: Path, made_as: MadeAs | None = None) -> Cache:
    """Open a cache written by ``build_cache``: images memory-mapped read-only, labels, meta; with
    ``made_as`` (the size and decoding params ask: DatasetParams.image_size, augment.decode), stop
    where it was made otherwise (augment not run again after an edit)."""
    cache_dir = Path(cache_dir)
    rerun = "run `pmtiqa augment` for this dataset"
    if not (cache_dir / IMAGES).is_file():
        raise UserError(f"{cache_dir / IMAGES}: missing; {rerun}")
    try:
        images = np.load(cache_dir / IMAGES, mmap_mode="r")
    except (ValueError, OSError) as err:
        raise UserError(f"{cache_dir / IMAGES}: damaged ({err}); {rerun}") from None
    labels = read_labels(cache_dir / LABELS, rerun)
    meta = read_json(cache_dir / META, rerun)
    if not isinstance(meta, dict):
        raise UserError(f"{cache_dir / META}: not what augment writes; {rerun}")
    if meta.setdefault("decode", UPRIGHT) not in DECODINGS:  # a cache of an older augment: upright
        raise UserError(f"{cache_dir / META}: decode is {meta['decode']!r}, not one of {', '.join(DECODINGS)}; {rerun}")
    if images.ndim != 4 or images.shape[0] != len(labels) or images.dtype != np.uint8:
        raise UserError(f"{cache_dir / IMAGES}: shape {images.shape} {images.dtype} does not match "
                        f"{len(labels)} labels; run `pmtiqa augment` again")
    n, height, width, _ = images.shape
    sources = image_sizes(cache_dir / SOURCE_SIZES, n, None)
    sizes = image_sizes(cache_dir / SIZES, n, (width, height)) if (cache_dir / SIZES).is_file() else None
    if meta.get("size") != (None if sizes is not None else [width, height]):
        held = "images of their own sizes, with sizes.npy" if sizes is not None else f"{width}x{height} images"
        raise UserError(f"{cache_dir / META}: size {json.dumps(meta.get('size'))} is not that of the cache, "
                        f"{held}; {rerun}")
    if made_as is not None:
        check_made_as(meta, made_as, cache_dir / META, rerun)
    return Cache(images=images, labels=labels, meta=meta, source_sizes=sources, sizes=sizes)


def check_made_as(meta: dict, made_as: MadeAs, path: Path, rerun: str) -> None:
    """meta.json's size and decoding are those params ask (augment.size and augment.decode, or where
    they say protocol, the dataset's own: its module's, or custom_datasets.<name>.size)."""
    size, how = made_as
    asked = None if size is None else list(size)
    if meta.get("size") != asked:
        raise UserError(f"{path}: made at size {_size_shown(meta.get('size'))}; params ask size {_size_shown(asked)} "
                        f"(augment.size, or the dataset's protocol size); {rerun}")
    if meta["decode"] != how:
        raise UserError(f"{path}: decoded {meta['decode']}; params ask decoding {how} (augment.decode, or the "
                        f"dataset's protocol decoding); {rerun}")


def _size_shown(size: list | None) -> str:
    return "own" if size is None else str(size)


def image_sizes(path: Path, n: int, largest: tuple[int, int] | None) -> np.ndarray:
    """An N x 2 array of (width, height), each at least 1 and at most ``largest`` where given."""
    wrong = f"{path}: not the sizes of the {n} images of {IMAGES}; run `pmtiqa augment` again"
    try:
        sizes = np.load(path)
    except (ValueError, OSError):
        raise UserError(wrong) from None
    if sizes.shape != (n, 2) or sizes.dtype.kind not in "iu" or (sizes < 1).any() \
            or (largest is not None and (sizes > largest).any()):
        raise UserError(wrong)
    return sizes
