"""The selections a split's metrics.json reports: the test metrics of the epoch each rule picks.

One training run gives all of them: ``final`` (the last epoch), ``val`` (the best on the validation
part, where the split has one) and ``best_test`` (the best on the test part: the authors' protocol,
optimistic, for comparison only). Here they are defined, computed at the end of a run, and checked
where summaries and reports read them back.
"""
from __future__ import annotations

import json

import numpy as np

from pmtiqa.core.errors import UserError

SELECTIONS = ("final", "val", "best_test")  # in the order reports list them
# Every run holds these; `val` only where its split has a validation part (split.val_fraction > 0).
REQUIRED_SELECTIONS = ("final", "best_test")
SELECTION_NOTES = {
    "final": "the last epoch",
    "val": "the epoch with the best SRCC on the validation part (carved from train)",
    "best_test": "the epoch with the best SRCC on the TEST part: the authors' optimistic protocol, for comparison only",
}


def selected_metrics(history: list[dict], val_epoch: int | None) -> dict:
    """metrics.json: the test metrics (each history row's ``test``) of the last epoch, of the epoch
    the validation part chose (``val_epoch``, 1-based; None where the split has no validation part)
    and of the best epoch on test."""
    by_test = max(history, key=lambda r: r["test"]["srcc"] if np.isfinite(r["test"]["srcc"]) else -np.inf)
    metrics = {"final": {**history[-1]["test"], "epoch": history[-1]["epoch"]}}
    if val_epoch is not None:
        metrics["val"] = {**history[val_epoch - 1]["test"], "epoch": val_epoch}
    metrics["best_test"] = {**by_test["test"], "epoch": by_test["epoch"]}
    return metrics


def held_selections(metrics: dict) -> tuple[str, ...]:
    """The selections that ``metrics`` (a split's metrics.json, or a summary) holds, in SELECTIONS order."""
    return tuple(s for s in SELECTIONS if s in metrics)


def honest_selection(selections) -> str:
    """The selection no test image helped choose: `val` where the splits have a validation part, else
    `final` (the last epoch, chosen by no data at all)."""
    return "val" if "val" in selections else "final"


def json_kind(value: object) -> str:
    """What JSON calls the kind of a value it gave."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return {list: "an array", str: "a string", dict: "an object"}.get(type(value), "a number")


def same_selections(metrics: list[dict], files: list, what: str, fix: str) -> tuple[str, ...]:
    """The selections every one of ``metrics`` (read from ``files``) holds, final and best_test among
    them; stop, naming the first file that differs, where they disagree: ``what`` were trained with
    different split.val_fraction (on different training parts), and a summary or comparison over
    them would mix two protocols."""
    for path, held in zip(files, metrics):
        if not isinstance(held, dict):
            raise UserError(f"{path}: holds no selections ({json_kind(held)} where a mapping belongs), not final and "
                            f"best_test; {fix}")
        if not set(REQUIRED_SELECTIONS) <= set(held):
            raise UserError(f"{path}: holds the selections {', '.join(held_selections(held)) or 'none'}, not final "
                            f"and best_test; {fix}")
        for sel in held_selections(held):
            if not isinstance(held[sel], dict):
                raise UserError(f"{path}: its `{sel}` selection is {json.dumps(held[sel])}, not a mapping of metrics; "
                                f"{fix}")
    held = held_selections(metrics[0])
    for path, other in zip(files[1:], metrics[1:]):
        if held_selections(other) != held:
            raise UserError(f"{path}: holds the selections {', '.join(held_selections(other)) or 'none'} where "
                            f"{files[0]} holds {', '.join(held)}: {what} were trained with different "
                            f"split.val_fraction; {fix}")
    return held
