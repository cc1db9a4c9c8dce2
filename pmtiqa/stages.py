"""The graph's stages and the code that decides each one's outputs: what both engines rerun a stage
for, and what a finished run records of the code that computed it.

A stage's code is the import closure of its module, read from the source, less two floors that
decide no output of their own: core/ (it writes, reads and names failures) and config/ (it decides
the settings, which the engines and the runs record by value). Of the dataset modules it keeps only
its own dataset's, which states the protocol each of that dataset's stages runs; a dataset of one's
own has its custom_datasets entry instead (data/datasets/custom.py reads it). Each module counts by
its syntax (core/source_digest.py): an edit of a comment, a docstring or the layout changes nothing.

The identity of a stage for a dataset: {"modules": {module: digest}, "dataset": its custom_datasets
entry or None}, and for download the source it is taken from. DVC's stages depend on it through
`pmtiqa code`'s files (runs/code/), Snakemake's rules through their params; train and tune record it.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from pmtiqa.config.params import DatasetParams, Params
from pmtiqa.config.sections import KNOWN_DATASETS
from pmtiqa.core.atomic import atomic_dir, write_json
from pmtiqa.core.source_digest import closure, package_modules, syntax_digest

PACKAGE = Path(__file__).resolve().parent
# Each stage's module: the one its `pmtiqa <command>` hands the work to.
STAGES = {
    "download": "pmtiqa.data.download",
    "prepare": "pmtiqa.data.prepare",
    "split": "pmtiqa.data.splits",
    "augment": "pmtiqa.data.augment",
    "tune": "pmtiqa.tuning.tune",
    "train": "pmtiqa.training.train",
    "evaluate": "pmtiqa.reporting.evaluate",
    "cross": "pmtiqa.scoring.cross",
    "report": "pmtiqa.reporting.report",
}
OF_ALL_DATASETS = ("cross", "report")  # the others run once per dataset
NO_OUTPUT_OF_THEIR_OWN = ("pmtiqa.core", "pmtiqa.config")
# One dataset's module each: a built-in dataset's, or the one that reads a custom_datasets entry.
DATASET_MODULES = {name: f"pmtiqa.data.datasets.{name}" for name in (*KNOWN_DATASETS, "custom")}
CODE_DIR = Path("runs/code")  # pmtiqa code: one identity file per stage (and dataset) for DVC


def dataset_module(dataset: str) -> str:
    return DATASET_MODULES[dataset if dataset in KNOWN_DATASETS else "custom"]


@functools.cache
def code_modules(stage: str, dataset: str | None = None) -> tuple[str, ...]:
    """The modules that decide the stage's outputs (for ``dataset``), sorted."""
    known = package_modules(PACKAGE)
    own = dataset_module(dataset) if dataset else None

    def enter(module: str) -> bool:
        if any(module == floor or module.startswith(floor + ".") for floor in NO_OUTPUT_OF_THEIR_OWN):
            return False
        # another dataset's module states another protocol (cross and report read every dataset's)
        return own is None or module == own or module not in DATASET_MODULES.values()

    roots = [STAGES[stage], *([own] if own else [])]
    return tuple(sorted(closure(roots, known, enter)))


def code_identity(stage: str, params: DatasetParams | None = None) -> dict:
    """What decides a stage's outputs besides its input files and its settings: the digest of each
    module of its code, and for a dataset's stage (``params``: that dataset's view) its
    custom_datasets entry (None for a built-in dataset) and, for download, the source it is taken from."""
    known = package_modules(PACKAGE)
    dataset = None if stage in OF_ALL_DATASETS or params is None else params.dataset
    identity = {"modules": {m: syntax_digest(known[m])[:16] for m in code_modules(stage, dataset)}}
    if dataset is not None:
        entry = params.custom_datasets.get(dataset)
        identity["dataset"] = None if entry is None else dataclasses.asdict(entry)
    if stage == "download":
        identity["source"] = params.download_source
    return identity


def identity_file(stage: str, dataset: str | None = None) -> Path:
    """runs/code/<stage>@<dataset>.json (runs/code/<stage>.json for cross and report): what DVC's
    stage of that name depends on."""
    return CODE_DIR / (f"{stage}.json" if stage in OF_ALL_DATASETS else f"{stage}@{dataset}.json")


def write_code_identities(params: Params) -> None:
    """`pmtiqa code`: runs/code/, one file per stage of each selected dataset, and one each for
    cross and report, replaced in one step. A file's content changes exactly when its stage's code
    identity does, which is what DVC compares."""
    with atomic_dir(CODE_DIR) as folder:
        for stage in STAGES:
            views = [None] if stage in OF_ALL_DATASETS else [params.for_dataset(ds) for ds in params.datasets]
            for view in views:
                name = identity_file(stage, view.dataset if view else None).name
                write_json(folder / name, code_identity(stage, view))
