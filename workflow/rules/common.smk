# Shared by the .smk files: the validated params and per-dataset helpers.
import os
import shutil
from pathlib import Path

import yaml

from pmtiqa.config.load import params_from_dict
from pmtiqa.method.variants import VARIANTS
from pmtiqa.stages import OF_ALL_DATASETS, code_identity

# Every pmtiqa command reads params.yaml itself, so a value given only to Snakemake (--config,
# --configfile) would plan one graph and run another. Refuse it; edit params.yaml instead (or use
# `dvc exp run -S`, which edits it and records the run).
if config != yaml.safe_load(Path("params.yaml").read_text()):
    raise WorkflowError(
        "pmtiqa's commands read params.yaml, not Snakemake's --config/--configfile: "
        "put the change in params.yaml (or run `dvc exp run -S key=value`)"
    )

# Validated once, before any job: a bad key stops here with its path (pmtiqa/config/load.py).
PARAMS = params_from_dict(config, source="params.yaml")
ENV = "../envs/pmtiqa.yaml"  # relative to this folder, as Snakemake resolves conda: paths

# Each rule's `code` param is its stage's code identity (pmtiqa/stages.py, the one table both
# engines read): the digests of the modules that decide the stage's outputs, and a dataset of one's
# own's custom_datasets entry. Snakemake reruns a job when it changes (its params trigger), as DVC
# reruns a stage when its runs/code/ file does; an edit of a comment, a docstring or the layout
# changes nothing. Code as input files would rerun on every edit by their times, and a rerun
# deletes a job's outputs first: every split and study would start over.
def code(stage):
    if stage in OF_ALL_DATASETS:
        return lambda wildcards: code_identity(stage)
    return lambda wildcards: code_identity(stage, PARAMS.for_dataset(wildcards.dataset))


def n_splits(dataset):
    """The dataset's split count, its overrides applied (the demo has fewer splits)."""
    return PARAMS.for_dataset(dataset).split.n_splits


def settings(*sections):
    """A rule's `params:` entry: the settings its command reads for the dataset (overrides and the
    dataset's protocol applied), as plain values. Snakemake reruns a job when they change (its
    `params` rerun trigger), as DVC does from a stage's params list; runtime is never among them."""

    def values(wildcards):
        seen = PARAMS.for_dataset(wildcards.dataset)
        return {name: seen.section(name) for name in sections}

    return values


# What a training or tuning job computes with, and an augment job decodes with (runtime.threads and
# runtime.workers, 0 = every core the process may use): each job asks Snakemake for as
# many, so it runs alone where it takes every core. Snakemake's --cores schedules jobs; it never
# changes the thread count a run computes with, which must be the same under either engine.
CORES = len(os.sched_getaffinity(0))
THREADS = PARAMS.runtime.threads or CORES
WORKERS = PARAMS.runtime.workers or CORES


def computes_on_gpu(device):
    """Do the runs compute on a GPU? runtime.device says so, or (auto) the NVIDIA driver, which torch's
    CUDA needs, is installed: its nvidia-smi is found without importing torch for every Snakemake call."""
    if device != "auto":
        return device.startswith("cuda")
    return shutil.which("nvidia-smi") is not None


# What a device-bound job (tune, train, cross) asks Snakemake for. On a CPU: THREADS, so that one
# runs at a time (two would share the cores and only make both slower). On a GPU a run needs a core
# to launch its work, not every core: it asks for one (or runtime.threads), and the `gpu` resource
# (profiles/default: how many such jobs share the device at once) decides how many run together.
DEVICE_THREADS = (PARAMS.runtime.threads or 1) if computes_on_gpu(PARAMS.runtime.device) else THREADS


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
    return files + ["metrics/cross/summary.json"]


# The variants whose models pmtiqa cross tests, and its (train, test) pairs: pmtiqa.scoring.cross.pairs, not
# imported here because that module loads torch (tests/workflow/test_engines_agree.py checks the two agree).
CROSS_VARIANTS = [v for v in PARAMS.cross.variants if v in PARAMS.variants]
CROSS_PAIRS = [(a, b) for a in PARAMS.datasets for b in PARAMS.cross.datasets or PARAMS.datasets if a != b]


def cross_inputs(wildcards):
    """What `pmtiqa cross` reads: every split's model of cross.variants, and the selected datasets' caches."""
    return [f"data/cache/{ds}" for ds in PARAMS.datasets] + [
        model for ds in PARAMS.datasets for v in CROSS_VARIANTS for model in split_files(ds, v, "model.pt")]


def report_figures():
    """The figures `pmtiqa report` writes, as report() outputs with their captions (workflow/report/):
    Snakemake's own report (`snakemake --report report.html`) shows them under these categories.
    cross.png exists exactly when the report has a cross-dataset section: pmtiqa cross scored some
    pair with some variant."""
    def figure(name, caption, subcategory):
        return report(f"reports/figures/{name}.png", caption=f"../report/{caption}.rst", category="Figures",
                      subcategory=subcategory, labels={"figure": caption})

    figures = [figure("ablation", "ablation", "All datasets")]
    if CROSS_PAIRS and CROSS_VARIANTS:
        figures.append(figure("cross", "cross", "All datasets"))
    for dataset in PARAMS.datasets:
        figures += [figure(f"curves_{dataset}", "curves", dataset), figure(f"scatter_{dataset}", "scatter", dataset)]
    return figures
