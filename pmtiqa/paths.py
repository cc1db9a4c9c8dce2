"""The file contract of the stage graph (README, "The stage graph"): one place that names every path.

All paths are relative to the working directory, where params.yaml, dvc.yaml and the Snakefile live.
"""
from __future__ import annotations

from pathlib import Path


def raw_dir(dataset: str) -> Path:
    return Path("data/raw") / dataset


def labels_csv(dataset: str) -> Path:
    return Path("data/prepared") / dataset / "labels.csv"


def splits_json(dataset: str) -> Path:
    return Path("data/splits") / f"{dataset}.json"


def cache_dir(dataset: str) -> Path:
    return Path("data/cache") / dataset


def tune_dir(dataset: str) -> Path:
    return Path("runs/tune") / dataset


def train_dir(dataset: str, variant: str, split: int) -> Path:
    return Path("runs/train") / dataset / variant / f"split{split}"


def metrics_json(dataset: str, variant: str) -> Path:
    return Path("metrics") / dataset / f"{variant}.json"


REPORTS_DIR = Path("reports")
SUMMARY_JSON = Path("metrics.json")


def inside(root: Path, name: str) -> Path:
    """``root / name`` where that names something inside ``root`` once symlinks are followed;
    ValueError saying why not (an absolute path, a ``..`` that climbs out, a symlink that leaves).

    Every path labels.csv names goes through here, so that a hostile or broken label file can
    make a stage read nothing outside the dataset's own folder.
    """
    if not name or Path(name).is_absolute():
        raise ValueError("an absolute path" if name else "an empty path")
    real_root = root.resolve()
    real = (root / name).resolve()
    if real != real_root and real_root not in real.parents:
        raise ValueError(f"leaves {root}/" + (" through a symlink" if ".." not in Path(name).parts else ""))
    return root / name
