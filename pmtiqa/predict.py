"""`pmtiqa predict`: score any images with a trained model.pt.

Each image is decoded and resized exactly as the augment stage prepared the training images (or
kept at its own size, for a dataset under augment.native), then scored as the test images were: the
mean over the same fixed crops. Scores come out on the scale of
the dataset the model was trained on (`prediction`) and normalised to 0..1, higher better (`score`);
a score the network puts outside 0..1 is clipped to it, with a warning that names the model.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pmtiqa.atomic import write_text
from pmtiqa.errors import UserError
from pmtiqa.evaluate import score_images
from pmtiqa.model import build_model
from pmtiqa.runtime import resolve_runtime
from pmtiqa.scores import clip_unit, to_native

log = logging.getLogger(__name__)


def load_trained(checkpoint: Path, device: torch.device) -> tuple[torch.nn.Module, dict]:
    if not checkpoint.is_file():
        raise UserError(f"{checkpoint}: no such model file (train one with `pmtiqa train`)")
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model = build_model(saved["variant"], saved["backbone"], "none", saved["num_classes"])
        if any(k.startswith("features.reduce.") and k.endswith(".bias") for k in saved["state_dict"]):
            raise UserError(f"{checkpoint}: written by an older pmtiqa, whose MS taps had a bias (the authors' "
                            f"have none); train it again with `pmtiqa train`")
        model.load_state_dict(saved["state_dict"])
    except (KeyError, RuntimeError, OSError) as err:
        raise UserError(f"{checkpoint}: not a model.pt written by `pmtiqa train` ({err})") from None
    model.to(device, memory_format=torch.channels_last).eval()
    return model, saved


def within(size: tuple[int, int], largest: list[int]) -> tuple[int, int] | None:
    """None (the image's own size) when it fits inside the largest training width and height; else
    the size that shrinks it to fit, its aspect kept: the model never saw content at a finer scale."""
    scale = min(largest[0] / size[0], largest[1] / size[1])
    return None if scale >= 1 else (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def on_canvas(pixels: list[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images as one uint8 (N, H, W, 3) tensor, each at the top left, and their (width, height) where
    they differ in size (as the cache of a dataset under augment.native holds them)."""
    sizes = np.array([[p.shape[1], p.shape[0]] for p in pixels])
    width, height = sizes.max(axis=0)
    if (sizes == [width, height]).all():
        return torch.from_numpy(np.stack(pixels)).to(device), None
    canvas = np.zeros((len(pixels), height, width, 3), dtype=np.uint8)
    for row, p in zip(canvas, pixels):
        row[:p.shape[0], :p.shape[1]] = p
    return torch.from_numpy(canvas).to(device), torch.from_numpy(sizes).to(device)


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given; folders as their files (recursively, sorted). A missing path is an error."""
    files = []
    for path in inputs:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    return files


def predict_paths(checkpoint: Path, inputs: list[Path], output: Path | None = None, batch_size: int = 16,
                  device: str = "auto") -> list[tuple[Path, str]]:
    """Score every image; returns the (path, reason) of each input that could not be scored."""
    from pmtiqa.cache import decode, upright_size

    runtime = resolve_runtime(device, "auto", 0)
    model, saved = load_trained(checkpoint, runtime.device)
    size, largest = saved["image_size"], saved.get("max_image_size")  # (width, height); size None: native
    crop = saved["crop_size"]
    files = expand_inputs(inputs)
    rows, failures = [], []
    for start in tqdm(range(0, len(files), batch_size), desc="predict", unit="batch", disable=len(files) <= batch_size):
        batch, names = [], []
        for path in files[start:start + batch_size]:
            try:
                pixels, warning = decode(path, tuple(size) if size else within(upright_size(path), largest))
            except Exception as err:  # Pillow raises many types for a file it cannot read
                failures.append((path, str(err)))
                print(f"pmtiqa predict: skipped {path}: not a readable image ({err})", file=sys.stderr)
                continue
            if min(pixels.shape[:2]) < crop:
                failures.append((path, "smaller than the crops"))
                print(f"pmtiqa predict: skipped {path}: {pixels.shape[1]}x{pixels.shape[0]} is smaller than the "
                      f"model's {crop}x{crop} crops", file=sys.stderr)
                continue
            if warning:
                log.warning("%s: %s", path, warning)
            batch.append(pixels)
            names.append(path)
        if not batch:
            continue
        images, sizes = on_canvas(batch, runtime.device)
        index = torch.arange(len(batch), device=runtime.device)
        score = score_images(model, images, index, crop, saved["test_crops"], batch_size, runtime, sizes,
                             saved.get("target_scale", 1.0))
        score = clip_unit(score, str(checkpoint))
        native = to_native(score, tuple(saved["score_bounds"]))
        rows += [{"image": str(p), "prediction": n, "score": s} for p, n, s in zip(names, native, score)]
    table = pd.DataFrame(rows, columns=["image", "prediction", "score"])
    if output is None:
        table.to_csv(sys.stdout, index=False)
    else:
        write_text(output, table.to_csv(index=False))
        log.info("scored %d images (%d skipped) -> %s", len(rows), len(failures), output)
    return failures
