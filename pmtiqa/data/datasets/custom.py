"""A dataset of one's own, declared in params.yaml's custom_datasets: a folder of images and a CSV with
a row per image. It has what a built-in dataset's module has (its scale, its protocol's image size,
its parser), built from that entry:

    custom_datasets:
      mylab:
        images: /data/mylab/images      # the folder the CSV's image paths are relative to
        labels: /data/mylab/scores.csv
        image_column: file
        score_column: mos
        group_column: content           # optional: images of one group stay on one side of a split
        higher_is_better: true
        range: [1, 5]                   # the published scale: the 0..1 score and the quality classes

`pmtiqa download` copies the folder to data/raw/<name>/images/ and the CSV to
data/raw/<name>/labels.csv (the project then reads nothing outside itself); prepare reads the copy.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets.base import check_table

IMAGES, LABELS = "images", "labels.csv"  # inside data/raw/<name>/


def header_and_lines(path: Path) -> tuple[list[str], list[int]]:
    """The CSV's header, and the line each record after it starts on, blank lines included as
    records (as pandas reads them with skip_blank_lines=False)."""
    with open(path, newline="", encoding="utf-8-sig") as file:  # a BOM is not part of the first name
        reader = csv.reader(file)
        header, lines = next(reader, []), []
        start = reader.line_num + 1
        for _ in reader:
            lines.append(start)
            start = reader.line_num + 1
    return header, lines


class CustomDataset:
    """The dataset module of a custom_datasets entry (``spec``: the entry as config.sections reads it)."""

    PARTS: tuple = ()  # nothing to fetch: download copies the declared folder and CSV
    MARKERS = (LABELS,)
    BATCH_UNIT = "crops"
    DECODE = "upright"  # photos of one's own: turned as their EXIF says, as a viewer shows them

    def __init__(self, name: str, spec):
        self.name, self.spec = name, spec
        self.LOW, self.HIGH = (float(v) for v in spec.range)
        self.HIGHER_IS_BETTER = spec.higher_is_better
        self.IMAGE_SIZE = tuple(spec.size) if isinstance(spec.size, list) else None  # own: None
        self.INSTRUCTIONS = (f"{name}: run `pmtiqa download --dataset {name}`, which copies custom_datasets.{name}."
                             f"images and .labels into data/raw/{name}/")

    def key(self, field: str) -> str:
        return f"custom_datasets.{self.name}.{field}"

    def parse(self, raw_dir: Path) -> pd.DataFrame:
        """The copied CSV as (image, mos, group); a missing column or a score off the declared range
        stops with the file, the row and the key that declares it."""
        path = raw_dir / LABELS
        where = f"{path} (a copy of {self.spec.labels})"
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
            header, lines = header_and_lines(path)
        except (OSError, ValueError, csv.Error) as err:
            raise UserError(f"{where}: not a readable CSV ({' '.join(str(err).split())})") from None
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:  # pandas would rename the second one and read the first: which one was meant?
            raise UserError(f"{where}: the header names the column {twice[0]!r} twice")
        # each row by the line of the file it starts on (the header is line 1; a quoted field may span lines)
        table.index = lines if len(lines) == len(table) else table.index + 2
        table = table[~(table == "").all(axis=1)]  # blank lines: skipped, the lines after keep their numbers
        spec = self.spec
        for field in ("image_column", "score_column", "group_column"):
            column = getattr(spec, field)
            if column and column not in table.columns:
                raise UserError(f"{where}: no column {column!r} ({self.key(field)}; the CSV has "
                                f"{', '.join(table.columns) or 'none'})")
        if table.empty:
            raise UserError(f"{where}: no rows (one per image is expected)")
        for field in ("image_column", "score_column", "group_column"):
            column = getattr(spec, field)
            empty = table.index[table[column] == ""] if column else []
            if len(empty):
                raise UserError(f"{where}: row {empty[0]}: the {column!r} cell is empty ({self.key(field)})")
        images = table[spec.image_column]
        twice = images[images.duplicated()]
        if len(twice):
            first = int(images[images == twice.iloc[0]].index[0])
            raise UserError(f"{where}: rows {first} and {int(twice.index[0])} name the same image "
                            f"{twice.iloc[0]!r} ({self.key('image_column')})")
        mos = pd.to_numeric(table[spec.score_column], errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(mos) | (mos < self.LOW) | (mos > self.HIGH)
        if bad.any():
            row = int(bad.nonzero()[0][0])
            raise UserError(f"{where}: row {table.index[row]}: score {table[spec.score_column].iloc[row]!r} is not a "
                            f"number in {self.key('range')} {spec.range}")
        df = pd.DataFrame({"image": images.replace("", None), "mos": mos,
                           "group": table[spec.group_column] if spec.group_column else images})
        # an image that is missing, not a regular file or outside the images folder (its copy, checked
        # from there): named with the column that gave it
        df = check_table(df.replace("", None), raw_dir / IMAGES, Path(f"{where} {self.key('image_column')}"), None)
        return df.assign(image=IMAGES + "/" + df["image"])
