"""Seeded, group-aware repeated splits: train / val / test row ids of labels.csv.

Each split permutes the sorted unique groups with ``numpy.random.default_rng([seed, k])``: the
same on every machine (no Python hash order), and split k does not change when ``n_splits``
grows, so finished training runs of the first splits stay valid. The test part takes
``test_fraction`` of the groups; validation takes ``val_fraction`` of the remaining groups (none
at 0, the paper's protocol: train is then the whole 80 %); the rest is train. Groups never straddle parts, so a reference image (live, csiq, synthetic) is never
seen on both sides; image-level datasets have one group per image. ``subset`` < 1 keeps only that
share of the groups, for quick runs.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pmtiqa.core.atomic import write_json
from pmtiqa.core.errors import UserError
from pmtiqa.core.readers import read_json, read_labels

log = logging.getLogger(__name__)


# The random streams of default_rng([seed, stream]) other than the splits' own (stream = split id)
SUBSET_STREAM = 1_000_000  # which groups a subset keeps
HOLD_OUT_STREAM = 2_000_000  # which groups tuning holds out of a train part
PARTS = ("train", "val", "test")
RERUN_SPLIT = "run `pmtiqa split` for this dataset again"


def make_splits(groups: Sequence, n_splits: int, test_fraction: float, val_fraction: float,
                seed: int, subset: float = 1.0) -> dict:
    """``{"seed", "test_fraction", "val_fraction", "subset", "splits": [{"train", "val", "test"}, ...]}``.

    ``subset`` < 1 first keeps that share of the groups (one seeded choice for every split) and
    splits only those: a quick run on fewer images that is still split like the full one.
    """
    labels = np.array([str(g) for g in groups])  # str: one sort order whatever the CSV reader guessed
    unique, codes = np.unique(labels, return_inverse=True)  # sorted unique groups
    used = _subset(len(unique), subset, seed)
    parts = "train, val and test" if val_fraction > 0 else "train and test"
    if len(used) < (3 if val_fraction > 0 else 2):
        raise ValueError(f"need at least {3 if val_fraction > 0 else 2} groups to split into {parts}, got {len(used)}"
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


def _share(fraction: float, n: int, keep: int) -> int:
    """How many of n groups a fraction takes: at least one (none for a fraction of 0), and never
    so many that fewer than `keep` remain."""
    return 0 if fraction == 0 else min(max(1, round(fraction * n)), n - keep)


def _assign_groups(n_groups: int, test_fraction: float, val_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Part index (0 train, 1 val, 2 test) per group; train and test get at least one group, and so
    does val unless val_fraction is 0."""
    n_test = _share(test_fraction, n_groups, 1 + (val_fraction > 0))
    n_val = _share(val_fraction, n_groups - n_test, 1)
    order = rng.permutation(n_groups)
    part = np.zeros(n_groups, dtype=np.int64)
    part[order[:n_test]] = 2
    part[order[n_test:n_test + n_val]] = 1
    return part


