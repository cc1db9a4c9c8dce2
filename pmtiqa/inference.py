"""Scoring images with a network as the test images are scored: the mean over fixed crops of each,
batched larger than training's (inference keeps no activations). Used by train (every epoch's test
and validation parts), tune (the trials' held-out part) and predict."""
from __future__ import annotations

import numpy as np
import torch

from pmtiqa.crops import eval_crops
from pmtiqa.runtime import Runtime


@torch.no_grad()
def score_images(model: torch.nn.Module, images: torch.Tensor, index: torch.Tensor, crop: int, crops: int,
                 batch_size: int, runtime: Runtime, sizes: torch.Tensor | None = None, target_scale: float = 1.0,
                 generator: torch.Generator | None = None) -> np.ndarray:
    """The model's normalised score of each indexed image: the mean over its test crops (fixed, or
    drawn from ``generator``; ``sizes``: each image's own width and height, where they differ;
    crops.py), divided by the regression head's ``target_scale`` (scores.target_scale)."""
    was_training = model.training
    model.eval()
    # Inference keeps no activations for a backward pass, so far larger batches than training's fit;
    # large ones keep a GPU busy (at training's batch of 12 it waits on kernel launches).
    per_batch = max(1, max(256, batch_size * 4) // crops)
    out = []
    for start in range(0, len(index), per_batch):
        part = index[start:start + per_batch]
        with runtime.autocast():
            score, _ = model(eval_crops(images, part, crop, crops, sizes, generator))
        out.append(score.float().view(len(part), crops).mean(dim=1) / target_scale)
    model.train(was_training)
    return torch.cat(out).cpu().double().numpy() if out else np.zeros(0)
