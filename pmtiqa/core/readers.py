"""Readers of the files that stages write: a missing, malformed or incomplete file stops with its
path and what to run to make it again, instead of a traceback from deep inside json or pandas."""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import inside


def read_json(path: Path, missing: str) -> Any:
    """The JSON at ``path``; a missing or unreadable file stops with its path (``missing`` says what to run)."""
    _require_regular(path, missing)
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None


def _require_regular(path: Path, fix: str) -> None:
    """Stop unless ``path`` is a regular file: reading a FIFO would wait for a writer forever."""
    kind = file_kind(path)
    if kind != "file":
        raise UserError(f"{path}: {kind}" + ("" if kind == "missing" else ", not a regular file") + f"; {fix}")


def read_csv(path: Path, fix: str, columns: Iterable[str] = (), numbers: Iterable[str] = (), **read_options: Any):
    """The CSV at ``path`` as a DataFrame with at least ``columns``, its ``numbers`` columns (where
    present) holding numbers or nothing; a missing or unreadable file, or one without them or with
    text for a number, stops with its path and, for a value, its row (``fix`` says what to run)."""
    import numpy as np  # here, not at the top: the graph engines import this package's light modules
    import pandas as pd

    _require_regular(path, fix)
    try:
        table = pd.read_csv(path, **read_options)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UserError(f"{path}: cannot read ({err}); {fix}") from None
    lacking = [c for c in columns if c not in table.columns]
    if lacking:
        raise UserError(f"{path}: lacks column(s) {', '.join(lacking)}; {fix}")
    for column in [c for c in numbers if c in table.columns]:
        # True and False: pandas would count them 1 and 0
        try:
            numbers_of = pd.to_numeric(table[column], errors="coerce")
        except OverflowError:  # integers no float holds, a whole column of them
            raise UserError(f"{path}: {column}: holds integers too large for a number; {fix}") from None
        not_number = table[column].map(lambda v: isinstance(v, (bool, np.bool_))) | (
            table[column].notna() & numbers_of.isna())
        if not_number.any():
            row = int(not_number.to_numpy().nonzero()[0][0])
            value = table[column].iloc[row]
            shown = repr(bool(value)) if isinstance(value, (bool, np.bool_)) else repr(value)
            raise UserError(f"{path}: row {row + 2}: {column} {shown} is not a number; {fix}")
    return table


# -- labels.csv: the contract every stage after prepare reads (data/prepare.py) ------------------------

LABEL_COLUMNS = ("image", "mos", "score", "group")
PREPARE_AGAIN = "run `pmtiqa prepare` for this dataset"


def read_labels(path: Path, fix: str = PREPARE_AGAIN):
    """labels.csv as a DataFrame, checked by ``check_labels``; a bad file stops with one line
    naming it, the column and the first bad row."""
    # Only an empty cell is missing: an image or group called "NA" or "null" is a name
    table = read_csv(path, fix, LABEL_COLUMNS, dtype={"image": str, "group": str},
                     keep_default_na=False, na_values=[""])
    check_labels(table, path)
    return table


def check_labels(table, path: Path) -> None:
    """Refuse, naming ``path``, the column and the first bad row (counted from 1, below the header):
    an empty image or group, a MOS that is not a finite number, a score outside 0..1, and an image
    listed twice (both rows named)."""
    import numpy as np
    import pandas as pd

    for column in ("image", "group"):
        _refuse_first(path, column, table[column].isna().to_numpy(), table[column], "empty")
        # a line break in a name would break every one-line message that names the image
        control = table[column].astype(str).str.contains(r"[\x00-\x1f\x7f]", regex=True).to_numpy()
        _refuse_first(path, column, control, table[column], "a name with a control character")
    for column, low, high in (("mos", -np.inf, np.inf), ("score", 0.0, 1.0)):
        number = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        _refuse_first(path, column, table[column].isna().to_numpy(), table[column], "empty")
        _refuse_first(path, column, np.isnan(number), table[column], "not a number")
        _refuse_first(path, column, ~np.isfinite(number), table[column], "not a finite number")
        _refuse_first(path, column, (number < low) | (number > high), table[column], f"outside {low:g}..{high:g}")
    check_unique_images(table["image"].map(_spelling).tolist(), table["image"].tolist(), path)


def _refuse_first(path: Path, column: str, bad, values, what: str) -> None:
    if bad.any():
        row = int(bad.argmax())
        value = values.iloc[row]
        shown = repr(value) if isinstance(value, str) else str(value)
        raise UserError(f"{path}: column {column}, row {row + 1}: {shown} is {what}"
                        + (f" (and {int(bad.sum()) - 1} more row(s))" if bad.sum() > 1 else ""))


def _spelling(name: str) -> str:
    """One spelling of a relative path: ``a//b``, ``./a/b`` and ``a/x/../b`` name the same image."""
    return os.path.normpath(name)


def check_unique_images(keys: list, names: list[str], path: Path) -> None:
    """Refuse, naming both rows, an image that ``keys`` (its spelling, or the file it resolves to)
    list twice: it would land in the train and the test part of the same split."""
    first_row: dict = {}
    for row, key in enumerate(keys):
        if key in first_row:
            earlier = first_row[key]
            raise UserError(f"{path}: column image, rows {earlier + 1} and {row + 1}: {names[earlier]!r} and "
                            f"{names[row]!r} are the same image; list each image once")
        first_row[key] = row


# -- the images labels.csv names: inside data/raw/<ds>/, regular files only ------------------

def image_files(names: list[str], raw_dir: Path, labels_csv: Path) -> list[Path]:
    """The file of each image ``names`` lists, under ``raw_dir``; refused, naming the row, where a
    name leaves the folder, is missing or is not a regular file, or where two rows reach one file."""
    files = [_image_file(name, raw_dir, labels_csv, row) for row, name in enumerate(names)]
    check_unique_images([file.resolve() for file in files], names, labels_csv)
    return files


def _image_file(name: str, raw_dir: Path, labels_csv: Path, row: int) -> Path:
    try:
        file = inside(raw_dir, name)
    except ValueError as why:
        raise UserError(f"{labels_csv}: column image, row {row + 1}: {name!r} {why}; "
                        f"images must lie under {raw_dir}/") from None
    kind = file_kind(file)
    if kind != "file":
        raise UserError(f"{labels_csv}: column image, row {row + 1}: {file} is {kind}"
                        + ("" if kind == "missing" else ", not a regular file"))
    return file


def file_kind(path: Path) -> str:
    """"file" for a regular file (after symlinks), else what it is: stages open regular files only,
    since opening a FIFO blocks until a writer comes and a device may never end."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as err:
        return f"unreadable ({err.strerror})"
    kinds = {stat.S_ISREG: "file", stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO",
             stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket"}
    return next((kind for test, kind in kinds.items() if test(mode)), "not a regular file")


def open_regular(path: Path):
    """``path`` opened for binary reading, refused (OSError) unless it is a regular file by the time
    it is open: O_NONBLOCK keeps a FIFO swapped in after the check from blocking the open."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
