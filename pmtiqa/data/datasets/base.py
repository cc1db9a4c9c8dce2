"""What the dataset modules share: where a file comes from (Part) and the checks a parser runs.

Every dataset module (bid.py, livec.py, ...) is a plain module with the same names:

- ``LOW``, ``HIGH``, ``HIGHER_IS_BETTER``: the fixed, published score scale and its direction;
  ``prepare`` maps it onto [0, 1] with higher always better.
- ``EXPECTED_ROWS``: the published image count (None where the generator decides).
- ``MARKERS``: relative paths, any one of which identifies the dataset's root folder inside an
  archive or a folder a user hands us; ``download`` hoists that folder to ``data/raw/<name>/``.
- ``PARTS``: what a plain ``pmtiqa download`` fetches (empty where the site needs a form, and
  ``INSTRUCTIONS`` then says what to do).
- ``parse(raw_dir) -> DataFrame`` with columns ``image`` (relative to raw_dir), ``mos``, ``group``
  and optionally ``std``, ``distortion``, ``level``.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import inside
from pmtiqa.core.readers import file_kind

# A count this far from the published one means a truncated or wrong label file. A little slack
# lets a community copy that fixes or lacks a file or two through; the missing-image check and
# the per-line checks of the parsers catch the rest.
COUNT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Part:
    """One file that ``download`` fetches for a dataset.

    url: where it comes from. markers: relative paths, any one of which marks the folder holding
    this part's content after extraction (empty for a plain, non-archive file). into: the folder
    under ``data/raw/<name>/`` that receives that content ("" = the root). sha256: the known
    checksum, when one is published (none is, for these datasets; the first download records it).
    """

    url: str
    markers: tuple[str, ...] = ()
    into: str = ""
    sha256: str | None = None


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a UserError that names it and what it should be."""
    if not path.is_file():
        raise UserError(f"{path}: missing ({what})")
    return path


def read_sheet(workbook: Path, sheet: str, **read_options) -> pd.DataFrame:
    """One sheet of an Excel workbook; an unreadable workbook or a missing sheet stops with the path."""
    try:
        with warnings.catch_warnings():
            # pandas 3 deprecates its xlrd engine, which is still the only reader of .xls originals (BID)
            warnings.filterwarnings("ignore", message=".*xlrd engine is deprecated")
            return pd.read_excel(workbook, sheet_name=sheet, **read_options)
    except ValueError as err:  # also raised for a missing sheet
        raise UserError(f"{workbook}: cannot read sheet {sheet} ({err})") from None
    except Exception as err:  # xlrd/openpyxl/zipfile raise their own types for truncated or corrupt files
        raise UserError(f"{workbook}: not a readable workbook ({type(err).__name__}: {err})") from None


def first_existing(raw_dir: Path, names: Iterable[str], what: str) -> Path:
    """The first of ``names`` that exists under raw_dir; a UserError listing them all otherwise."""
    names = list(names)
    for name in names:
        if (raw_dir / name).is_file():
            return raw_dir / name
    raise UserError(f"{raw_dir}: none of {', '.join(names)} found ({what})")


def check_table(df: pd.DataFrame, raw_dir: Path, label_file: Path, expected_rows: int | None) -> pd.DataFrame:
    """Run the checks every parser owes: no empty cells, a plausible count, every image present."""
    required = ["image", "mos", "group"]
    empty = df[required].isna().any(axis=1)
    if empty.any():
        row = int(empty.to_numpy().nonzero()[0][0])
        raise UserError(f"{label_file}: malformed or truncated: entry {row + 1} has an empty "
                        f"{', '.join(c for c in required if pd.isna(df.iloc[row][c]))}")
    check_count(len(df), expected_rows, label_file)
    check_images(raw_dir, df["image"], label_file)
    return df.reset_index(drop=True)


def check_count(n: int, expected: int | None, label_file: Path) -> None:
    if expected is None:
        return
    if abs(n - expected) > max(2, COUNT_TOLERANCE * expected):
        raise UserError(f"{label_file}: {n} entries, but the published dataset has {expected}: "
                        f"a truncated or wrong label file?")


def check_images(raw_dir: Path, images: Iterable[str], label_file: Path) -> None:
    """Every listed image is a regular file inside raw_dir; otherwise one error that names the label
    file and the images (a name that leaves raw_dir, or a FIFO, folder or device, by its entry)."""
    missing = []
    for entry, name in enumerate(images):
        kind = file_kind(_inside(raw_dir, name, label_file, entry))
        if kind == "missing":
            missing.append(name)
        elif kind != "file":
            raise UserError(f"{label_file}: entry {entry + 1}: {raw_dir / name} is {kind}, not a regular file")
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise UserError(f"{label_file}: {len(missing)} listed image(s) missing under {raw_dir}: {shown}")


def _inside(raw_dir: Path, name: str, label_file: Path, entry: int) -> Path:
    """raw_dir / name, refused (naming the entry) where it leaves raw_dir."""
    try:
        return inside(raw_dir, name)
    except ValueError as why:
        raise UserError(f"{label_file}: entry {entry + 1}: image {name!r} {why}; images must lie under "
                        f"{raw_dir}/") from None
