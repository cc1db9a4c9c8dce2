"""Seeded, group-aware repeated splits: train / val / test row ids of labels.csv.

Each split permutes the sorted unique groups with ``numpy.random.default_rng([seed, k])``: the
same on every machine (no Python hash order), and split k does not change when ``n_splits``
grows, so finished training runs of the first splits stay valid. The test part takes
``test_fraction`` of the groups; validation takes ``val_fraction`` of the remaining groups; the
rest is train. Groups never straddle parts, so a reference image (live, csiq, synthetic) is never
seen on both sides; image-level datasets have one group per image. ``subset`` < 1 keeps only that
share of the groups, for quick runs.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pmtiqa.atomic import write_json
from pmtiqa.config import SplitParams
from pmtiqa.errors import UserError
from pmtiqa.readers import read_csv

log = logging.getLogger(__name__)


SUBSET_STREAM = 1_000_000  # the subset's random stream: default_rng([seed, SUBSET_STREAM]), far from split ids


def make_splits(groups: Sequence, n_splits: int, test_fraction: float, val_fraction: float,
                seed: int, subset: float = 1.0) -> dict:
    """``{"seed", "test_fraction", "val_fraction", "subset", "splits": [{"train", "val", "test"}, ...]}``.

    ``subset`` < 1 first keeps that share of the groups (one seeded choice for every split) and
    splits only those: a quick run on fewer images that is still split like the full one.
    """
    labels = np.array([str(g) for g in groups])  # str: one sort order whatever the CSV reader guessed
    unique, codes = np.unique(labels, return_inverse=True)  # sorted unique groups
    used = _subset(len(unique), subset, seed)
    if len(used) < 3:
        raise ValueError(f"need at least 3 groups to split into train, val and test, got {len(used)}"
                         + (f" (subset {subset:g} of {len(unique)})" if subset < 1 else ""))
    splits = []
    for k in range(n_splits):
        part = np.full(len(unique), -1, dtype=np.int64)  # -1: left out by the subset
        part[used] = _assign_groups(len(used), test_fraction, val_fraction, np.random.default_rng([seed, k]))
        rows = part[codes]
        splits.append({name: np.flatnonzero(rows == i).tolist() for i, name in enumerate(("train", "val", "test"))})
    return {"seed": seed, "test_fraction": test_fraction, "val_fraction": val_fraction, "subset": subset,
            "splits": splits}


def _subset(n_groups: int, subset: float, seed: int) -> np.ndarray:
    """Indices (sorted) of the groups a subset keeps; all of them when subset is 1."""
    if subset >= 1:
        return np.arange(n_groups)
    keep = max(1, round(subset * n_groups))
    return np.sort(np.random.default_rng([seed, SUBSET_STREAM]).permutation(n_groups)[:keep])


def _assign_groups(n_groups: int, test_fraction: float, val_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Part index (0 train, 1 val, 2 test) per group; every part gets at least one group."""
    n_test = min(max(1, round(test_fraction * n_groups)), n_groups - 2)
    n_val = min(max(1, round(val_fraction * (n_groups - n_test))), n_groups - n_test - 1)
    order = rng.permutation(n_groups)
    part = np.zeros(n_groups, dtype=np.int64)
    part[order[:n_test]] = 2
    part[order[n_test:n_test + n_val]] = 1
    return part


def write_splits(labels_csv: Path, out_json: Path, split_params: SplitParams) -> dict:
    """Read labels.csv, split it by ``group`` and write the splits JSON atomically."""
    labels_csv = Path(labels_csv)
    groups = read_csv(labels_csv, "run `pmtiqa prepare` for this dataset", ["group"], dtype={"group": str})["group"]
    if groups.isna().any():
        raise UserError(f"{labels_csv}: empty group in row {int(groups.isna().to_numpy().argmax()) + 1}")
    try:
        result = make_splits(groups.tolist(), split_params.n_splits, split_params.test_fraction,
                             split_params.val_fraction, split_params.seed, split_params.subset)
    except ValueError as err:
        raise UserError(f"{labels_csv}: {err}") from None
    result["n_rows"] = len(groups)
    write_json(out_json, result)
    log.info("%s: %d splits of %d rows (%d groups, subset %g) -> %s", labels_csv, split_params.n_splits,
             len(groups), groups.nunique(), split_params.subset, out_json)
    return result
