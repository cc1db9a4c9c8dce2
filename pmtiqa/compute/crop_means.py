"""An image's score as the test images are scored: the mean of the network's scores over its test
crops, in batches larger than training's (inference keeps no activations for a backward pass). Used by train (every
epoch's test and validation parts), tune (the trials' held-out part), cross and predict."""
from __future__ import annotations

import math

import numpy as np
import torch

from pmtiqa.compute.crops import eval_crop_plan, gather_crops
from pmtiqa.compute.cuda_graphs import StaticCall
from pmtiqa.compute.runtime import Runtime

# Crops per batch when batches replay as CUDA graphs: wide enough that a batch, not its launches, sets
# the pace, and every batch of a part the same size (the last one padded) so that one graph serves all.
# At most GRAPH_BATCH_PIXELS of crops, because a graph holds its batch's activations for as long as it
# lives (about 9 MB a 224-pixel crop on ResNet-50 in bf16, with the MS module's fp32 copies): 256 such
# crops hold about 2.3 GB, as an eager batch of 250 does, so that several splits can share a GPU.
GRAPH_BATCH_CROPS = 1024
GRAPH_BATCH_PIXELS = 256 * 224 * 224


class CropMeans:
    """The normalised score of images of one uint8 tensor (a dataset on the device): the mean over
    each image's test crops (fixed, or drawn from a generator; ``sizes``: each image's own width and
    height, where they differ; crops.py), divided by the regression head's ``target_scale``
    (method.score_scales.target_scale). ``graphed``: batches replay as CUDA graphs on a GPU
    (cuda_graphs.py)."""

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, crop: int, crops: int, runtime: Runtime,
                 target_scale: float = 1.0, sizes: torch.Tensor | None = None, batch_size: int = 16,
                 graphed: bool = False):
        self.model, self.images, self.sizes, self.runtime = model, images, sizes, runtime
        self.crop, self.crops, self.target_scale = crop, crops, target_scale
        self.batch_size, self.graphed = batch_size, graphed
        capture = graphed and runtime.device.type == "cuda"
        self.score_batch = StaticCall(self.scores, capture, share_pool=True) if graphed else self.scores

    @torch.no_grad()
    def __call__(self, index: torch.Tensor, generator: torch.Generator | None = None) -> np.ndarray:
        if len(index) == 0:
            return np.zeros(0)
        plan = eval_crop_plan(self.images, index, self.crop, self.crops, self.sizes, generator)
        per_batch = self.images_per_batch(len(index))
        was_training = self.model.training
        self.model.eval()
        out = []
        for start in range(0, len(index), per_batch):
            count = min(per_batch, len(index) - start)
            part = [p[start * self.crops:(start + count) * self.crops] for p in plan]
            if self.graphed:  # the last batch padded with its last image's crops: one shape for all
                part = [torch.cat([p, p[-self.crops:].repeat(per_batch - count)]) for p in part]
            out.append(self.score_batch(*part)[:count].clone())  # a replay's result is overwritten by the next
        self.model.train(was_training)
        return torch.cat(out).cpu().double().numpy()

    def scores(self, image: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """The mean score of each image of a batch of crops, image-major (eval_crop_plan's order)."""
        x = gather_crops(self.images, image, top, left, crop=self.crop)
        with self.runtime.autocast():
            score, _ = self.model(x)
        return score.float().view(-1, self.crops).mean(dim=1) / self.target_scale

    def images_per_batch(self, n: int) -> int:
        """Images scored per batch. Inference keeps no activations for a backward pass, so far larger
        batches than training's fit; large ones keep a GPU busy. Graphed, the batches of n images
        are as equal as can be (the padding of the last one stays small)."""
        if not self.graphed:
            return max(1, max(256, self.batch_size * 4) // self.crops)
        most = max(1, min(GRAPH_BATCH_CROPS, GRAPH_BATCH_PIXELS // self.crop**2) // self.crops)
        return math.ceil(n / math.ceil(n / most))


def crop_means(model: torch.nn.Module, images: torch.Tensor, index: torch.Tensor, crop: int, crops: int,
                 batch_size: int, runtime: Runtime, sizes: torch.Tensor | None = None, target_scale: float = 1.0,
                 generator: torch.Generator | None = None) -> np.ndarray:
    """CropMeans's scores of the indexed images, eagerly: images that change from call to call."""
    return CropMeans(model, images, crop, crops, runtime, target_scale, sizes, batch_size)(index, generator)
