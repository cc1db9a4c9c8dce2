"""distortions: the synthetic dataset's six distortion types at five levels, as pure image processing.

Each distortion takes a uint8 H x W x 3 tile, a strength and a random generator, and returns a new
uint8 tile of the same size; nothing here knows about photos, files or scores (``synthetic`` cuts
the tiles, draws the generator and scores the result).

The types, all visible in local texture: Gaussian blur (sigma in pixels), white Gaussian noise
(sigma in 8-bit units, per channel, reflected at 0 and 255), JPEG (Pillow quality), JPEG 2000
(compression ratio), motion blur (a line kernel of that length at a random angle) and pixelation
(block size). Only noise and motion blur draw from the generator; ``synthetic`` seeds it per tile
and type, not per level, so that only the strength changes along a row.
"""
from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter, features
from scipy import ndimage


def _gaussian_blur(tile: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(Image.fromarray(tile).filter(ImageFilter.GaussianBlur(sigma)))


def _white_noise(tile: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise, reflected at 0 and 255: clipping would hide half of it on black or
    white areas (a star field, a page), where a reflected noise stays as visible as elsewhere."""
    noisy = np.abs(tile.astype(np.float64) + rng.normal(0.0, sigma, tile.shape))  # reflect at 0
    noisy = 255.0 - np.abs(255.0 - noisy)  # reflect at 255
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)  # the clip only guards sigma > 255


def _encode_decode(tile: np.ndarray, fmt: str, **options) -> np.ndarray:
    """The tile after a round trip through a lossy file format, in memory."""
    buffer = io.BytesIO()
    Image.fromarray(tile).save(buffer, fmt, **options)
    buffer.seek(0)
    with Image.open(buffer) as im:
        return np.asarray(im.convert("RGB"))


def _jpeg(tile: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    return _encode_decode(tile, "JPEG", quality=int(quality))


def _jpeg2000(tile: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    return _encode_decode(tile, "JPEG2000", quality_mode="rates", quality_layers=[float(ratio)])


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised line of ``length`` pixels through the centre, at ``angle`` radians."""
    kernel = np.zeros((length, length))
    centre = (length - 1) / 2
    for t in np.linspace(-centre, centre, 4 * length):
        kernel[int(round(centre - t * np.sin(angle))), int(round(centre + t * np.cos(angle)))] = 1.0
    return kernel / kernel.sum()


def _motion_blur(tile: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    kernel = _motion_kernel(int(length), rng.uniform(0.0, np.pi))
    channels = [ndimage.convolve(tile[..., c].astype(np.float64), kernel, mode="reflect") for c in range(3)]
    return np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)


def _pixelate(tile: np.ndarray, block: float, rng: np.random.Generator) -> np.ndarray:
    h, w = tile.shape[:2]
    small = Image.fromarray(tile).resize((max(1, round(w / block)), max(1, round(h / block))), Image.Resampling.BOX)
    return np.asarray(small.resize((w, h), Image.Resampling.NEAREST))


def _posterize(tile: np.ndarray, bits: float, rng: np.random.Generator) -> np.ndarray:
    """Stand-in for JPEG 2000 where Pillow lacks OpenJPEG: fewer bits per channel (banding)."""
    step = 2 ** (8 - int(bits))
    return (tile // step * step + step // 2).astype(np.uint8)


Distortion = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

# Levels chosen so that the mean score falls in even steps from about 90 to about 20-50 per type
# (beyond a ratio of about 50, JPEG 2000 on a 64-pixel tile stops getting worse). The order is
# part of the dataset: a type's position seeds its random draws and orders the label rows.
DISTORTIONS: dict[str, tuple[Distortion, tuple[float, ...]]] = {
    "blur": (_gaussian_blur, (0.7, 1.2, 1.8, 2.8, 4.5)),
    "noise": (_white_noise, (6.0, 12.0, 22.0, 38.0, 64.0)),
    "jpeg": (_jpeg, (30, 15, 8, 5, 3)),
    "jp2k": (_jpeg2000, (6.0, 12.0, 20.0, 32.0, 50.0)),
    "motion": (_motion_blur, (3, 5, 8, 12, 18)),
    "pixelate": (_pixelate, (2, 3, 4, 6, 8)),
}
if not features.check("jpg_2000"):  # pragma: no cover - every PyPI Pillow wheel has OpenJPEG
    del DISTORTIONS["jp2k"]  # synthetic.generate() warns: the dataset then differs from the usual one
    DISTORTIONS["posterize"] = (_posterize, (6, 5, 4, 3, 2))
