"""`pmtiqa predict`: score any images with a trained model.pt.

Each image is decoded and resized exactly as the augment stage prepared the training images (or
kept at its own size, for a dataset whose images keep their own size), then scored as the test images were: the
mean over the same fixed crops. Scores come out on the scale of
the dataset the model was trained on (`prediction`) and normalised to 0..1, higher better (`score`);
a score the network puts outside 0..1 is clipped to it, with a warning that names the model.

Everything the user gave is checked before the model is loaded or any image decoded: the inputs
(a folder with no files is a bad argument), the --output path and the --device. An input that
cannot be scored (not an image, smaller than the crops, not a regular file) is named and skipped.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pmtiqa.atomic import write_text
from pmtiqa.config import DEVICE_NAME
from pmtiqa.errors import UserError
from pmtiqa.inference import score_images
from pmtiqa.model_file import model_from, read_model
from pmtiqa.readers import file_kind
from pmtiqa.runtime import Runtime, resolve_runtime
from pmtiqa.scores import clip_unit, to_published

log = logging.getLogger(__name__)

class Unscorable(Exception):
    """Why one input is skipped; the others are still scored."""


def predict_runtime(device: str) -> Runtime:
    """The runtime predict scores on; a --device the machine cannot give is named as such."""
    if not DEVICE_NAME.fullmatch(device):
        raise UserError(f"--device {device!r}: not a device (auto, cpu, cuda or cuda:N)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: this torch sees no CUDA device (use auto or cpu)")
    if ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
        raise UserError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s), "
                        f"numbered from 0")
    return resolve_runtime(device, "auto", 0)


def within(size: tuple[int, int], largest: list[int]) -> tuple[int, int] | None:
    """None (the image's own size) when it fits inside the largest training width and height; else
    the size that shrinks it to fit, its aspect kept: the model never saw content at a finer scale."""
    scale = min(largest[0] / size[0], largest[1] / size[1])
    return None if scale >= 1 else (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def on_canvas(pixels: list[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images as one uint8 (N, H, W, 3) tensor, each at the top left, and their (width, height) where
    they differ in size (as the cache of an own-size dataset holds them)."""
    sizes = np.array([[p.shape[1], p.shape[0]] for p in pixels])
    width, height = sizes.max(axis=0)
    if (sizes == [width, height]).all():
        return torch.from_numpy(np.stack(pixels)).to(device), None
    canvas = np.zeros((len(pixels), height, width, 3), dtype=np.uint8)
    for row, p in zip(canvas, pixels):
        row[:p.shape[0], :p.shape[1]] = p
    return torch.from_numpy(canvas).to(device), torch.from_numpy(sizes).to(device)


def not_regular(path: Path) -> str | None:
    """Why ``path`` is not a file to open (opening a FIFO would wait for a writer), or None."""
    kind = file_kind(path)
    if kind == "file":
        return None
    if kind == "missing":
        return "a broken symbolic link" if path.is_symlink() else "no such file"
    return f"{kind}, not a regular file"


def folder_entries(folder: Path) -> list[Path]:
    """Everything below a folder that is not itself a folder and not hidden, sorted."""
    entries = sorted(p for p in folder.rglob("*") if not is_hidden(p.relative_to(folder)) and not p.is_dir())
    if not entries:
        raise UserError(f"{folder}: a folder with no files to score")
    return entries


def is_hidden(relative: Path) -> bool:
    """Is it, or a folder it lies in, named with a leading '.' (.git, .DS_Store, an editor's backup)?"""
    return any(part.startswith(".") for part in relative.parts)


def expand_inputs(inputs: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The regular files to score (a folder's, recursively) and the (path, reason) of each entry that
    is not one. A missing path, or a folder with no files, is a bad argument."""
    entries = []
    for path in inputs:
        if path.is_dir():
            entries.extend(folder_entries(path))
        elif path.exists() or path.is_symlink():
            entries.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    reasons = [(path, not_regular(path)) for path in entries]
    return [p for p, why in reasons if why is None], [(p, why) for p, why in reasons if why is not None]


def check_output(output: Path, checkpoint: Path) -> None:
    """Refuse, before any image is scored, an --output that cannot be written or whose writing would
    destroy the model or an image (an earlier table is what it is for, and is replaced)."""
    if output.is_dir():
        raise UserError(f"--output {output}: a folder; name a CSV file (e.g. {output / 'scores.csv'})")
    if output.exists() and output.samefile(checkpoint):
        raise UserError(f"--output {output}: the model file; writing scores there would destroy it")
    if output.exists() and is_image(output):
        raise UserError(f"--output {output}: an image; writing scores there would destroy it")
    folder = next(p for p in output.absolute().parents if p.exists())  # the write creates those missing
    if not folder.is_dir():
        raise UserError(f"--output {output}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise UserError(f"--output {output}: the folder {folder} is not writable")


def without_output(files: list[Path], output: Path) -> list[Path]:
    """The inputs less --output: a table of an earlier run, in a folder this run scores, is replaced, not read."""
    return [p for p in files if not (output.exists() and p.samefile(output))]


def image_size_of(path: Path) -> tuple[int, int]:
    """(width, height) of an image as decode returns it, from its header; Unscorable if it has none."""
    from pmtiqa.cache import upright_size

    try:
        return upright_size(path)
    except UserError as err:  # its message starts with the path, which the skip line names already
        raise Unscorable(f"not a readable image ({str(err).removeprefix(f'{path}: ')})") from None


def is_image(path: Path) -> bool:
    try:
        image_size_of(path)
    except Unscorable:
        return False
    return True


def prepared(path: Path, saved: dict) -> tuple[np.ndarray, str | None]:
    """An image as the model sees it, plus a decoding warning or None; Unscorable naming why not.
    Its own size decides whether it holds a crop: the resize to the training size would upscale it."""
    from pmtiqa.cache import decode

    crop, size = saved["crop_size"], saved["image_size"]  # (width, height); None: each image's own
    width, height = image_size_of(path)
    if min(width, height) < crop:
        raise Unscorable(f"{width}x{height} is smaller than the model's {crop}x{crop} crops")
    try:
        pixels, warning = decode(path, tuple(size) if size else within((width, height), saved["max_image_size"]))
    except Exception as err:  # Pillow raises many types for a file it cannot read
        raise Unscorable(f"not a readable image ({err})") from None
    if min(pixels.shape[:2]) < crop:  # shrunk, its aspect kept, to fit the training images
        raise Unscorable(f"{width}x{height}, shrunk to {pixels.shape[1]}x{pixels.shape[0]} to fit the training "
                         f"images, is smaller than the model's {crop}x{crop} crops")
    return pixels, warning


def prepared_batch(paths: list[Path], saved: dict, failures: list[tuple[Path, str]]
                   ) -> tuple[list[np.ndarray], list[Path]]:
    """The pixels and paths of those ``paths`` the model can score; each other one is named and added
    to ``failures``."""
    batch, names = [], []
    for path in paths:
        try:
            pixels, warning = prepared(path, saved)
        except Unscorable as why:
            failures.append((path, str(why)))
            say_skipped(path, str(why))
            continue
        if warning:
            log.warning("%s: %s", path, warning)
        batch.append(pixels)
        names.append(path)
    return batch, names


def say_skipped(path: Path, reason: str) -> None:
    print(f"pmtiqa predict: skipped {path}: {reason}", file=sys.stderr)


def score_batch(model: torch.nn.Module, saved: dict, pixels: list[np.ndarray], runtime: Runtime,
                batch_size: int, checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    """(prediction on the dataset's scale, score in 0..1) of each image."""
    images, sizes = on_canvas(pixels, runtime.device)
    index = torch.arange(len(pixels), device=runtime.device)
    score = score_images(model, images, index, saved["crop_size"], saved["test_crops"], batch_size, runtime,
                         sizes, saved.get("target_scale", 1.0))
    score = clip_unit(score, str(checkpoint))
    return to_published(score, tuple(saved["score_bounds"])), score


def write_table(rows: list[dict], output: Path | None) -> None:
    table = pd.DataFrame(rows, columns=["image", "prediction", "score"])
    if output is None:
        table.to_csv(sys.stdout, index=False)
    else:
        write_text(output, table.to_csv(index=False))


def predict_paths(checkpoint: Path, inputs: list[Path], output: Path | None = None, batch_size: int = 16,
                  device: str = "auto") -> list[tuple[Path, str]]:
    """Score every image; returns the (path, reason) of each input that could not be scored. When none
    could be, nothing is written (an --output of an earlier run is kept)."""
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
    saved = read_model(checkpoint)
    files, failures = expand_inputs(inputs)
    if output is not None:
        check_output(output, checkpoint)
        files = without_output(files, output)
    runtime = predict_runtime(device)
    model = model_from(checkpoint, saved, runtime.device)
    for path, reason in failures:
        say_skipped(path, reason)
    rows = []
    for start in tqdm(range(0, len(files), batch_size), desc="predict", unit="batch", disable=len(files) <= batch_size):
        batch, names = prepared_batch(files[start:start + batch_size], saved, failures)
        if batch:
            published, score = score_batch(model, saved, batch, runtime, batch_size, checkpoint)
            rows += [{"image": str(p), "prediction": n, "score": s} for p, n, s in zip(names, published, score)]
    if not rows:
        print(f"pmtiqa predict: none of the {len(failures)} inputs could be scored; nothing written", file=sys.stderr)
        return failures
    write_table(rows, output)
    if output is not None:
        log.info("scored %d images (%d skipped) -> %s", len(rows), len(failures), output)
    return failures
