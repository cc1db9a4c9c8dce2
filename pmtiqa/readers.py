"""Readers of the files that stages write: a missing, malformed or incomplete file stops with its
path and what to run to make it again, instead of a traceback from deep inside json or pandas."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pmtiqa.errors import UserError


def read_json(path: Path, missing: str) -> Any:
    """The JSON at ``path``; a missing or unreadable file stops with its path (``missing`` says what to run)."""
    if not path.is_file():
        raise UserError(f"{path}: missing; {missing}")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None


def read_csv(path: Path, fix: str, columns: Iterable[str] = (), **read_options: Any):
    """The CSV at ``path`` as a DataFrame with at least ``columns``; a missing or unreadable file,
    or one without them, stops with its path (``fix`` says what to run)."""
    import pandas as pd  # here, not at the top: the graph engines import this package's light modules

    if not path.is_file():
        raise UserError(f"{path}: missing; {fix}")
    try:
        table = pd.read_csv(path, **read_options)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UserError(f"{path}: cannot read ({err}); {fix}") from None
    lacking = [c for c in columns if c not in table.columns]
    if lacking:
        raise UserError(f"{path}: lacks column(s) {', '.join(lacking)}; {fix}")
    return table
