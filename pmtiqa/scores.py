"""The two scales a score lives on: a dataset's published one (MOS or DMOS) and the network's.

The network predicts a normalised score in [0, 1] where higher is always better; ``bounds`` is a
dataset's ``(low, high, higher_is_better)`` (datasets.score_bounds, and what model.pt carries so
that predict needs no dataset). Both functions work on floats, numpy arrays and tensors.
"""
from __future__ import annotations

Bounds = tuple[float, float, bool]


def to_unit(mos, bounds: Bounds):
    """Published score -> [0, 1], higher is better."""
    low, high, higher_is_better = bounds
    unit = (mos - low) / (high - low)
    return unit if higher_is_better else 1.0 - unit


def to_native(score01, bounds: Bounds):
    """Normalised score in [0, 1] (higher is better) -> the published scale."""
    low, high, higher_is_better = bounds
    unit = score01 if higher_is_better else 1.0 - score01
    return low + unit * (high - low)
