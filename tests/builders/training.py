"""Small in-memory datasets for training tests: no cache files, no dataset stages."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from pmtiqa.compute.device_data import DeviceData
from pmtiqa.compute.runtime import resolve_runtime
from pmtiqa.config.load import params_from_dict
from pmtiqa.config.run_settings import settings_for
from pmtiqa.method.losses import quality_level
from pmtiqa.stages import code_identity


def tiny_data(n: int = 24, size: int = 40, seed: int = 0) -> DeviceData:
    """Images whose noise level sets their score, so a few steps already move the metrics."""
    rng = np.random.default_rng(seed)
    score = np.linspace(0.05, 0.95, n)
    rng.shuffle(score)
    base = np.full((n, size, size, 3), 128.0)
    noise = rng.normal(0, 1, base.shape) * (1 - score)[:, None, None, None] * 80
    images = np.clip(base + noise, 0, 255).astype(np.uint8)
    ids = np.arange(n)
    splits = [{"train": ids[: n // 2], "val": ids[n // 2: 3 * n // 4], "test": ids[3 * n // 4:]},
              {"train": ids[n // 4:], "val": ids[: n // 8], "test": ids[n // 8: n // 4]}]
    score_t = torch.tensor(score, dtype=torch.float32)
    return DeviceData(
        images=torch.from_numpy(images),
        sizes=None,
        score=score_t,
        level=quality_level(score_t, 10),
        mos=score * 100,
        names=[f"img{i}.png" for i in range(n)],
        bounds=(0.0, 100.0, True),
        splits=[{k: torch.tensor(v) for k, v in s.items()} for s in splits],
        inputs=[{"cache": "tiny", "parts": {k: v.tolist() for k, v in s.items()}} for s in splits],
    )


def tiny_own_size_data(n: int = 24) -> DeviceData:
    """tiny_data whose images differ in size (32..48 pixels a side), each at the top left of a 48x48
    canvas, as the cache of a dataset whose images keep their own size holds them."""
    data = tiny_data(n, size=48)
    sizes = torch.from_numpy(np.random.default_rng(1).integers(32, 49, (n, 2)))
    images = data.images.clone()
    for row, (w, h) in zip(images, sizes.tolist()):
        row[h:], row[:, w:] = 0, 0
    return dataclasses.replace(data, images=images, sizes=sizes)


def tiny_params(loss=None, **train):
    """The synthetic dataset's view of small params (the small cnn4 on 32-pixel crops, one CPU thread)."""
    return params_from_dict({
        "loss": loss or {},
        "datasets": ["synthetic"],
        "variants": ["ms_pmt"],
        "model": {"backbone": "cnn4", "weights": "none"},
        "train": {"epochs": 3, "batch_size": 8, "crop_size": 32, "crops_per_image": 1, "test_crops": 2,
                  "lr": 1e-3,
                  # never the workspace's runs/tune/<ds>/best.json (`make demo` leaves one there)
                  "use_tuned": False, **train},
        "augment": {"size": [40, 40]},
        "runtime": {"threads": 1, "device": "cpu"},
    }).for_dataset("synthetic")


def tiny_settings(variant="ms_pmt", split=0, loss=None, compile="none", **train):
    params = tiny_params(loss, **train)
    runtime = resolve_runtime("cpu", "fp32", 1, compile)
    code = code_identity("train", params)  # the train stage's, as `pmtiqa train` records it
    return settings_for(params, variant, split, tiny_data().inputs[split], {}, code), runtime
