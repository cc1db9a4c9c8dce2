"""`pmtiqa evaluate`: a variant's metrics over its splits (median, mean, std, quartiles), for the
selections the splits hold (training/selections.py), refusing splits that do not belong together
(training/finished.py)."""
from __future__ import annotations

import logging
import math
from pathlib import Path

from pmtiqa.config.params import DatasetParams
from pmtiqa.core.atomic import write_json
from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.core.readers import read_json
from pmtiqa.method.metrics import aggregate, correlation_in_range
from pmtiqa.training.finished import check_runs
from pmtiqa.training.selections import SELECTION_NOTES, honest_selection, same_selections

log = logging.getLogger(__name__)


def checked_selections(per_split: list[dict], files: list[Path], rerun: str) -> tuple[str, ...]:
    """The selections every split's metrics.json (read from ``files``) holds, each holding the same
    metrics as numbers a run computes; stop, naming the file, where one does not."""
    selections = same_selections(per_split, files, "its splits", rerun)
    check_same_metrics(per_split, files, selections, rerun)
    return selections


def summary_of(per_split: list[dict], selections: tuple[str, ...]) -> dict:
    """Per selection, each metric's statistics over the splits (method/metrics.py's aggregate)."""
    return {sel: {name: aggregate(s[sel][name] for s in per_split) for name in per_split[0][sel] if name != "epoch"}
            for sel in selections}


def check_same_metrics(per_split: list[dict], files: list[Path], selections, rerun: str) -> None:
    """Stop, naming the file, where a split's selection lacks a metric of split 0's or is no mapping
    of numbers (a hand-edited or damaged metrics.json)."""
    for path, metrics in zip(files, per_split):
        for sel in selections:
            held = metrics[sel]
            if set(held) != set(per_split[0][sel]) or not all(
                    v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in held.values()):
                raise UserError(f"{path}: its `{sel}` selection is not the metrics of {files[0]} "
                                f"({', '.join(per_split[0][sel])}) as numbers; {rerun}")
            for key, value in held.items():
                if value is not None and not plausible(key, value):
                    raise UserError(f"{path}: {sel}.{key} is {value!r}, which no run computes; {rerun}")


def plausible(key: str, value: float) -> bool:
    """A value a metrics.json can hold: a correlation in -1..1, an RMSE of 0 or more, an epoch from 1."""
    if key == "rmse":
        return math.isfinite(value) and value >= 0
    if key == "epoch":
        return value == int(value) and value >= 1
    return correlation_in_range(value)  # srcc, plcc, plcc_logistic, krcc


def evaluate_variant(params: DatasetParams, dataset_files: DatasetFiles, variant: str) -> dict:
    """metrics/<ds>/<variant>.json: every split's metrics and their median, mean, std and quartiles,
    for the selections the splits hold."""
    dataset = dataset_files.dataset
    files = [dataset_files.run(variant, k) / "metrics.json" for k in range(params.split.n_splits)]
    per_split = [read_json(path, f"run `pmtiqa train --dataset {dataset} --variant {variant} --split {k}`")
                 for k, path in enumerate(files)]
    rerun = f"rerun the training of every split of {dataset}/{variant} with the current params (`dvc repro` or `snakemake`)"
    selections = checked_selections(per_split, files, rerun)
    check_runs(dataset, variant, [path.with_name("run.json") for path in files], rerun)
    summary = summary_of(per_split, selections)
    result = {
        "dataset": dataset,
        "variant": variant,
        "n_splits": len(per_split),
        "selections": {sel: SELECTION_NOTES[sel] for sel in selections},
        "summary": summary,
        "splits": per_split,
    }
    out = dataset_files.metrics(variant)
    write_json(out, result)
    honest = honest_selection(selections)
    med = summary[honest]
    log.info("%s/%s over %d splits (%s selection): median SRCC %.4f (IQR %.4f), PLCC %.4f -> %s", dataset, variant,
             len(per_split), honest, med["srcc"]["median"], med["srcc"]["iqr"], med["plcc"]["median"], out)
    return result
