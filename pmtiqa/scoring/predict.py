"""`pmtiqa predict`: the command line over pmtiqa.scoring.api, for files and folders.

Each image is decoded and resized as the augment stage prepared the training images (or kept at
its own size, for a dataset whose images keep their own size), then scored as the test images
were: the mean over the same fixed crops. Scores come out on the scale of the dataset the model
was trained on (`prediction`) and normalised to 0..1, higher better (`score`); a score the network
puts outside 0..1 is clipped to it, with a warning that names the model.

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

from pmtiqa.compute.model_file import read_model
from pmtiqa.core.atomic import write_text
from pmtiqa.core.errors import UserError
from pmtiqa.core.progress import progress_bar
from pmtiqa.core.readers import file_kind
from pmtiqa.method.score_scales import clip_unit, to_published
from pmtiqa.scoring.api import Scorer, Unscorable, image_size_of, prepared

log = logging.getLogger(__name__)

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


SCORES_HEADER = "image,prediction,score"  # the first line of what predict writes


def first_line(path: Path) -> str:
    with path.open("rb") as file:
        return file.readline(200).decode("utf-8", "replace").strip()


def check_output(output: Path, checkpoint: Path) -> None:
    """Refuse, before any image is scored, an --output that cannot be written or whose writing would
    destroy the model or an image (an earlier table is what it is for, and is replaced)."""
    if output.is_dir():
        raise UserError(f"--output {output}: a folder; name a CSV file (e.g. {output / 'scores.csv'})")
    if output.exists() and output.samefile(checkpoint):
        raise UserError(f"--output {output}: the model file; writing scores there would destroy it")
    if output.exists() and is_image(output):
        raise UserError(f"--output {output}: an image; writing scores there would destroy it")
    if output.is_file() and output.stat().st_size and first_line(output) != SCORES_HEADER:
        raise UserError(f"--output {output}: a file that is not an earlier table of scores (its first line is not "
                        f"{SCORES_HEADER!r}); writing there would destroy it: name another, or remove it first")
    folder = next(p for p in output.absolute().parents if p.exists())  # the write creates those missing
    if not folder.is_dir():
        raise UserError(f"--output {output}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise UserError(f"--output {output}: the folder {folder} is not writable")


def without_output(files: list[Path], output: Path) -> list[Path]:
    """The inputs less --output: a table of an earlier run, in a folder this run scores, is replaced, not read."""
    return [p for p in files if not (output.exists() and p.samefile(output))]


def is_image(path: Path) -> bool:
    try:
        image_size_of(path)
    except Unscorable:
        return False
    return True


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


def write_table(rows: list[dict], output: Path | None) -> None:
    table = pd.DataFrame(rows, columns=SCORES_HEADER.split(","))
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
    saved = read_model(checkpoint)  # checked before any input or device
    files, failures = expand_inputs(inputs)
    if output is not None:
        check_output(output, checkpoint)
        files = without_output(files, output)
    scorer = Scorer(checkpoint, device, batch_size, saved)
    for path, reason in failures:
        say_skipped(path, reason)
    rows = []
    for start in progress_bar(range(0, len(files), batch_size), show=len(files) > batch_size, desc="predict",
                              unit="batch"):
        batch, names = prepared_batch(files[start:start + batch_size], saved, failures)
        if batch:
            score = clip_unit(scorer.score_arrays(batch), str(checkpoint))
            published = to_published(score, scorer.bounds)
            rows += [{"image": str(p), "prediction": n, "score": s} for p, n, s in zip(names, published, score)]
    if not rows:
        print(f"pmtiqa predict: none of the {len(failures)} inputs could be scored; nothing written", file=sys.stderr)
        return failures
    write_table(rows, output)
    if output is not None:
        log.info("scored %d images (%d skipped) -> %s", len(rows), len(failures), output)
    return failures
