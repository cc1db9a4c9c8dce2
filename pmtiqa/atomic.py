"""Atomic writes: a killed stage never leaves a file or folder that looks finished; and the
readers of what stages write, which name a missing or malformed file and say what to run.

Everything is written under a temporary name in the destination's folder and then renamed,
which is atomic on POSIX file systems.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pmtiqa.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, mode: int) -> None:
    """mkstemp and mkdtemp create private (0600/0700) entries; give the result the usual permissions."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``dest``; rename it onto ``dest`` on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        _publish_mode(tmp, 0o666)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; swap it in for ``dest`` on success.

    An existing ``dest`` stays untouched until the new folder is complete.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        _publish_mode(tmp, 0o777)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(dest: str | os.PathLike, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text)


def write_json(dest: str | os.PathLike, data: Any) -> None:
    write_text(dest, json.dumps(data, indent=2, sort_keys=False) + "\n")


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
