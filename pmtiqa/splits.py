"""Seeded, group-aware repeated splits: train / val / test row ids of labels.csv.

Each split permutes the sorted unique groups with ``numpy.random.default_rng([seed, k])``: the
same on every machine (no Python hash order), and split k does not change when ``n_splits``
grows, so finished training runs of the first splits stay valid. The test part takes
``test_fraction`` of the groups; validation takes ``val_fraction`` of the remaining groups; the
rest is train. Groups never straddle parts, so a reference (live, csiq) or a source photo
(synthetic) is never seen on both sides; image-level datasets have one group per image.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pmtiqa.atomic import write_json
from pmtiqa.config import SplitParams
from pmtiqa.errors import UserError

log = logging.getLogger(__name__)


def make_splits(groups: Sequence, n_splits: int, test_fraction: float, val_fraction: float,
                seed: int) -> dict:
    """``{"seed", "test_fraction", "val_fraction", "splits": [{"train", "val", "test"}, ...]}``."""
    labels = np.array([str(g) for g in groups])  # str: one sort order whatever the CSV reader guessed
    unique, codes = np.unique(labels, return_inverse=True)  # sorted unique groups
    if len(unique) < 3:
        raise ValueError(f"need at least 3 groups to split into train, val and test, got {len(unique)}")
    splits = []
    for k in range(n_splits):
        part = _assign_groups(len(unique), test_fraction, val_fraction, np.random.default_rng([seed, k]))
        rows = part[codes]
        splits.append({name: np.flatnonzero(rows == i).tolist() for i, name in enumerate(("train", "val", "test"))})
    return {"seed": seed, "test_fraction": test_fraction, "val_fraction": val_fraction, "splits": splits}


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
    if not labels_csv.is_file():
        raise UserError(f"{labels_csv}: not found; run `pmtiqa prepare` for this dataset first")
    try:
        groups = pd.read_csv(labels_csv, usecols=["group"], dtype={"group": str})["group"]
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UserError(f"{labels_csv}: cannot read the group column ({err})") from None
    if groups.isna().any():
        raise UserError(f"{labels_csv}: empty group in row {int(groups.isna().to_numpy().argmax()) + 1}")
    try:
        result = make_splits(groups.tolist(), split_params.n_splits, split_params.test_fraction,
                             split_params.val_fraction, split_params.seed)
    except ValueError as err:
        raise UserError(f"{labels_csv}: {err}") from None
    result["n_rows"] = len(groups)
    write_json(out_json, result)
    log.info("%s: %d splits of %d rows (%d groups) -> %s", labels_csv, split_params.n_splits, len(groups),
             groups.nunique(), out_json)
    return result
