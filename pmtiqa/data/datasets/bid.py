"""bid: the Blurred Image Database (Ciancio et al., IEEE TIP 2011).

586 photos with realistic blur, MOS on a 0..5 scale (higher is better), one group per image.
Page: http://www.lps.ufrj.br/profs/eduardo/ImageDatabase.htm (no form). The default download is
the mirror zip below. No licence is stated.

Layout of ``data/raw/bid/`` (any wrapping folder of an archive is stripped): the grades workbook
``DatabaseGrades.xls`` (or ``.xlsx``) and the images ``DatabaseImage%04d.JPG`` beside it (numbers 2,
346, 413 and 439 do not exist). Copies that keep the images one folder down (for example
``ImageDatabase/``) are accepted: ``image`` then holds that folder too.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets.base import Part, check_table, first_existing, read_sheet

LOW, HIGH, HIGHER_IS_BETTER = 0.0, 5.0, True
# The dataset's protocol (augment.size, augment.decode and train.batch_unit `protocol`): the size
# its images are resized to once, (width, height) or None where they keep their own, how a file is
# decoded (data/images.py), and what a batch counts.
IMAGE_SIZE = (512, 512)  # the authors resize BID to 512x512
DECODE = "stored"  # the authors' loader: every pixel (no JPEG draft), no EXIF rotation
BATCH_UNIT = "images"  # the authors' BID loader: a sample is an image with its crops
EXPECTED_ROWS = 586
WORKBOOKS = ("DatabaseGrades.xls", "DatabaseGrades.xlsx")
MARKERS = WORKBOOKS
URL = "https://huggingface.co/datasets/VQA-CityU/IQA_data/resolve/main/bid.zip"
PARTS = (Part(URL, markers=MARKERS),)
SHEET = "Plan1"
NUMBER, GRADE = "Image Number", "Average Subjective Grade"


def image_name(number: int) -> str:
    return f"DatabaseImage{number:04d}.JPG"


def parse(raw_dir: Path) -> pd.DataFrame:
    workbook = first_existing(raw_dir, WORKBOOKS, "the BID grades workbook")
    sheet = _read_sheet(workbook)
    numbers = pd.to_numeric(sheet[NUMBER], errors="coerce")
    bad = numbers.isna() | (numbers != numbers.round())
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise UserError(f"{workbook}: sheet {SHEET}: {NUMBER!r} in data row {row + 1} is "
                        f"{sheet[NUMBER].iloc[row]!r}, not an image number")
    folder = _image_folder(raw_dir, image_name(int(numbers.iloc[0])))
    images = [f"{folder}{image_name(int(n))}" for n in numbers]
    grades = sheet[[c for c in sheet.columns if str(c).startswith("Grade #")]]
    df = pd.DataFrame({"image": images, "mos": pd.to_numeric(sheet[GRADE], errors="coerce"), "group": images,
                       "std": grades.apply(pd.to_numeric, errors="coerce").std(axis=1, ddof=1)})
    return check_table(df, raw_dir, workbook, EXPECTED_ROWS)


def _read_sheet(workbook: Path) -> pd.DataFrame:
    sheet = read_sheet(workbook, SHEET)
    missing = [c for c in (NUMBER, GRADE) if c not in sheet.columns]
    if missing:
        raise UserError(f"{workbook}: sheet {SHEET} lacks column(s) {', '.join(missing)}")
    return sheet


def _image_folder(raw_dir: Path, first: str) -> str:
    """'' when the images sit beside the workbook, else the one sub-folder that holds them."""
    if (raw_dir / first).is_file():
        return ""
    found = sorted(p.parent.relative_to(raw_dir).as_posix() for p in raw_dir.glob(f"*/{first}"))
    return f"{found[0]}/" if len(found) == 1 else ""  # "" lets the missing-image check name it
