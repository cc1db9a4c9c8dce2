"""The cross-dataset matrix the report draws and tabulates: a cell per dataset trained on (row) and
dataset tested on (column) for each variant. Off the diagonal, what `pmtiqa cross` measured (each
split's model of the row dataset on every image of the column one); on it, the row dataset's own
test SRCC on its honest selection, from the results the report loaded, so that a cross number reads
against what the same models do within their dataset."""
from __future__ import annotations

import math

from pmtiqa.method.metrics import aggregate
from pmtiqa.method.variants import VARIANTS
from pmtiqa.reporting.sample_size import split_test_sizes
from pmtiqa.training.selections import honest_selection


def matrix_variants(pairs: dict, variants: list[str]) -> list[str]:
    """The variants of ``variants`` that `pmtiqa cross` evaluated (where none was, those the pairs hold)."""
    held = {v for by_variant in pairs.values() for v in by_variant}
    return [v for v in variants if v in held] or [v for v in VARIANTS if v in held]


def pair_cell(medians: dict) -> dict:
    """A cross pair's cell; a summary of an older `pmtiqa cross`, without each split's values, gives
    the median alone. An undefined split value (NaN) is skipped, as evaluate skips it."""
    n = medians.get("n_images")
    cell = {"within": False, "n": None if n is None or math.isnan(n) else n}
    for m in ("srcc", "plcc"):
        splits = medians.get(f"{m}_splits")
        held = aggregate(splits) if isinstance(splits, list) else dict.fromkeys(("q1", "q3", "iqr"), math.nan)
        cell[m] = {**held, "median": medians[f"{m}_median"]}
    return cell


def within_cell(result: dict, variant: str) -> dict | None:
    """The diagonal: the variant's test metrics over its dataset's splits on the honest selection,
    as evaluate's summary holds them."""
    if variant not in result["variants"]:
        return None
    summary = result["variants"][variant]["metrics"]["summary"][honest_selection(result["selections"])]
    sizes = split_test_sizes(result)  # n, the fewest, decides the dagger
    return {"within": True, "n": min(sizes), "sizes": sizes, **{m: summary[m] for m in ("srcc", "plcc")}}


def cross_matrix(pairs: dict, results: dict, variants: list[str]) -> dict:
    """{"datasets", "variants", "cells": {variant: {(row, column): cell or None}}}: every dataset of a
    pair, sorted, is both a row (trained on) and a column (tested on), so that each has its diagonal
    cell. A cell holds "srcc" and "plcc" (median, q1, q3, iqr over the row dataset's splits), "n" (the
    images each split's value rests on, None where unknown) and "within" (the diagonal)."""
    datasets = sorted({ds for pair in pairs for ds in pair.split("-to-")})
    shown = matrix_variants(pairs, variants)
    cells = {}
    for v in shown:
        for a in datasets:
            for b in datasets:
                if a == b:
                    cell = within_cell(results[a], v) if a in results else None
                else:
                    medians = pairs.get(f"{a}-to-{b}", {}).get(v)
                    cell = None if medians is None else pair_cell(medians)
                cells.setdefault(v, {})[(a, b)] = cell
    return {"datasets": datasets, "variants": shown, "cells": cells}
