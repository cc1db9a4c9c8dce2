"""`pmtiqa cross`: cross-dataset evaluation, inference only. Every split's model of a dataset A (for
the variants of cross.variants) scores every image of each other dataset B of cross.datasets, as
B's protocol prepared them (its augment cache) and with the model's own test crops; the scores, on
B's published scale, are compared with B's published ones. The model of a split is the one it kept
(model.pt: the `val` epoch where the splits have a validation part, else the last).

Writes metrics/cross/<A>-to-<B>/<variant>.json (each split's SRCC, PLCC raw and logistic, KRCC,
RMSE, and their median, mean, std and quartiles: the shape of the evaluate stage's files) and
metrics/cross/summary.json (what the report's matrix shows of every pair: the median SRCC and PLCC,
each split's, and the number of images tested), replacing the folder in one step. KonIQ-trained
models tested on the others is the field's common benchmark: add koniq to `datasets` for it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from pmtiqa.compute.crop_means import crop_means
from pmtiqa.compute.model_file import model_from, read_model
from pmtiqa.compute.runtime import Runtime, resolve_runtime
from pmtiqa.config.params import DatasetParams, Params
from pmtiqa.core.atomic import atomic_dir, write_json
from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.data.augment import load_cache
from pmtiqa.data.datasets import score_bounds
from pmtiqa.method.metrics import aggregate, all_metrics
from pmtiqa.method.score_scales import to_published
from pmtiqa.training.finished import check_model, check_runs

log = logging.getLogger(__name__)

SELECTION = "kept"  # the model each split kept (model.pt)
RETRAIN = "train every split of the cross variants again (`dvc repro` or `snakemake`)"


def pairs(params: Params) -> list[tuple[str, str]]:
    """(train A, test B): every selected dataset against every other of cross.datasets."""
    tested = params.cross.datasets or params.datasets
    return [(a, b) for a in params.datasets for b in tested if a != b]


def cross_evaluate(params: Params, files: dict[str, DatasetFiles], out: Path) -> dict:
    """Score every pair's test images with every split's model of the train dataset; write ``out``."""
    r = params.runtime
    runtime = resolve_runtime(r.device, r.precision, r.threads, r.compile, r.step)
    variants = [v for v in params.cross.variants if v in params.variants]
    views = {ds: params.for_dataset(ds) for ds in params.datasets}
    recorded = check_inputs(params, views, files, variants)
    if not pairs(params) or not variants:
        log.info("nothing to compare: %s; %s lists no pairs", "one dataset selected" if not pairs(params) else
                 "no variant of cross.variants is among variants", out / "summary.json")
    summary = {}
    with atomic_dir(out) as tmp:
        for b in sorted({b for _, b in pairs(params)}):
            test = TestSet(files[b], score_bounds(b, params.custom_datasets), runtime)
            for a in [a for a, tested in pairs(params) if tested == b]:
                n_splits = views[a].split.n_splits
                for v in variants:
                    result = pair_result(a, b, v, [files[a].run(v, k) / "model.pt" for k in range(n_splits)],
                                         recorded[(a, v)], test, runtime)
                    write_json(tmp / f"{a}-to-{b}" / f"{v}.json", result)
                    stats = result["summary"][SELECTION]
                    summary.setdefault(f"{a}-to-{b}", {})[v] = pair_summary(result, len(test.mos))
                    log.info("%s -> %s, %s: median SRCC %.4f over %d splits", a, b, v, stats["srcc"]["median"],
                             n_splits)
        write_json(tmp / "summary.json", {"pairs": summary, "selection": SELECTION})
    return summary


def pair_summary(result: dict, n_images: int) -> dict:
    """What the report's matrix shows of a pair: the medians, each split's SRCC and PLCC (the spread
    over splits) and the number of images each split's value rests on."""
    stats = result["summary"][SELECTION]
    return {"srcc_median": stats["srcc"]["median"], "plcc_median": stats["plcc"]["median"],
            **{f"{m}_splits": [s[SELECTION][m] for s in result["splits"]] for m in ("srcc", "plcc")},
            "n_images": n_images}


