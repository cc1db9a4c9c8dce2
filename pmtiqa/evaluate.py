"""Test-time scoring with fixed crops, and aggregation of a variant's metrics over its splits."""
from __future__ import annotations

import logging

import numpy as np
import torch

from pmtiqa import paths
from pmtiqa.atomic import write_json
from pmtiqa.config import Params
from pmtiqa.crops import eval_crops
from pmtiqa.metrics import aggregate
from pmtiqa.readers import read_json
from pmtiqa.runtime import Runtime

log = logging.getLogger(__name__)

SELECTIONS = ("final", "val", "best_test")
SELECTION_NOTES = {
    "final": "the last epoch",
    "val": "the epoch with the best SRCC on the validation part (carved from train)",
    "best_test": "the epoch with the best SRCC on the TEST part: the authors' optimistic protocol, for comparison only",
}


@torch.no_grad()
def score_images(model: torch.nn.Module, images: torch.Tensor, index: torch.Tensor, crop: int, crops: int,
                 batch_size: int, runtime: Runtime, sizes: torch.Tensor | None = None) -> np.ndarray:
    """The model's normalised score of each indexed image: the mean over its fixed test crops
    (``sizes``: each image's own width and height, where they differ; crops.py)."""
    was_training = model.training
    model.eval()
    # Inference keeps no activations for a backward pass, so far larger batches than training's fit;
    # large ones keep a GPU busy (at training's batch of 12 it waits on kernel launches).
    per_batch = max(1, max(256, batch_size * 4) // crops)
    out = []
    for start in range(0, len(index), per_batch):
        part = index[start:start + per_batch]
        with runtime.autocast():
            score, _ = model(eval_crops(images, part, crop, crops, sizes))
        out.append(score.float().view(len(part), crops).mean(dim=1))
    model.train(was_training)
    return torch.cat(out).cpu().double().numpy() if out else np.zeros(0)


def evaluate_variant(params: Params, dataset: str, variant: str) -> dict:
    """metrics/<ds>/<variant>.json: every split's metrics and their median, mean, std and quartiles."""
    params = params.for_dataset(dataset)  # idempotent: as train, tune and report, whoever calls
    per_split = []
    for k in range(params.split.n_splits):
        path = paths.train_dir(dataset, variant, k) / "metrics.json"
        per_split.append(read_json(path, f"run `pmtiqa train --dataset {dataset} --variant {variant} --split {k}`"))
    summary = {}
    for sel in SELECTIONS:
        names = [m for m in per_split[0][sel] if m != "epoch"]
        summary[sel] = {name: aggregate(s[sel][name] for s in per_split) for name in names}
    result = {
        "dataset": dataset,
        "variant": variant,
        "n_splits": len(per_split),
        "selections": SELECTION_NOTES,
        "summary": summary,
        "splits": per_split,
    }
    out = paths.metrics_json(dataset, variant)
    write_json(out, result)
    med = summary["val"]
    log.info("%s/%s over %d splits (val selection): median SRCC %.4f (IQR %.4f), PLCC %.4f -> %s", dataset, variant,
             len(per_split), med["srcc"]["median"], med["srcc"]["iqr"], med["plcc"]["median"], out)
    return result
