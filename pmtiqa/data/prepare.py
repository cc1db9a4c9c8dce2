"""The prepare stage: turn a dataset's published label file into ``data/prepared/<name>/labels.csv``.

The table is the contract of the stage graph (docs/engines.md) that every later stage reads: ``image``
(relative to ``data/raw/<name>/``), ``mos`` (as published), ``score`` (in [0, 1], higher always
better, from the dataset module's fixed LOW/HIGH bounds), ``group``, and what else the source gives
(``std``, ``distortion``, ``level``). No image is dropped for its score, and a table the later stages
would refuse is not written.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pmtiqa.core.atomic import atomic_path
from pmtiqa.core.errors import UserError
from pmtiqa.core.readers import check_labels, image_files
from pmtiqa.data.datasets import module, score_bounds, to_score

log = logging.getLogger(__name__)

COLUMNS = ("image", "mos", "score", "group", "std", "distortion", "level")


def prepare(name: str, raw_dir: Path, out_csv: Path, custom: dict | None = None) -> pd.DataFrame:
    """Parse ``raw_dir`` and write ``out_csv`` atomically; return the table written. ``custom``:
    params.custom_datasets, where ``name`` may be declared."""
    raw_dir, out_csv = Path(raw_dir), Path(out_csv)
    m = module(name, custom)
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir}: not found; run `pmtiqa download --dataset {name}` first")
    df = m.parse(raw_dir)
    mos = pd.to_numeric(df["mos"], errors="coerce").to_numpy(dtype=np.float64)  # text: refused below, by row
    df = df.assign(score=_scores(name, mos, custom), group=df["group"].astype(str))
    df = df[[c for c in COLUMNS if c in df.columns]]
    _check_prepared(df, raw_dir, out_csv)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    log.info("%s: %d images in %d groups -> %s", name, len(df), df["group"].nunique(), out_csv)
    return df


def _check_prepared(df: pd.DataFrame, raw_dir: Path, out_csv: Path) -> None:
    """Refuse to write a labels.csv that the later stages would refuse (readers.check_labels), or
    that names an image twice or outside raw_dir."""
    unwritten = Path(f"{out_csv} (not written)")
    check_labels(df, unwritten)
    image_files(df["image"].tolist(), raw_dir, unwritten)


def _scores(name: str, mos: np.ndarray, custom: dict | None) -> np.ndarray:
    """Normalised scores; values outside the published scale are clamped, with a warning.

    The bounds are chosen so that no released value falls outside them; a clamp therefore means an
    unexpected copy of the labels, worth a warning but not worth dropping images for.
    """
    score = to_score(name, mos, custom)
    outside = (score < 0) | (score > 1)
    if outside.any():
        low, high, _ = score_bounds(name, custom)
        log.warning("%s: %d score(s) outside the published scale %g..%g (e.g. %g): clamped to it",
                    name, int(outside.sum()), low, high, float(mos[outside][0]))
    return np.clip(score, 0.0, 1.0)
