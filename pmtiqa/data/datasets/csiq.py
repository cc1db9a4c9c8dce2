"""csiq: the Categorical Subjective Image Quality database (Larson and Chandler, JEI 2010).

866 distorted 512 x 512 PNG images of 30 references, DMOS on a 0..1 scale (LOWER is better),
grouped by reference. Page: https://s2.smu.edu/~eclarson/csiq.html (no form); the default
download fetches the three official files below.

Layout of ``data/raw/csiq/``: ``src_imgs/<ref>.png`` (30), ``dst_imgs/<folder>/<ref>.<TYPE>.<level>.png``
with folders awgn, blur, contrast, fnoise, jpeg, jpeg2000, and the label file beside them: the
official ``csiq.DMOS.xlsx`` (sheet ``all_by_image``, header row ``image, dst_idx, dst_type, dst_lev,
dmos_std, dmos`` in columns D..I) or, failing that, the community ``csiq_label.txt``
(``<distorted file name> <dmos>`` per line). The xlsx wins when both are present.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets.base import Part, check_table, first_existing, read_sheet

LOW, HIGH, HIGHER_IS_BETTER = 0.0, 1.0, False
# The dataset's protocol (augment.size, augment.decode and train.batch_unit `protocol`): the size
# its images are resized to once, (width, height) or None where they keep their own, how a file is
# decoded (data/images.py), and what a batch counts.
IMAGE_SIZE = (512, 512)  # every CSIQ image is 512x512 already: no resampling
DECODE = "stored"  # the authors' loader: every pixel, stored orientation
BATCH_UNIT = "crops"
EXPECTED_ROWS = 866
WORKBOOK, TEXT = "csiq.DMOS.xlsx", "csiq_label.txt"
MARKERS = (WORKBOOK, TEXT)
SITE = "https://s2.smu.edu/~eclarson/csiq"
PARTS = (
    Part(f"{SITE}/src_imgs.zip", markers=("1600.png",), into="src_imgs"),
    Part(f"{SITE}/dst_imgs.zip", markers=("awgn",), into="dst_imgs"),
    Part(f"{SITE}/{WORKBOOK}"),
)
MIRROR = "https://huggingface.co/datasets/chaofengc/IQA-PyTorch-Datasets/resolve/main/csiq.tgz"
SHEET = "all_by_image"
COLUMNS = ("image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos")
# dst_type in the workbook -> (folder under dst_imgs/, TYPE in the file name)
TYPES = {"noise": ("awgn", "AWGN"), "jpeg": ("jpeg", "JPEG"), "jpeg 2000": ("jpeg2000", "jpeg2000"),
         "fnoise": ("fnoise", "fnoise"), "blur": ("blur", "BLUR"), "contrast": ("contrast", "contrast")}
FOLDERS = {folder for folder, _ in TYPES.values()}
TEXT_LINE = re.compile(r"(?P<ref>[^.\s]+)\.(?P<type>[A-Za-z0-9]+)\.(?P<level>\d+)\.png\s+(?P<dmos>\S+)")


def parse(raw_dir: Path) -> pd.DataFrame:
    label_file = first_existing(raw_dir, (WORKBOOK, TEXT), "a CSIQ label file")
    df = _from_workbook(label_file) if label_file.name == WORKBOOK else _from_text(label_file)
    return check_table(df, raw_dir, label_file, EXPECTED_ROWS)


def _from_workbook(path: Path) -> pd.DataFrame:
    sheet = read_sheet(path, SHEET, header=None)
    header = _header_row(sheet, path)
    table = sheet.iloc[header + 1:].dropna(how="all")
    cols = {str(v).strip(): c for c, v in sheet.iloc[header].items() if isinstance(v, str)}
    rows = []
    for number, (_, line) in enumerate(table.iterrows(), start=header + 2):
        rows.append(_workbook_row(line, cols, path, number))
    return pd.DataFrame(rows, columns=["image", "mos", "group", "std", "distortion", "level"])


def _header_row(sheet: pd.DataFrame, path: Path) -> int:
    """The row holding the column names (row 4 in the release): found, not assumed."""
    for index in range(min(len(sheet), 20)):
        values = {str(v).strip() for v in sheet.iloc[index] if isinstance(v, str)}
        if set(COLUMNS) <= values:
            return index
    raise UserError(f"{path}: sheet {SHEET} has no header row with {', '.join(COLUMNS)}")


def _workbook_row(line: pd.Series, cols: dict, path: Path, number: int) -> dict:
    ref, kind, level, dmos = (line[cols[k]] for k in ("image", "dst_type", "dst_lev", "dmos"))
    if str(kind).strip() not in TYPES or pd.isna(ref) or pd.isna(level) or pd.isna(dmos):
        raise UserError(f"{path}: sheet {SHEET} row {number}: malformed entry "
                        f"(image={ref!r}, dst_type={kind!r}, dst_lev={level!r}, dmos={dmos!r})")
    folder, tag = TYPES[str(kind).strip()]
    ref = _reference_name(ref)
    return {"image": f"dst_imgs/{folder}/{ref}.{tag}.{int(level)}.png", "mos": float(dmos), "group": ref,
            "std": float(line[cols["dmos_std"]]), "distortion": folder, "level": int(level)}


def _reference_name(value) -> str:
    """'1600' for the reference that the workbook stores as a number."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _from_text(path: Path) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        match = TEXT_LINE.fullmatch(line.strip())
        dmos = _number(match["dmos"]) if match else None
        if match is None or dmos is None or match["type"].lower() not in FOLDERS:
            raise UserError(f"{path}: line {number}: expected '<ref>.<TYPE>.<level>.png <dmos>', got {line!r}")
        folder = match["type"].lower()
        name = line.split()[0]
        rows.append({"image": f"dst_imgs/{folder}/{name}", "mos": dmos, "group": match["ref"],
                     "distortion": folder, "level": int(match["level"])})
    return pd.DataFrame(rows, columns=["image", "mos", "group", "distortion", "level"])


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
