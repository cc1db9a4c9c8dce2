"""livec: the LIVE In the Wild Image Quality Challenge database (Ghadiyaram and Bovik, 2015).

1162 photos with authentic distortions, MOS on a 0..100 scale (higher is better), one group per
image. The official page needs a form, so ``pmtiqa download`` asks for a local copy (INSTRUCTIONS).
Licence: the UT Austin notice in README.txt (use and redistribution with the notice kept).

Layout of ``data/raw/livec/``: the contents of ``ChallengeDB_release/`` (the wrapping folder is
stripped): ``Data/AllImages_release.mat``, ``Data/AllMOS_release.mat``, ``Data/AllStdDev_release.mat``,
``Images/*.bmp|*.JPG`` and ``Images/trainingImages/t1.bmp..t7.bmp``. The .mat files hold 1169
entries; the first seven are the training images t1..t7, which every published protocol drops.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets.base import Part, check_table
from pmtiqa.data.datasets.matfile import load_mat, mat_strings, mat_vector

LOW, HIGH, HIGHER_IS_BETTER = 0.0, 100.0, True
# The dataset's protocol (augment.size, augment.decode and train.batch_unit `protocol`): the size
# its images are resized to once, (width, height) or None where they keep their own, how a file is
# decoded (data/images.py), and what a batch counts.
IMAGE_SIZE = (500, 500)  # every LIVEC image is 500x500 already: no resampling (the authors do not resize)
DECODE = "stored"  # the authors' loader: every pixel, stored orientation
BATCH_UNIT = "crops"
EXPECTED_ROWS = 1162
MARKERS = ("Data/AllMOS_release.mat",)
PARTS: tuple[Part, ...] = ()  # the official site needs a form
PAGE = "https://live.ece.utexas.edu/research/ChallengeDB/index.html"
MIRROR = "https://huggingface.co/datasets/chaofengc/IQA-PyTorch-Datasets/resolve/main/live_challenge.tgz"
INSTRUCTIONS = (
    f"LIVE In the Wild (livec) needs a form: visit {PAGE}, fill it in, fetch the release archive "
    "(ChallengeDB_release.zip, the folder ChallengeDB_release/ with Data/ and Images/), then run "
    "`pmtiqa download --dataset livec --source /path/to/ChallengeDB_release.zip` (an unpacked folder "
    "works too, and so does putting the path under download.sources.livec in params.yaml). A community "
    f"mirror may serve if it holds Data/AllMOS_release.mat (checked): --source {MIRROR}"
)
TRAINING_IMAGE = re.compile(r"t\d+\.bmp", re.IGNORECASE)


def parse(raw_dir: Path) -> pd.DataFrame:
    names_file, mos_file, std_file = (raw_dir / "Data" / f"All{k}_release.mat" for k in ("Images", "MOS", "StdDev"))
    names = mat_strings(load_mat(names_file), "AllImages_release", names_file)
    mos = mat_vector(load_mat(mos_file), "AllMOS_release", mos_file)
    std = mat_vector(load_mat(std_file), "AllStdDev_release", std_file)
    for path, values in ((mos_file, mos), (std_file, std)):
        if len(values) != len(names):
            raise UserError(f"{path}: {len(values)} entries, but {names_file.name} lists {len(names)} images")
    keep = np.array([not TRAINING_IMAGE.fullmatch(n) for n in names])
    images = [f"Images/{n}" for n, k in zip(names, keep) if k]
    df = pd.DataFrame({"image": images, "mos": mos[keep], "group": images, "std": std[keep]})
    return check_table(df, raw_dir, mos_file, EXPECTED_ROWS)
