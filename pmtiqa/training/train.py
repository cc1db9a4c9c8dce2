"""The train stage, `pmtiqa train`: a variant's splits of one dataset, in turn (split_run.py) or
runtime.parallel_splits of them at once, a process each (parallel_splits.py). Either way a finished
split of the same settings, inputs and code is reused, and an unfinished one resumes; ``code`` is
the stage's code identity (pmtiqa/stages.py), which each run records."""
from __future__ import annotations

from pmtiqa.config.params import DatasetParams
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.training.parallel_splits import train_concurrently
from pmtiqa.training.split_run import train_in_turn


def train_splits(params: DatasetParams, files: DatasetFiles, variant: str, splits: list[int], code: dict,
                 progress: bool = True) -> None:
    at_once = min(params.runtime.parallel_splits, len(splits))
    if at_once > 1:
        train_concurrently(params, files, variant, splits, code, at_once)
    else:
        train_in_turn(params, files, variant, splits, code, progress)
