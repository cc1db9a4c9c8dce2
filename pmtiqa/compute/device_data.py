"""A dataset on the training device: the augment stage's uint8 cache read once into device memory,
its targets and quality levels, and the splits' parts as index tensors; each split's inputs (what
identifies what its run reads) beside them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.data.augment import MadeAs, load_cache
from pmtiqa.data.datasets import score_bounds
from pmtiqa.data.images import UPRIGHT
from pmtiqa.data.splits import read_splits
from pmtiqa.method.losses import quality_levels


@dataclass
class DeviceData:
    """A dataset's images and targets on the training device, with its split ids."""

    images: torch.Tensor  # uint8 (N, H, W, 3)
    sizes: torch.Tensor | None  # long (N, 2): each image's (width, height), where they keep their own (augment.size own)
    score: torch.Tensor  # float (N,), normalised 0..1, higher is better
    level: torch.Tensor  # long (N,), quality classes (loss.levels)
    mos: np.ndarray  # the published scores, for metrics on the published scale
    names: list[str]
    bounds: tuple[float, float, bool]  # (lo, hi, higher_is_better) of the published scale
    splits: list[dict[str, torch.Tensor]]
    # Per split, what its run reads: the cache as augment recorded it (labels and pixels) and the
    # split's own parts (not the other splits': more splits leave the finished ones valid).
    inputs: list[dict]
    groups: np.ndarray | None = None  # labels.csv's group of each image (None: one group per image)
    decode: str = UPRIGHT  # how augment decoded the images (data/images.py): predict decodes the same way


def split_tensors(raw_splits: list[dict], device: torch.device) -> list[dict[str, torch.Tensor]]:
    """The row ids of each split's parts (as in data/splits/<ds>.json) as index tensors on the device."""
    return [{part: torch.tensor(ids, dtype=torch.long, device=device) for part, ids in s.items()} for s in raw_splits]


# What identifies a cache's content in its meta.json: augment computes these once, as it writes it.
CACHE_IDENTITY = ("labels_sha256", "images_sha256", "size")


def load_device_data(files: DatasetFiles, device: torch.device, num_classes: int, crop: int, custom: dict | None,
                     levels: str, made_as: MadeAs) -> DeviceData:
    """The dataset's cache and splits on the device, each image's quality level cut by ``levels``
    (loss.levels); stops where the cache was not made as ``made_as`` (size, decoding: augment.py's
    load_cache), and, naming the image, where one is smaller than crop."""
    dataset = files.dataset
    cache = load_cache(files.cache, made_as)
    labels = cache.labels
    raw_splits = read_splits(files.splits, len(labels), f"run `pmtiqa split --dataset {dataset}`")
    images = torch.from_numpy(np.array(cache.images)).to(device)  # read the memory-mapped cache once
    sizes = None if cache.sizes is None else torch.from_numpy(cache.sizes).to(device)
    score = torch.tensor(labels["score"].to_numpy(np.float32), device=device)
    cache_identity = {key: cache.meta.get(key) for key in CACHE_IDENTITY}
    bounds, mos = score_bounds(dataset, custom), labels["mos"].to_numpy(np.float64)
    data = DeviceData(
        images=images,
        sizes=sizes,
        score=score,
        level=quality_levels(score, mos, bounds, num_classes, levels),
        mos=mos,
        names=labels["image"].astype(str).tolist(),
        bounds=bounds,
        splits=split_tensors(raw_splits, device),
        inputs=[{"cache": cache_identity, "parts": split} for split in raw_splits],
        groups=labels["group"].astype(str).to_numpy(),
        decode=cache.meta["decode"],
    )
    check_crops_fit(data.names, cache.source_sizes, crop, files.cache)
    return data


def check_crops_fit(names: list[str], sizes: np.ndarray, crop: int, cache: Path) -> None:
    """Stop, naming the image, where one is smaller than the crops drawn from it, by its own size in
    the dataset: resized to the protocol's size it would fill a crop with detail it does not have,
    as `pmtiqa predict` refuses it."""
    small = (sizes.min(axis=1) < crop).nonzero()[0]
    if len(small):
        w, h = sizes[small[0]].tolist()
        raise UserError(f"{cache}: {names[small[0]]} is {w}x{h} in the dataset, smaller than "
                        f"train.crop_size {crop}" + (f" (and {len(small) - 1} more)" if len(small) > 1 else ""))
