"""live: the LIVE Image Quality Assessment Database, release 2 (Sheikh et al.).

779 distorted images of 29 references, realigned DMOS (LOWER is better), grouped by reference.
The official page asks for a request, so ``pmtiqa download`` asks for a local copy (INSTRUCTIONS).

Layout of ``data/raw/live/``: the contents of ``databaserelease2/`` (the wrapping folder is
stripped): ``jp2k/``, ``jpeg/``, ``wn/``, ``gblur/``, ``fastfading/`` (``img<i>.bmp`` and
``info.txt`` each), ``refimgs/``, ``dmos.mat``, ``dmos_realigned.mat`` (``dmos_new``, ``dmos_std``,
``orgs``, 1 x 982) and ``refnames_all.mat`` (``refnames_all``, 1 x 982).

The 982 entries run jp2k 1..227, jpeg 1..233, wn 1..174, gblur 1..174, fastfading 1..174;
``orgs == 1`` marks a copy of a reference, dropped here (779 remain). Every distorted image is
kept, also those with a negative DMOS (the authors' code drops them: a defect).

Score bounds: the realigned DMOS of the release spans about -2.64..111.77; LOW and HIGH are that
range rounded outward to whole numbers, fixed here so that no released value falls outside.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets.base import Part, check_table
from pmtiqa.data.datasets.matfile import load_mat, mat_strings, mat_vector

LOW, HIGH, HIGHER_IS_BETTER = -3.0, 112.0, False
# The dataset's protocol (augment.size, augment.decode and train.batch_unit `protocol`): the size
# its images are resized to once, (width, height) or None where they keep their own, how a file is
# decoded (data/images.py), and what a batch counts.
IMAGE_SIZE = None  # own size: the authors crop inside each image (480x720 portraits to 768x512 landscapes)
DECODE = "stored"  # the authors' loader: every pixel, stored orientation
BATCH_UNIT = "crops"
EXPECTED_ROWS = 779
MARKERS = ("dmos_realigned.mat",)
PARTS: tuple[Part, ...] = ()  # the official site needs a request form
PAGE = "https://live.ece.utexas.edu/research/quality/subjective.htm"
INSTRUCTIONS = (
    f"LIVE release 2 (live) is given out on request: visit {PAGE}, request the database, fetch "
    "databaserelease2.zip (the folder databaserelease2/ with jp2k/, jpeg/, wn/, gblur/, fastfading/, "
    "refimgs/, dmos_realigned.mat and refnames_all.mat), then run "
    "`pmtiqa download --dataset live --source /path/to/databaserelease2.zip` (an unpacked folder works "
    "too, and so does putting the path under download.sources.live in params.yaml). The community mirror "
    "live.tgz uses a different layout: a copy without dmos_realigned.mat is refused."
)
# (folder, number of images) in the global order of the 982 entries
FOLDERS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))


def entry_images() -> list[tuple[str, str]]:
    """(image path, distortion) of the 982 entries, in the order of the .mat files."""
    return [(f"{folder}/img{i}.bmp", folder) for folder, count in FOLDERS for i in range(1, count + 1)]


def parse(raw_dir: Path) -> pd.DataFrame:
    dmos_file, names_file = raw_dir / "dmos_realigned.mat", raw_dir / "refnames_all.mat"
    dmos_mat = load_mat(dmos_file)
    dmos = mat_vector(dmos_mat, "dmos_new", dmos_file)
    std = mat_vector(dmos_mat, "dmos_std", dmos_file)
    orgs = mat_vector(dmos_mat, "orgs", dmos_file)
    refs = mat_strings(load_mat(names_file), "refnames_all", names_file)
    entries = entry_images()
    for path, name, values in ((dmos_file, "dmos_new", dmos), (dmos_file, "dmos_std", std),
                               (dmos_file, "orgs", orgs), (names_file, "refnames_all", refs)):
        if len(values) != len(entries):
            raise UserError(f"{path}: {name} has {len(values)} entries, the release has {len(entries)}")
    if not np.isin(orgs, (0, 1)).all():
        raise UserError(f"{dmos_file}: orgs should hold only 0 and 1")
    df = pd.DataFrame({
        "image": [image for image, _ in entries],
        "mos": dmos,
        "group": refs,
        "std": std,
        "distortion": [distortion for _, distortion in entries],
    })
    return check_table(df[orgs == 0], raw_dir, dmos_file, EXPECTED_ROWS)  # orgs 1: a reference's own row
