# Shared by the .smk files: the validated params and per-dataset helpers.
import dataclasses
from pathlib import Path

import yaml

from pmtiqa.config import KNOWN_DATASETS, fingerprint, params_from_dict
from pmtiqa.variants import VARIANTS

# Every pmtiqa command reads params.yaml itself, so a value given only to Snakemake (--config,
# --configfile) would plan one graph and run another. Refuse it; edit params.yaml instead (or use
# `dvc exp run -S`, which edits it and records the run).
if config != yaml.safe_load(Path("params.yaml").read_text()):
    raise WorkflowError(
        "pmtiqa's commands read params.yaml, not Snakemake's --config/--configfile: "
        "put the change in params.yaml (or run `dvc exp run -S key=value`)"
    )

# Validated once, before any job: a bad key stops here with its path (config.py).
PARAMS = params_from_dict(config, source="params.yaml")
ENV = "../envs/pmtiqa.yaml"  # relative to this folder, as Snakemake resolves conda: paths


def n_splits(dataset):
    """The dataset's split count, its overrides applied (the demo has fewer splits)."""
    return PARAMS.for_dataset(dataset).split.n_splits


def computed_params(dataset):
    """The dataset's params, overrides applied, without the settings that change where and how fast
    a job runs but not what it computes (TrainParams.without_runtime): a rerun deletes a job's
    outputs first, so those must never trigger one."""
    seen = PARAMS.for_dataset(dataset)
    return dataclasses.replace(seen, train=seen.train.without_runtime())


def params_of(*sections):
    """A rule's `params:` entry: a fingerprint of the sections its command reads for the dataset,
    so that Snakemake reruns a job when one of them changes (its `params` rerun trigger), as DVC
    does from its per-stage params lists."""

    def value(wildcards):
        seen = computed_params(wildcards.dataset)
        return fingerprint(*(getattr(seen, name) for name in sections))

    return value


def split_files(dataset, variant, name):
    return expand(
        "runs/train/{dataset}/{variant}/split{k}/{name}",
        dataset=dataset,
        variant=variant,
        k=range(n_splits(dataset)),
        name=name,
    )


def report_inputs(wildcards):
    """Everything `pmtiqa report` reads, so that `snakemake reports` alone is complete."""
    files = []
    for dataset in PARAMS.datasets:
        files.append(f"runs/tune/{dataset}/best.json")
        for variant in PARAMS.variants:
            files.append(f"metrics/{dataset}/{variant}.json")
            files += split_files(dataset, variant, ["history.csv", "predictions.csv"])
    return files
