"""An image file as the pipeline sees it: the 8-bit RGB picture a viewer shows, resized with
Pillow's bilinear filter where a size is asked for, decoded one of two ways.

``upright`` (the synthetic set and datasets of one's own; predict and the Python API for models
trained on them, as model.pt records) applies the EXIF rotation and lets the JPEG decoder downscale on the way. ``stored`` decodes every pixel and keeps
the stored orientation, as the authors' loader (Pillow's open and convert("RGB")) does; a dataset's
protocol or augment.decode chooses it.

Pillow's own conversion to RGB clips 16-bit pixels at 255 (a 16-bit grayscale PNG turns white) and
drops transparency (whatever colour lies under it shows). Here 16-bit values are scaled to 8 bits,
transparent pixels show over white, as on a page, and a mode with no one 8-bit picture (32-bit
float, 32-bit integers past 16 bits) is refused by name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from pmtiqa.core.errors import UserError
from pmtiqa.core.readers import open_regular

# EXIF orientations that swap width and height (transpose, rotate 90/270, transverse)
SWAPS_AXES = {5, 6, 7, 8}
CONVERTS = {"RGB", "1", "L", "P", "CMYK", "YCbCr", "RGBX"}  # Pillow's convert("RGB") shows these as a viewer does
TRANSPARENT = {"RGBA", "LA", "PA", "RGBa", "La"}
SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # "I": 32-bit integers, 16-bit PNGs in older Pillows
UPRIGHT, STORED = "upright", "stored"
DECODINGS = (UPRIGHT, STORED)


def decode(path: Path, size: tuple[int, int] | None, how: str = UPRIGHT) -> tuple[np.ndarray, str | None]:
    """One image as H x W x 3 uint8 at ``size`` (width, height; None: its own), decoded ``how``, plus
    a warning or None.

    A truncated file is decoded again as far as it goes, with a warning: some BID JPEGs are known
    to trouble strict decoders. Anything else that fails raises, and the caller names the file.
    """
    if how not in DECODINGS:
        raise ValueError(f"unknown decoding {how!r} (known: {', '.join(DECODINGS)})")
    read = _decode_upright if how == UPRIGHT else _decode_stored
    try:
        return read(path, size), None
    except OSError as err:
        if "truncated" not in str(err):
            raise
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # this process only, only after a strict attempt failed
    try:
        return read(path, size), "truncated file, decoded as far as it goes"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _decode_stored(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """Every stored pixel, in stored orientation, then the bilinear resize: the authors' decoding."""
    with open_regular(path) as file, Image.open(file) as im:
        im = as_viewed(im)
        return np.asarray(im if size is None else im.resize(size, Image.Resampling.BILINEAR))


def _decode_upright(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """Upright. ``draft`` lets the JPEG decoder scale by 1/2..1/8 while decoding, never below the
    target, so large photos cost little; Pillow's bilinear resize then filters over the whole
    footprint (antialiased). The draft size is asked in stored orientation, before the EXIF rotation."""
    with open_regular(path) as file, Image.open(file) as im:
        if size is None:
            return np.asarray(as_viewed(ImageOps.exif_transpose(im)))
        w, h = size
        orientation = im.getexif().get(0x0112, 1)
        im.draft("RGB", (h, w) if orientation in SWAPS_AXES else (w, h))
        im = as_viewed(ImageOps.exif_transpose(im))
        return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR))


def as_viewed(im: Image.Image) -> Image.Image:
    """The 8-bit RGB picture a viewer shows of ``im``; UserError naming the mode where there is none."""
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in CONVERTS:
        return im.convert("RGB")
    if im.mode in TRANSPARENT:
        page = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(page, im.convert("RGBA")).convert("RGB")
    if im.mode in SIXTEEN_BIT:
        values = np.asarray(im).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise UserError(f"{im.mode} pixels from {values.min()} to {values.max()}: not 16-bit, no one 8-bit "
                            f"picture; save it as 8 or 16 bits per channel")
        eight = ((values * 255 + 32767) // 65535).astype(np.uint8)  # 65535 -> 255, rounded
        return Image.fromarray(eight, "L").convert("RGB")
    raise UserError(f"pixel mode {im.mode} ({'32-bit float' if im.mode == 'F' else 'unsupported'}) has no one "
                    f"8-bit picture; save it as 8 or 16 bits per channel")


def decoded_size(path: Path, how: str) -> tuple[int, int]:
    """(width, height) of an image as decode returns it at its own size, decoded ``how``, from its header."""
    try:
        with open_regular(path) as file, Image.open(file) as im:
            width, height = im.size
            turned = how == UPRIGHT and im.getexif().get(0x0112, 1) in SWAPS_AXES
            return (height, width) if turned else (width, height)
    except Exception as err:  # Pillow raises many types for a damaged file: name the file, whatever it raised
        raise UserError(f"{path}: cannot decode image: {type(err).__name__}: {err}") from None
