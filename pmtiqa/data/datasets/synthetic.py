"""synthetic: the embedded stand-in dataset, generated offline in seconds (not a real IQA dataset).

Why it exists: the whole graph must run on a 2-core CPU with no network, and a test trains a small
network on it from scratch, so it is small, deterministic and learnable from local texture.

Sources: 15 photos that ship inside registry wheels, read straight from the installed package
folders (never through scikit-image's pooch download): 14 of scikit-image's bundled images
(``skimage/data``) and matplotlib's ``grace_hopper.jpg`` (``cbook.get_sample_data``). The
reference tile is the ``group``, as LIVE and CSIQ are split by reference image: no reference sits
on both sides of a split (tiles of one photo may). Grouping by photo left 3 photos per test part,
and a split whose test part held the three odd ones (page, text, hubble) measured content the
network had never seen rather than quality: test SRCC 0.18-0.27 on it against 0.6-0.75 on
another split, ResNet-18 from scratch, 4 and 12 epochs. (Photo groups would be the stricter
choice; ``parse`` is the one line to change back.) The bundled cell, moon
and retina images are left out: so smooth that blur hardly changes them. The scans (page, text)
and the star field (hubble) stay although they are odd photos, because diversity is what a network
trained from scratch lacks most: ResNet-18, 1200 steps of 32, median test SRCC over 3 splits was
about 0.3 without them and 0.5-0.7 with them (photo groups, 96-pixel tiles).

References: each photo is resized (Lanczos) so that its shorter side is PHOTO_SIDE tiles, cut
into a grid of non-overlapping TILE x TILE tiles, and the TILES_PER_PHOTO tiles with the most
texture (mean absolute luminance gradient) become references, so that every distortion shows.

Distortions: six types at five levels, all visible in local texture (blur, noise, JPEG, JPEG 2000,
motion blur, pixelation); their recipe and levels are in ``distortions``. Random draws come from
``numpy.random.default_rng([SEED, photo, tile, type])``: the same noise pattern and the same
motion angle at every level of one tile, so that only the strength changes along a row.

Score (the ``mos`` column, 0..100, higher is better):

    score = 100 * clip(SSIM_RGB(reference, distorted), 0, 1)

where SSIM_RGB is the mean over the R, G and B channels of SSIM as in Wang et al. 2004 (Gaussian
window sigma 1.5, population statistics, data range 255, the 5-pixel border left out: the numbers
of skimage.metrics.structural_similarity with those settings) on the 8-bit images as saved. The
colour channels count because JPEG's chroma blocks and colour noise are plain to see but invisible
to a luminance-only SSIM. Each reference is in the set too, with distortion "none", level 0 and
score 100.

Layout of ``data/raw/synthetic/``:
``reference/<photo>_<k>.png``, ``distorted/<type>/<photo>_<k>_<type><level>.png``,
``synthetic_labels.csv`` (image, photo, reference, distortion, level, ssim, mos) and
``synthetic.json`` (the generator's settings and the image count, which ``parse`` checks).
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from pmtiqa.core.atomic import write_json
from pmtiqa.core.errors import UserError
from pmtiqa.core.readers import read_csv, read_json
from pmtiqa.data.datasets.base import Part, check_table
from pmtiqa.data.datasets.distortions import DISTORTIONS

log = logging.getLogger(__name__)

LOW, HIGH, HIGHER_IS_BETTER = 0.0, 100.0, True
EXPECTED_ROWS = None  # decided by the generator; parse checks the count in synthetic.json
MARKERS = ("synthetic_labels.csv",)
PARTS: tuple[Part, ...] = ()  # generated, never fetched
LABELS = "synthetic_labels.csv"
META = "synthetic.json"

TILE = 64  # reference tile side in pixels
TILES_PER_PHOTO = 8
PHOTO_SIDE = 4  # each photo is resized so that its shorter side is this many tiles
SEED = 20230103
# The dataset's protocol (augment.size, augment.decode and train.batch_unit `protocol`): the whole
# tiles, so that the network sees exactly what the score was computed on (a 64 crop of a 96 tile
# carried a score that was partly about the rest of the tile); a ResNet-18 step at 64 x 64 stays
# cheap on a CPU.
IMAGE_SIZE = (TILE, TILE)
DECODE = "upright"  # PNGs without EXIF: either decoding gives the same pixels
BATCH_UNIT = "crops"

# (group name, package, file name inside that package's bundled data)
PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("astronaut", "skimage", "astronaut.png"),
    ("brick", "skimage", "brick.png"),
    ("camera", "skimage", "camera.png"),
    ("chelsea", "skimage", "chelsea.png"),
    ("coffee", "skimage", "coffee.png"),
    ("coins", "skimage", "coins.png"),
    ("grass", "skimage", "grass.png"),
    ("gravel", "skimage", "gravel.png"),
    ("hubble", "skimage", "hubble_deep_field.jpg"),
    ("ihc", "skimage", "ihc.png"),
    ("motorcycle", "skimage", "motorcycle_left.png"),
    ("page", "skimage", "page.png"),
    ("rocket", "skimage", "rocket.jpg"),
    ("text", "skimage", "text.png"),
    ("grace_hopper", "matplotlib", "grace_hopper.jpg"),
)


# ---------------------------------------------------------------------------------------------
# Sources, tiles and scores.

def photo_path(package: str, filename: str) -> Path:
    """The bundled file inside an installed package (no download, ever)."""
    if package == "skimage":
        import skimage

        path = Path(skimage.__file__).parent / "data" / filename
    else:
        from matplotlib import cbook

        path = Path(cbook.get_sample_data(filename, asfileobj=False))
    if not path.is_file():
        raise UserError(f"{path}: bundled sample image missing from the installed {package} "
                        f"(needed by the synthetic dataset; reinstall {package})")
    return path


def load_photo(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def cut_tiles(photo: Image.Image, tile: int, count: int) -> list[np.ndarray]:
    """The ``count`` most textured non-overlapping tiles of the photo scaled to PHOTO_SIDE tiles high."""
    w, h = photo.size
    scale = PHOTO_SIDE * tile / min(w, h)
    size = (max(tile, round(w * scale)), max(tile, round(h * scale)))
    pixels = np.asarray(photo.resize(size, Image.Resampling.LANCZOS))
    candidates = []
    for y in range(0, size[1] - tile + 1, tile):
        for x in range(0, size[0] - tile + 1, tile):
            candidates.append(pixels[y:y + tile, x:x + tile])
    texture = [_texture(c) for c in candidates]
    order = sorted(range(len(candidates)), key=lambda i: -texture[i])  # stable: ties keep grid order
    return [candidates[i] for i in order[:count]]


def _texture(tile: np.ndarray) -> float:
    y = luminance(tile)
    return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())


def ssim(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Mean SSIM over the RGB channels, Wang et al. 2004 settings.

    The same numbers as ``skimage.metrics.structural_similarity(..., channel_axis=2,
    data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` (a test
    checks it), computed with one filtering pass over the five local statistics: about five
    times faster, and SSIM is most of the generator's time.
    """
    x, y = reference.astype(np.float64), distorted.astype(np.float64)
    stats = ndimage.gaussian_filter(np.stack([x, y, x * x, y * y, x * y]), sigma=(0, 1.5, 1.5, 0),
                                    truncate=3.5, mode="reflect")
    mu_x, mu_y, xx, yy, xy = stats
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    pad = 5  # half the 11-pixel window that truncate=3.5 gives sigma=1.5; the border is left out
    return float(index[pad:-pad, pad:-pad].mean())


