"""The dataset registry: each dataset's module (what base.py says it gives: source, layout, parser,
score scale) looked up by name, and its published scale mapped onto [0, 1] with higher always better,
for prepare (pmtiqa/data/prepare.py) and the trainer.
"""
from __future__ import annotations

from types import ModuleType

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets import bid, csiq, koniq, live, livec, synthetic
from pmtiqa.data.datasets.custom import CustomDataset
from pmtiqa.method import score_scales

MODULES: dict[str, ModuleType] = {
    "synthetic": synthetic,
    "bid": bid,
    "livec": livec,
    "live": live,
    "csiq": csiq,
    "koniq": koniq,
}


def module(name: str, custom: dict | None = None):
    """The module of a built-in dataset, or the CustomDataset of a ``custom`` (params.custom_datasets) entry."""
    if name in MODULES:
        return MODULES[name]
    if custom and name in custom:
        return CustomDataset(name, custom[name])
    raise UserError(f"unknown dataset {name!r} (known: {', '.join([*MODULES, *(custom or {})])})")


def score_bounds(name: str, custom: dict | None = None) -> tuple[float, float, bool]:
    """(low, high, higher_is_better) of the dataset's published scale."""
    m = module(name, custom)
    return float(m.LOW), float(m.HIGH), bool(m.HIGHER_IS_BETTER)


def to_score(name: str, mos, custom: dict | None = None):
    """Published score -> [0, 1], higher is better (score_scales.to_unit with the dataset's bounds)."""
    return score_scales.to_unit(mos, score_bounds(name, custom))
