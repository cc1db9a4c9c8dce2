"""A trained model.pt as a Python scorer: the images in, their quality out, as evaluation scores them.

    import pmtiqa
    scorer = pmtiqa.load("runs/train/livec/ms_pmt/split0/model.pt")
    scorer("photo.jpg")                 # tensor([63.2...]): on the dataset's published scale (LIVEC: MOS)
    scorer.unit(["a.png", "b.png"])     # 0..1, higher is better
    quality = scorer.as_loss()          # differentiable: (N, 3, H, W) in 0..1 -> (N,) in about 0..1

An image is resized as the model's training images were (or kept at its own size, shrunk to fit the
largest training image, for a model of a dataset whose images keep their own sizes) and scored as
the mean over the same fixed test crops. Files, Pillow images and HxWx3 uint8 arrays are resized
with Pillow as the augment stage does; a float tensor batch with bilinear, antialiased
interpolation, which keeps it differentiable. Scores are clipped to the scale, with a warning that
names the model, except those of as_loss(): a clipped score has no gradient.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from pmtiqa.compute.crop_means import crop_means
from pmtiqa.compute.crops import IMAGENET_MEAN, IMAGENET_STD, eval_crop_offsets
from pmtiqa.compute.model_file import model_from, read_model
from pmtiqa.compute.runtime import Runtime, resolve_device, resolve_runtime
from pmtiqa.config.sections import DEVICE_NAME
from pmtiqa.core.errors import UserError
from pmtiqa.data.images import UPRIGHT, as_viewed, decode, decoded_size
from pmtiqa.method.score_scales import clip_unit, to_published


class Unscorable(UserError):
    """Why an image cannot be scored (not an image, or smaller than the model's crops)."""


def load(path: str | Path, device: str | torch.device | None = None, batch_size: int = 16) -> "Scorer":
    """The scorer of a model.pt written by `pmtiqa train`, on ``device`` (auto: CUDA when present)."""
    return Scorer(Path(path), str(device) if device is not None else "auto", batch_size)


def runtime_on(device: str) -> Runtime:
    """The runtime a scorer runs on; a device the machine cannot give is named as such."""
    if not DEVICE_NAME.fullmatch(device):
        raise UserError(f"--device {device!r}: not a device (auto, cpu, cuda or cuda:N)")
    resolve_device(device, "--device")  # named as the option where the machine lacks it
    return resolve_runtime(device, "auto", 0)


class Scorer:
    """The network of a model.pt, frozen, with what scoring an image needs."""

    def __init__(self, path: Path, device: str = "auto", batch_size: int = 16, saved: dict | None = None):
        """``saved``: the model.pt's dict where the caller has read (and so checked) it already."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"--batch-size {batch_size!r}: must be a whole number, at least 1")
        self.path, self.batch_size = path, batch_size
        self.saved = saved if saved is not None else read_model(path)
        self.runtime = runtime_on(device)
        self.model = model_from(path, self.saved, self.runtime.device).requires_grad_(False)
        self.bounds = tuple(self.saved["score_bounds"])
        self.crop, self.crops = self.saved["crop_size"], self.saved["test_crops"]
        self.target_scale = self.saved.get("target_scale", 1.0)

    def __call__(self, images) -> torch.Tensor:
        """Scores on the published scale of the dataset the model learnt (MOS, or DMOS: lower is better)."""
        return torch.from_numpy(to_published(self.unit(images).numpy(), self.bounds))

    def unit(self, images) -> torch.Tensor:
        """Scores in 0..1, higher is better, one per image (float64, on the CPU)."""
        if isinstance(images, torch.Tensor):
            with torch.no_grad():
                score = self.quality(images).double().cpu().numpy()
        else:  # decoded and scored batch_size at a time: the memory a call takes stays bounded
            images = as_list(images)
            score = np.concatenate([np.zeros(0)] + [
                self.score_arrays([self.pixels(image) for image in images[start:start + self.batch_size]])
                for start in range(0, len(images), self.batch_size)])
        return torch.from_numpy(clip_unit(score, str(self.path)))

    def as_loss(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """``quality(x)``: the unclipped 0..1 score (higher is better) of a float batch (N, 3, H, W) in
        0..1, differentiable with respect to x; minimise ``1 - quality(x)`` to raise the quality."""
        return self.quality

    def quality(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise UserError(f"expected a float tensor (N, 3, H, W) in 0..1, got {x.dtype} {tuple(x.shape)}")
        if len(x) == 0:  # no image, no score (as for an empty list)
            return x.new_zeros(0)
        if min(x.shape[2:]) < self.crop:  # its own size decides: a resize to the training size would upscale it
            raise Unscorable(f"{x.shape[3]}x{x.shape[2]} is smaller than the model's {self.crop}x{self.crop} crops")
        if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise UserError(f"expected a float tensor in 0..1, got values from {float(x.min()):g} to {float(x.max()):g}"
                            + ("" if torch.isfinite(x).all() else " and some that are not numbers"))
        x = x.to(self.runtime.device, torch.float32)  # float64 or float16 in: the network computes in float32
        x = self.resized(x)
        height, width = x.shape[2:]
        if min(height, width) < self.crop:  # shrunk, its aspect kept, to fit the training images
            raise Unscorable(f"{x.shape[3]}x{x.shape[2]} after the resize is smaller than the model's crops")
        top, left = eval_crop_offsets(height, width, self.crop, self.crops)
        crops = torch.stack([x[:, :, t:t + self.crop, l:l + self.crop] for t, l in zip(top.tolist(), left.tolist())],
                            dim=1).flatten(0, 1)  # (N * crops, 3, c, c), image-major
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        crops = ((crops - mean) / std).contiguous(memory_format=torch.channels_last)
        with self.runtime.autocast():
            score, _ = self.model(crops)
        return score.float().view(len(x), self.crops).mean(dim=1) / self.target_scale

    def resized(self, x: torch.Tensor) -> torch.Tensor:
        """A float batch at the size the model scores it at (see the module's docstring)."""
        size = self.size_for((x.shape[3], x.shape[2]))
        if size is None:
            return x
        return F.interpolate(x, size=(size[1], size[0]), mode="bilinear", antialias=True, align_corners=False)

    def size_for(self, own: tuple[int, int]) -> tuple[int, int] | None:
        """(width, height) an image of size ``own`` is resized to, or None to keep it."""
        if self.saved["image_size"] is not None:
            size = tuple(self.saved["image_size"])
            return None if size == own else size
        return within(own, self.saved["max_image_size"])

    def pixels(self, image) -> np.ndarray:
        """A file, a Pillow image or an HxWx3 uint8 array as the model sees it: uint8 HxWx3."""
        if isinstance(image, (str, Path)):
            try:
                return prepared(Path(image), self.saved)[0]
            except Unscorable as why:
                raise Unscorable(f"{image}: {why}") from None
        if isinstance(image, (bytes, bytearray, memoryview)):
            raise UserError(f"cannot score {len(image)} bytes: give the file's path, or decode them first "
                            f"(PIL.Image.open(io.BytesIO(data)))")
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise UserError(f"expected an HxWx3 uint8 array, got {image.dtype} {image.shape}")
            image = Image.fromarray(image)
        if not isinstance(image, Image.Image):
            raise UserError(f"cannot score a {type(image).__name__}: give a path, a Pillow image, an HxWx3 uint8 "
                            f"array or a float tensor (N, 3, H, W) in 0..1")
        if self.saved["decode"] == UPRIGHT:  # turned as its EXIF says, as a file is decoded
            image = ImageOps.exif_transpose(image)
        image = as_viewed(image)  # 8-bit RGB
        if min(image.size) < self.crop:
            raise Unscorable(f"{image.size[0]}x{image.size[1]} is smaller than the model's {self.crop}x{self.crop} "
                             f"crops")
        size = self.size_for(image.size)
        if size is not None and min(size) < self.crop:  # shrunk, its aspect kept, to fit the training images
            raise Unscorable(f"{image.size[0]}x{image.size[1]}, shrunk to {size[0]}x{size[1]} to fit the training "
                             f"images, is smaller than the model's {self.crop}x{self.crop} crops")
        return np.asarray(image if size is None else image.resize(size, Image.Resampling.BILINEAR))

    def score_arrays(self, pixels: list[np.ndarray]) -> np.ndarray:
        """The unclipped 0..1 scores of prepared uint8 images."""
        if not pixels:
            return np.zeros(0)
        images, sizes = on_canvas(pixels, self.runtime.device)
        index = torch.arange(len(pixels), device=self.runtime.device)
        return crop_means(self.model, images, index, self.crop, self.crops, self.batch_size, self.runtime, sizes,
                            self.target_scale)


def as_list(images) -> list:
    """One image, or several (a list, a tuple, any iterable but a string or an array), as a list."""
    if isinstance(images, (str, Path, np.ndarray, Image.Image, bytes, bytearray, memoryview)) \
            or not isinstance(images, Iterable):
        return [images]
    return list(images)


def within(size: tuple[int, int], largest: list[int]) -> tuple[int, int] | None:
    """None (the image's own size) when it fits inside the largest training width and height; else
    the size that shrinks it to fit, its aspect kept: the model never saw content at a finer scale."""
    scale = min(largest[0] / size[0], largest[1] / size[1])
    return None if scale >= 1 else (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def on_canvas(pixels: list[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images as one uint8 (N, H, W, 3) tensor, each at the top left, and their (width, height) where
    they differ in size (as the cache of an own-size dataset holds them)."""
    sizes = np.array([[p.shape[1], p.shape[0]] for p in pixels])
    width, height = sizes.max(axis=0)
    if (sizes == [width, height]).all():
        return torch.from_numpy(np.stack(pixels)).to(device), None
    canvas = np.zeros((len(pixels), height, width, 3), dtype=np.uint8)
    for row, p in zip(canvas, pixels):
        row[:p.shape[0], :p.shape[1]] = p
    return torch.from_numpy(canvas).to(device), torch.from_numpy(sizes).to(device)


def image_size_of(path: Path, how: str = UPRIGHT) -> tuple[int, int]:
    """(width, height) of an image as decode returns it, from its header; Unscorable if it has none."""
    try:
        return decoded_size(path, how)
    except UserError as err:  # its message starts with the path, which the caller names already
        raise Unscorable(f"not a readable image ({str(err).removeprefix(f'{path}: ')})") from None


def prepared(path: Path, saved: dict) -> tuple[np.ndarray, str | None]:
    """A file as the model sees it, plus a decoding warning or None; Unscorable naming why not.
    Its own size decides whether it holds a crop: the resize to the training size would upscale it."""
    crop, size = saved["crop_size"], saved["image_size"]  # (width, height); None: each image's own
    how = saved["decode"]  # as the training images were decoded
    width, height = image_size_of(path, how)
    if min(width, height) < crop:
        raise Unscorable(f"{width}x{height} is smaller than the model's {crop}x{crop} crops")
    try:
        pixels, warning = decode(path, tuple(size) if size else within((width, height), saved["max_image_size"]), how)
    except Exception as err:  # Pillow raises many types for a file it cannot read
        raise Unscorable(f"not a readable image ({err})") from None
    if min(pixels.shape[:2]) < crop:  # shrunk, its aspect kept, to fit the training images
        raise Unscorable(f"{width}x{height}, shrunk to {pixels.shape[1]}x{pixels.shape[0]} to fit the training "
                         f"images, is smaller than the model's {crop}x{crop} crops")
    return pixels, warning

