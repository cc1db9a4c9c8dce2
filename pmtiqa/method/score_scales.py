"""The two scales a score lives on: a dataset's published one (MOS or DMOS) and the network's.

The network predicts a normalised score in [0, 1] where higher is always better; ``bounds`` is a
dataset's ``(low, high, higher_is_better)`` (data.datasets.score_bounds, and what model.pt carries so
that predict needs no dataset). Both functions work on floats, numpy arrays and tensors.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

Bounds = tuple[float, float, bool]


def to_unit(mos, bounds: Bounds):
    """Published score -> [0, 1], higher is better."""
    low, high, higher_is_better = bounds
    unit = (mos - low) / (high - low)
    return unit if higher_is_better else 1.0 - unit


def to_published(score01, bounds: Bounds):
    """Normalised score in [0, 1] (higher is better) -> the published scale."""
    low, high, higher_is_better = bounds
    unit = score01 if higher_is_better else 1.0 - score01
    return low + unit * (high - low)


def target_scale(target: str, bounds: Bounds) -> float:
    """What the regression head learns per unit of normalised score (loss.target): the width of the
    published scale (``published``: L1 in MOS units, the authors' balance of the two tasks) or 1."""
    low, high, _ = bounds
    return float(high - low) if target == "published" else 1.0


def clip_unit(score01: np.ndarray, source: str) -> np.ndarray:
    """Normalised scores clipped to 0..1, with a warning naming ``source`` when any lay outside:
    a score is never emitted off its scale silently."""
    score01 = np.asarray(score01, dtype=np.float64)
    outside = (score01 < 0) | (score01 > 1)
    if outside.any():
        log.warning("%s: %d of %d scores lay outside 0..1 (%.3f to %.3f) and were clipped", source,
                    int(outside.sum()), len(score01), float(np.nanmin(score01)), float(np.nanmax(score01)))
    if np.isnan(score01).any():
        log.warning("%s: %d of %d scores are not numbers (the network's output is NaN)", source,
                    int(np.isnan(score01).sum()), len(score01))
    return np.clip(score01, 0.0, 1.0)
