"""LIVE's release as its parser reads it (databaserelease2: the .mat files of DMOS and reference names,
and an empty file for each image), written with scipy: 982 entries, 779 distorted images."""
from pathlib import Path

import numpy as np
import scipy.io

from pmtiqa.data.datasets import live


def touch_images(raw: Path, images) -> None:
    for image in images:
        (raw / image).parent.mkdir(parents=True, exist_ok=True)
        (raw / image).touch()


ORIGINALS = {"jp2k": 58, "jpeg": 58, "wn": 29, "gblur": 29, "fastfading": 29}  # 982 - 203 = 779


def build_live(raw: Path, n_entries: int = 982) -> dict:
    entries = live.entry_images()
    orgs = np.zeros(len(entries))
    for folder, count in ORIGINALS.items():
        rows = [i for i, (_, f) in enumerate(entries) if f == folder]
        orgs[rows[-count:]] = 1  # the reference copies, wherever they sit, are dropped
    rng = np.random.default_rng(0)
    dmos = np.where(orgs == 1, 0.0, rng.uniform(0, 100, len(entries)))
    dmos[0], dmos[1] = -2.64, 111.77  # the release's extremes, both kept
    refs = np.empty((1, len(entries)), dtype=object)
    refs[0, :] = [f"ref{i % 29:02d}.bmp" for i in range(len(entries))]
    raw.mkdir(parents=True)
    scipy.io.savemat(raw / "dmos_realigned.mat", {"dmos_new": dmos[None, :n_entries], "dmos_std": np.ones((1, n_entries)),
                                                  "orgs": orgs[None, :n_entries]})
    scipy.io.savemat(raw / "refnames_all.mat", {"refnames_all": refs})
    touch_images(raw, [e[0] for e, o in zip(entries, orgs) if o == 0])
    return {"dmos": dmos, "orgs": orgs}
