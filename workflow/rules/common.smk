# Shared by the .smk files: the validated params and per-dataset helpers.
import dataclasses
from pathlib import Path

import yaml

from pmtiqa.config import KNOWN_DATASETS, REPORT_SETTINGS, fingerprint, params_from_dict
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

# Code inputs: the same files as these stages' dvc.yaml deps (tests/test_graph.py compares), so that
# an edit of a stage's code reruns it in both engines. Snakemake reruns a job whose input file is
# newer with other contents, and the jobs after it only where its outputs then differ; but a folder
# counts as changed whenever it is rewritten, and a job's outputs are deleted before it runs. So
# download (a rerun deletes what a user placed in data/raw/), augment (its new folder would retrain
# every split), tune and train (every study and split would start over, where DVC's stages resume
# and reuse finished splits whose fingerprint matches) leave their code out: after an edit, rerun
# what should rerun by name, `snakemake -f data/cache/livec`.
PREPARE_CODE = ["pmtiqa/datasets/__init__.py", "pmtiqa/datasets/base.py", "pmtiqa/datasets/matfile.py",
                "pmtiqa/datasets/{dataset}.py", "pmtiqa/scores.py", "pmtiqa/readers.py"]
SPLIT_CODE = ["pmtiqa/splits.py", "pmtiqa/readers.py"]
EVALUATE_CODE = ["pmtiqa/evaluate.py", "pmtiqa/metrics.py", "pmtiqa/readers.py"]
REPORT_CODE = ["pmtiqa/report.py", "pmtiqa/readers.py"]


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