def hold_out(ids: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held): ``ids`` parted by group, the held part taking ``fraction`` of their groups
    (seeded; at least one group on each side). How tuning scores its trials inside a train part."""
    unique, codes = np.unique(np.asarray(groups)[ids].astype(str), return_inverse=True)
    if len(unique) < 2:
        raise ValueError(f"need at least 2 groups to hold some out, got {len(unique)}")
    held_groups = np.random.default_rng([seed, HOLD_OUT_STREAM]).permutation(len(unique))[:_share(fraction, len(unique), 1)]
    held = np.isin(codes, held_groups)
    return ids[~held], ids[held]


def write_splits(labels_csv: Path, out_json: Path, *, n_splits: int, test_fraction: float, val_fraction: float,
                 seed: int, subset: float = 1.0) -> dict:
    """Read labels.csv, split it by ``group`` (make_splits, the params' split section) and write the
    splits JSON atomically."""
    labels_csv = Path(labels_csv)
    labels = read_labels(labels_csv)
    groups = labels["group"]
    try:
        result = make_splits(groups.tolist(), n_splits, test_fraction, val_fraction, seed, subset)
    except ValueError as err:  # too few groups: the label file's fault, the params being valid
        raise UserError(f"{labels_csv}: {err}") from None
    check_ranked(result, labels["score"].to_numpy(), groups.astype(str).to_numpy(), labels_csv)
    result["n_rows"] = len(groups)
    check_splits(result, len(groups), out_json)  # never write what training would refuse
    write_json(out_json, result)
    log.info("%s: %d splits of %d rows (%d groups, subset %g) -> %s", labels_csv, n_splits, len(groups),
             groups.nunique(), subset, out_json)
    return result


def check_ranked(result: dict, scores: np.ndarray, groups: np.ndarray, labels_csv: Path) -> None:
    """Stop where a split's test or validation part cannot give an SRCC (fewer than two different
    scores), which would otherwise finish the split with a null SRCC. The message names the split and
    the part, and the smallest fraction, or number of groups, that gives the part two groups."""
    fractions = {"test": result["test_fraction"], "val": result["val_fraction"]}
    for k, split in enumerate(result["splits"]):
        for part in ("test", "val"):
            ids = split[part]
            if not ids or len(np.unique(scores[ids])) >= 2:
                continue
            used = len(np.unique(groups[[i for p in PARTS for i in split[p]]]))
            head = (f"{labels_csv}: split {k}'s {part} part holds {len(ids)} image(s) of one score, and an SRCC "
                    f"needs two different scores")
            taken = _groups_in(part, used, fractions)
            if taken >= 2:  # groups enough; their scores are tied
                raise UserError(f"{head}: its {taken} groups all score {scores[ids[0]]:g}; check the scores")
            key = f"split.{part}_fraction"
            larger = next((f / 100 for f in range(1, 100) if _groups_in(part, used, {**fractions, part: f / 100}) >= 2
                           and _groups_in("train", used, {**fractions, part: f / 100}) >= 1), None)
            more = next(n for n in itertools.count(used + 1) if _groups_in(part, n, fractions) >= 2)  # fractions > 0: it ends
            raise UserError(f"{head}: {key} {fractions[part]:g} of {used} groups takes {taken}; "
                            + (f"{key} {larger:g} takes two, as would " if larger else "")
                            + f"{more} groups at {fractions[part]:g}")


def _groups_in(part: str, n_groups: int, fractions: dict) -> int:
    """How many of n_groups a split gives the part (as _assign_groups parts them)."""
    n_test = _share(fractions["test"], n_groups, 1 + (fractions["val"] > 0))
    n_val = _share(fractions["val"], n_groups - n_test, 1)
    return {"test": n_test, "val": n_val, "train": n_groups - n_test - n_val}[part]


def read_splits(path: Path, n_rows: int, rerun: str) -> list[dict[str, list[int]]]:
    """The splits of a splits JSON, checked against the ``n_rows`` rows of labels.csv (check_splits);
    a missing file stops with its path and ``rerun``."""
    return check_splits(read_json(Path(path), rerun), n_rows, Path(path))


def check_split_count(held: int, n_splits: int, path: Path, dataset: str) -> None:
    """Stop where the splits file holds fewer splits than split.n_splits asks for."""
    if held < n_splits:
        raise UserError(f"{path}: holds {held} splits, params ask for {n_splits}; run `pmtiqa split --dataset "
                        f"{dataset}` again")


def check_splits(raw: Any, n_rows: int, path: Path) -> list[dict[str, list[int]]]:
    """``raw["splits"]`` of a splits JSON read from ``path``, refused with one line naming the file,
    split, part and value unless it is splits of ``n_rows`` rows: a list of {"train", "val", "test"}
    lists of distinct integer row ids in 0..n_rows-1, train and test never empty."""
    if not isinstance(raw, dict) or not isinstance(raw.get("splits"), list) or not raw["splits"]:
        raise UserError(f"{path}: not a splits file (no list of splits); {RERUN_SPLIT}")
    if raw.get("n_rows") != n_rows:
        raise UserError(f"{path}: n_rows {raw.get('n_rows')!r}, but labels.csv has {n_rows} rows; {RERUN_SPLIT}")
    for k, split in enumerate(raw["splits"]):
        _check_split(split, n_rows, f"{path}: splits[{k}]")
    return raw["splits"]


def _check_split(split: Any, n_rows: int, where: str) -> None:
    if not isinstance(split, dict) or sorted(split) != sorted(PARTS):
        raise UserError(f"{where}: expected the parts {', '.join(PARTS)}, got {split!r:.80}; {RERUN_SPLIT}")
    seen: dict[int, str] = {}
    for part in PARTS:
        ids = split[part]
        if not isinstance(ids, list) or (part != "val" and not ids):
            raise UserError(f"{where}.{part}: " + ("empty" if isinstance(ids, list) else f"not a list: {ids!r:.80}")
                            + f"; {RERUN_SPLIT}")
        for i in ids:
            _check_row_id(i, n_rows, f"{where}.{part}")
            if i in seen:
                raise UserError(f"{where}.{part}: row {i} is also in {seen[i]}; {RERUN_SPLIT}")
            seen[i] = part


def _check_row_id(value: Any, n_rows: int, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where}: {value!r} is not a row id (an integer); {RERUN_SPLIT}")
    if not 0 <= value < n_rows:
        raise UserError(f"{where}: row id {value} outside 0..{n_rows - 1}; {RERUN_SPLIT}")
