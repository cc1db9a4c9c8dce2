"""Reading MATLAB .mat label files (LIVE, LIVEC) with one clear error naming the file and variable."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pmtiqa.core.errors import UserError
from pmtiqa.data.datasets.base import require_file


def load_mat(path: Path) -> dict:
    import scipy.io

    require_file(path, "a label file of the release")
    try:
        return scipy.io.loadmat(path)
    except Exception as err:  # scipy raises ValueError, TypeError, OSError... for a damaged file
        raise UserError(f"{path}: not a readable .mat file, truncated? ({type(err).__name__}: {err})") from None


def _variable(mat: dict, key: str, path: Path) -> np.ndarray:
    if key not in mat:
        known = ", ".join(k for k in mat if not k.startswith("__"))
        raise UserError(f"{path}: no variable {key!r} (found: {known or 'none'})")
    return np.asarray(mat[key])


def mat_vector(mat: dict, key: str, path: Path) -> np.ndarray:
    """A 1 x N or N x 1 numeric variable as a flat float array."""
    value = _variable(mat, key, path)
    if value.ndim != 2 or min(value.shape) != 1 or not np.issubdtype(value.dtype, np.number):
        raise UserError(f"{path}: {key} should be a 1 x N numeric vector, got {value.dtype} {value.shape}")
    return value.ravel().astype(np.float64)


def mat_strings(mat: dict, key: str, path: Path) -> list[str]:
    """A 1 x N or N x 1 cell array of strings as a list."""
    value = _variable(mat, key, path)
    if value.ndim != 2 or min(value.shape) != 1:
        raise UserError(f"{path}: {key} should be a 1 x N cell array of names, got shape {value.shape}")
    names = []
    for i, cell in enumerate(value.ravel()):
        flat = np.asarray(cell).ravel()
        if flat.size != 1 or not isinstance(flat[0], str):
            raise UserError(f"{path}: {key} entry {i + 1} is not a file name: {cell!r}")
        names.append(str(flat[0]).strip())
    return names