def quality(ssim_value: float) -> float:
    """The documented formula: score = 100 * clip(SSIM, 0, 1)."""
    return 100.0 * min(max(ssim_value, 0.0), 1.0)


# ---------------------------------------------------------------------------------------------
# Generation and parsing.

def generate(dest: Path, *, photos: Sequence[str] | None = None, tiles_per_photo: int = TILES_PER_PHOTO,
             tile: int = TILE, seed: int = SEED, workers: int = 0) -> pd.DataFrame:
    """Write the dataset into the (new or empty) folder ``dest``; return its label table.

    ``photos`` picks a subset of PHOTOS by name (tests use a reduced set); the default is all.
    Photos are independent, so ``workers`` processes (0 = every core) share them; the rows come
    back in photo order whatever the scheduling. ``download("synthetic", ...)`` calls this inside
    an atomic folder.
    """
    started = time.perf_counter()
    if "posterize" in DISTORTIONS:
        log.warning("Pillow here lacks JPEG 2000: synthetic uses posterize (6..2 bits) instead of jp2k")
    chosen = _choose_photos(photos)
    jobs = [(dest, p_index, photo, tile, tiles_per_photo, seed) for p_index, photo in chosen]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            families = list(pool.map(_photo_rows, jobs))
    else:
        families = [_photo_rows(job) for job in jobs]
    table = pd.DataFrame([row for family in families for row in family])
    table.to_csv(dest / LABELS, index=False)
    meta = {"generator": __name__, "seed": seed, "tile": tile, "tiles_per_photo": tiles_per_photo,
            "photos": [name for _, (name, _, _) in chosen],
            "distortions": {k: list(levels) for k, (_, levels) in DISTORTIONS.items()},
            "formula": "score = 100 * clip(mean SSIM over RGB channels, 0, 1)", "n_images": len(table)}
    write_json(dest / META, meta)
    log.info("synthetic: %d images from %d photos in %.1f s", len(table), len(chosen), time.perf_counter() - started)
    return table


