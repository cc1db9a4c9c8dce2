"""An image file as the pipeline sees it, decoded one way everywhere (the augment stage, predict and
the Python API): upright (its EXIF rotation applied), RGB, uint8, resized with Pillow's bilinear
filter where a size is asked for."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from pmtiqa.core.errors import UserError
from pmtiqa.core.readers import open_regular

# EXIF orientations that swap width and height (transpose, rotate 90/270, transverse)
SWAPS_AXES = {5, 6, 7, 8}


def decode(path: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, str | None]:
    """One image as H x W x 3 uint8 at ``size`` (width, height; None: its own), upright, plus a
    warning or None.

    A truncated file is decoded again as far as it goes, with a warning: some BID JPEGs are known
    to trouble strict decoders. Anything else that fails raises, and the caller names the file.
    """
    try:
        return _decode(path, size), None
    except OSError as err:
        if "truncated" not in str(err):
            raise
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # this process only, only after a strict attempt failed
    try:
        return _decode(path, size), "truncated file, decoded as far as it goes"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _decode(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """``draft`` lets the JPEG decoder scale by 1/2..1/8 while decoding, never below the target,
    so large photos cost little; Pillow's bilinear resize then filters over the whole footprint
    (antialiased). The draft size is asked in stored orientation, before the EXIF rotation."""
    with open_regular(path) as file, Image.open(file) as im:
        if size is None:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        w, h = size
        orientation = im.getexif().get(0x0112, 1)
        im.draft("RGB", (h, w) if orientation in SWAPS_AXES else (w, h))
        im = ImageOps.exif_transpose(im).convert("RGB")
        return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR))


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as decode returns it (EXIF rotation applied), from its header."""
    try:
        with open_regular(path) as file, Image.open(file) as im:
            width, height = im.size
            return (height, width) if im.getexif().get(0x0112, 1) in SWAPS_AXES else (width, height)
    except Exception as err:  # Pillow raises many types for a damaged file: name the file, whatever it raised
        raise UserError(f"{path}: cannot read image ({type(err).__name__}: {err})") from None
