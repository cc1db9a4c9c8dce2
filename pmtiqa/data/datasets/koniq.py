"""koniq: KonIQ-10k (Hosu et al., IEEE TIP 2020).

10,073 in-the-wild photos, one group per image. ``mos`` is the ``MOS_zscore`` column (0..100,
higher is better): the score that the HyperIQA code, which the PMT-IQA authors forked, trains and
reports on. (The CSV also has a 1..5 ``MOS`` with its ``SD``; they are not used.) The official
7058/1000/2015 split is not used: the paper's protocol is 10 random 80/20 splits.
Page: http://database.mmsp-kn.de/koniq-10k-database.html (no form).

Layout of ``data/raw/koniq/``: ``koniq10k_scores_and_distributions.csv`` and the image folder as
the archive names it, ``1024x768/`` (or ``512x384/`` from the smaller archive, used when the full
size is absent).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pmtiqa.core.readers import read_csv
from pmtiqa.data.datasets.base import Part, check_table

LOW, HIGH, HIGHER_IS_BETTER = 0.0, 100.0, True
# The dataset's protocol (augment.size, augment.decode and train.batch_unit `protocol`): the size
# its images are resized to once, (width, height) or None where they keep their own, how a file is
# decoded (data/images.py), and what a batch counts.
IMAGE_SIZE = (384, 512)  # (width, height): the authors' Resize((512, 384)) is height x width
DECODE = "stored"  # the authors' loader: every pixel, stored orientation
BATCH_UNIT = "crops"
EXPECTED_ROWS = 10073
SCORES = "koniq10k_scores_and_distributions.csv"
MARKERS = (SCORES,)
IMAGE_FOLDERS = ("1024x768", "512x384")
SITE = "https://datasets.vqa.mmsp-kn.de/archives"
PARTS = (
    Part(f"{SITE}/koniq10k_1024x768.zip", markers=("1024x768",)),
    Part(f"{SITE}/koniq10k_scores_and_distributions.zip", markers=(SCORES,)),
)
COLUMNS = ("image_name", "MOS", "SD", "MOS_zscore")


def parse(raw_dir: Path) -> pd.DataFrame:
    scores = raw_dir / SCORES
    table = read_csv(scores, "the KonIQ-10k score file; run `pmtiqa download --dataset koniq`", COLUMNS,
                     dtype={"image_name": str})
    folder = next((f for f in IMAGE_FOLDERS if (raw_dir / f).is_dir()), IMAGE_FOLDERS[0])
    images = [f"{folder}/{name}" if isinstance(name, str) else None for name in table["image_name"]]
    df = pd.DataFrame({"image": images, "mos": pd.to_numeric(table["MOS_zscore"], errors="coerce"),
                       "group": images})
    return check_table(df, raw_dir, scores, EXPECTED_ROWS)