def check_inputs(params: Params, views: dict[str, DatasetParams], files: dict[str, DatasetFiles],
                 variants: list[str]) -> dict[tuple[str, str], list[dict]]:
    """Before any work: every model exists, the splits of each train dataset and variant belong
    together (training/finished.py), and every train dataset's crops fit in every test dataset's
    images (one line naming what is missing, what does not belong or what does not fit). Each train
    dataset and variant's run.json files as read, split k at k."""
    missing = [files[a].run(v, k) / "model.pt" for a in params.datasets for v in variants
               for k in range(views[a].split.n_splits)
               if any(a == train for train, _ in pairs(params)) and not (files[a].run(v, k) / "model.pt").is_file()]
    if missing:
        raise UserError(f"{missing[0]}: missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                        + "; train every split of the cross variants first (`dvc repro` or `snakemake`)")
    recorded = {(a, v): check_runs(a, v, [files[a].run(v, k) / "run.json" for k in range(views[a].split.n_splits)],
                                   RETRAIN)
                for a in sorted({a for a, _ in pairs(params)}) for v in variants}
    for a, b in pairs(params):
        cache = load_cache(files[b].cache, params.for_dataset(b).made_as)
        smallest = smallest_side(cache.images.shape, cache.sizes)
        crop = views[a].train.crop_size
        if smallest < crop:
            raise UserError(f"{files[b].cache}: {b}'s smallest image side is {smallest}, below the {crop}-pixel crops "
                            f"of {a}'s models (train.crop_size); leave {b} out of cross.datasets")
    return recorded


def smallest_side(shape: tuple, sizes: np.ndarray | None) -> int:
    """The smallest image side of a cache: its canvas's, or (own sizes) the smallest of its images'."""
    return int(min(shape[1:3]) if sizes is None else sizes.min())


class TestSet:
    """A dataset's images as its augment cache holds them, on the device, with its published scores."""

    def __init__(self, files: DatasetFiles, bounds: tuple, runtime: Runtime):
        cache = load_cache(files.cache)
        self.images = torch.from_numpy(np.array(cache.images)).to(runtime.device)
        self.sizes = None if cache.sizes is None else torch.from_numpy(cache.sizes).to(runtime.device)
        self.mos = cache.labels["mos"].to_numpy(np.float64)
        self.bounds = bounds
        self.index = torch.arange(len(self.mos), device=runtime.device)
        self.smallest = smallest_side(cache.images.shape, cache.sizes)


def pair_result(a: str, b: str, variant: str, models: list[Path], runs: list[dict], test: TestSet,
                runtime: Runtime) -> dict:
    """The metrics of each split's model of ``a`` (``runs``: the run.json beside each, as read) on every
    image of ``b``, and their aggregates."""
    splits = []
    for path, run in zip(models, runs, strict=True):
        saved = read_model(path)
        check_model(path, saved, run, RETRAIN)
        if test.smallest < saved["crop_size"]:  # a model trained with other crops than params say now
            raise UserError(f"{path}: its {saved['crop_size']}-pixel crops do not fit in {b}'s images (the smallest "
                            f"side is {test.smallest}); leave {b} out of cross.datasets")
        model = model_from(path, saved, runtime.device)
        unit = crop_means(model, test.images, test.index, saved["crop_size"], saved["test_crops"], 64, runtime,
                            test.sizes, saved.get("target_scale", 1.0))
        splits.append({SELECTION: all_metrics(to_published(unit, test.bounds), test.mos)})
    names = list(splits[0][SELECTION])
    return {"train": a, "test": b, "variant": variant, "n_splits": len(splits),
            "selections": {SELECTION: "the model each split of the train dataset kept (model.pt)"},
            "summary": {SELECTION: {name: aggregate(s[SELECTION][name] for s in splits) for name in names}},
            "splits": splits}
