"""Crops, flips and normalisation as batched tensor ops on the training device.

The dataset lives on the device as one uint8 tensor (N, H, W, 3). A batch of crops is a single
gather: row and column index grids per sample pick the pixels, and a horizontal flip is just a
reversed column grid, so cropping and flipping cost one kernel and no copies of whole images.
The gathered (B, c, c, 3) block viewed as (B, 3, c, c) is already in channels_last layout.

Where a dataset keeps its images' own sizes (augment.size own), each image fills the top left of its
row and ``sizes`` (N, 2: width, height) bounds the crops drawn from it.
"""
from __future__ import annotations

import functools

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TEST_CROP_SEED = 20230103  # fixes the test-crop positions once and for all
RESUMED_CROP_SEED = 20230104  # a training run's crop draws, resumed where its own cannot go on (trainer.py)


def gather_crops(images: torch.Tensor, index: torch.Tensor, top: torch.Tensor, left: torch.Tensor,
                 flip: torch.Tensor | None = None, *, crop: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) images -> normalised float (B, 3, crop, crop) crops, channels_last.

    index, top, left (and flip) are (B,) tensors on the images' device.
    """
    steps = torch.arange(crop, device=images.device)
    rows = top[:, None] + steps  # (B, c)
    cols = left[:, None] + steps
    if flip is not None:
        cols = torch.where(flip[:, None], left[:, None] + (crop - 1) - steps, cols)
    pixels = images[index[:, None, None], rows[:, :, None], cols[:, None, :]]  # (B, c, c, 3)
    return normalize(pixels.permute(0, 3, 1, 2))


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, h, w) -> float, ImageNet mean/std, as one multiply-add per pixel."""
    scale, shift = normalisation(pixels.device)
    return torch.addcmul(shift, pixels.float(), scale).contiguous(memory_format=torch.channels_last)


@functools.cache
def normalisation(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) of normalize, made once per device: a copy from the host cannot be part of a
    CUDA graph, and a graph's first call (cuda_graphs.py) runs eagerly, which makes them."""
    scale = torch.tensor([1 / (255 * s) for s in IMAGENET_STD], device=device).view(1, 3, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)], device=device).view(1, 3, 1, 1)
    return scale, shift


def random_crops(images: torch.Tensor, index: torch.Tensor, crop: int, generator: torch.Generator,
                 sizes: torch.Tensor | None = None) -> torch.Tensor:
    """A random crop of each indexed image, flipped left-right with probability 1/2 (training)."""
    return gather_crops(images, index, *random_crop_draws(images, index, crop, generator, sizes), crop=crop)


def random_crop_draws(images: torch.Tensor, index: torch.Tensor, crop: int, generator: torch.Generator,
                      sizes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(top, left, flip) of a random crop of each indexed image: the draws alone, so that a CUDA graph
    can gather the pixels from buffers that hold them (cuda_graphs.py)."""
    _, height, width, _ = images.shape
    b = index.shape[0]
    device = images.device
    if sizes is None:  # every image fills its row
        top = torch.randint(0, height - crop + 1, (b,), device=device, generator=generator)
        left = torch.randint(0, width - crop + 1, (b,), device=device, generator=generator)
    else:  # each inside its own size: a uniform offset in 0..size - crop
        w, h = sizes[index].unbind(dim=1)
        top = (torch.rand(b, device=device, generator=generator) * (h - crop + 1)).long()
        left = (torch.rand(b, device=device, generator=generator) * (w - crop + 1)).long()
    flip = torch.rand(b, device=device, generator=generator) < 0.5
    return top, left, flip


def eval_crop_offsets(height: int, width: int, crop: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed (top, left) offsets of the test crops of an image of that size: the same for every
    image of that size, run and machine.

    The first crop is the centre; the others are drawn once from a fixed seed (the authors drew
    fresh random crops at every evaluation, which made the metric jitter).
    """
    g = torch.Generator().manual_seed(TEST_CROP_SEED)
    top = torch.randint(0, height - crop + 1, (count,), generator=g)
    left = torch.randint(0, width - crop + 1, (count,), generator=g)
    top[0], left[0] = (height - crop) // 2, (width - crop) // 2
    return top, left


def test_crop_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of an epoch's random test crops (train.random_test_crops, the authors' habit):
    new positions every epoch, the same ones again after a resume."""
    return torch.Generator().manual_seed(epoch_seed(TEST_CROP_SEED, seed, epoch))


def epoch_seed(kind: int, seed: int, epoch: int) -> int:
    """The seed of one kind of draws (a *_CROP_SEED) in one epoch of the run seeded ``seed``: the same
    after a resume, different for every run, epoch and kind."""
    return kind + 1_000_003 * seed + epoch


def random_crop_offsets(shapes: torch.Tensor, crop: int, count: int,
                        generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(top, left) of count uniform random crops of each image of (height, width) ``shapes`` (B, 2)."""
    limits = (shapes - crop + 1).repeat_interleave(count, dim=0).double()
    draws = torch.rand(limits.shape, generator=generator, dtype=torch.float64)
    top, left = (draws * limits).long().unbind(dim=1)
    return top, left


def eval_crops(images: torch.Tensor, index: torch.Tensor, crop: int, count: int,
               sizes: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """count test crops of each indexed image, as (B * count, 3, crop, crop), image-major: the fixed
    ones, or with a (CPU) ``generator`` random ones drawn from it."""
    return gather_crops(images, *eval_crop_plan(images, index, crop, count, sizes, generator), crop=crop)


def eval_crop_plan(images: torch.Tensor, index: torch.Tensor, crop: int, count: int,
                   sizes: torch.Tensor | None = None, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(image, top, left) of each of eval_crops' crops, on the images' device: image-major, count per image."""
    if generator is not None:
        _, height, width, _ = images.shape
        shapes = sizes[index].flip(1).cpu() if sizes is not None else torch.tensor([[height, width]] * len(index))
        top, left = random_crop_offsets(shapes, crop, count, generator)
    elif sizes is None:  # every image fills its row: one set of offsets for all
        _, height, width, _ = images.shape
        top, left = (t.repeat(len(index)) for t in eval_crop_offsets(height, width, crop, count))
    else:  # the set of each image's size (evaluation only: the sizes come to the host once per batch)
        shapes = [(h, w) for w, h in sizes[index].tolist()]
        offsets = {shape: eval_crop_offsets(*shape, crop, count) for shape in set(shapes)}
        top, left = (torch.cat([offsets[shape][i] for shape in shapes]) for i in (0, 1))
    return index.repeat_interleave(count), top.to(images.device), left.to(images.device)