def _photo_rows(job: tuple) -> list[dict]:
    """Every image of one photo: its reference tiles and their distorted versions."""
    dest, p_index, (name, package, filename), tile, tiles_per_photo, seed = job
    rows = []
    for t_index, reference in enumerate(cut_tiles(load_photo(photo_path(package, filename)), tile, tiles_per_photo)):
        rows += _write_tile_family(dest, name, t_index, reference, (seed, p_index, t_index))
    return rows


def _choose_photos(photos: Sequence[str] | None) -> list[tuple[int, tuple[str, str, str]]]:
    indexed = list(enumerate(PHOTOS))  # the index seeds the random draws: keep it per photo
    if photos is None:
        return indexed
    known = {p[0] for p in PHOTOS}
    unknown = sorted(set(photos) - known)
    if unknown:
        raise UserError(f"synthetic: unknown photo(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return [(i, p) for i, p in indexed if p[0] in set(photos)]


def _write_tile_family(dest: Path, photo: str, t_index: int, reference: np.ndarray,
                       seed: tuple[int, int, int]) -> list[dict]:
    """Save the reference and its distorted versions; return their label rows."""
    ref_name = f"reference/{photo}_{t_index}.png"
    _save(dest / ref_name, reference)
    rows = [_row(ref_name, photo, ref_name, "none", 0, 1.0)]
    for d_index, (kind, (distort, levels)) in enumerate(DISTORTIONS.items()):
        for level, strength in enumerate(levels, start=1):
            rng = np.random.default_rng([*seed, d_index])  # the same draws at every level
            image = distort(reference, strength, rng)
            name = f"distorted/{kind}/{photo}_{t_index}_{kind}{level}.png"
            _save(dest / name, image)
            rows.append(_row(name, photo, ref_name, kind, level, ssim(reference, image)))
    return rows


def _row(image: str, photo: str, reference: str, kind: str, level: int, ssim_value: float) -> dict:
    return {"image": image, "photo": photo, "reference": reference, "distortion": kind, "level": level,
            "ssim": round(ssim_value, 6), "mos": round(quality(ssim_value), 4)}


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        Image.fromarray(pixels).save(path, "PNG", compress_level=1)  # lossless either way; 1 is quick
    except OSError as err:  # a full disk: Pillow's error names no file
        raise OSError(err.errno, err.strerror, str(path)) from None


def parse(raw_dir: Path) -> pd.DataFrame:
    labels, meta_file = raw_dir / LABELS, raw_dir / META
    try:
        expected = int(read_json(meta_file, "run `pmtiqa download --dataset synthetic` again")["n_images"])
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{meta_file}: malformed ({err})") from None
    table = read_csv(labels, "run `pmtiqa download --dataset synthetic` again",
                     ["image", "photo", "reference", "distortion", "level", "mos"],
                     dtype={"image": str, "photo": str, "reference": str, "distortion": str})
    df = pd.DataFrame({"image": table["image"], "mos": table["mos"], "group": table["reference"],
                       "distortion": table["distortion"], "level": table["level"]})
    if len(df) != expected:
        raise UserError(f"{labels}: {len(df)} entries, but {meta_file.name} says {expected}: truncated?")
    return check_table(df, raw_dir, labels, None)
