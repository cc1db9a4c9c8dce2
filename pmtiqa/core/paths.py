"""The file contract of the stage graph (docs/engines.md, "The stage graph"): one place that names every path.

All paths are relative to the working directory, where params.yaml, dvc.yaml and the Snakefile live.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetFiles:
    """Every file and folder the stages of one dataset read and write. The command line hands each
    stage its paths from here, so that no stage decides where another's files are."""

    dataset: str

    @property
    def raw(self) -> Path:
        return Path("data/raw") / self.dataset

    @property
    def download_record(self) -> Path:
        """Where the dataset's files came from, with their sha256: download writes it, the report reads it."""
        return self.raw / DOWNLOAD_RECORD

    @property
    def labels(self) -> Path:
        return Path("data/prepared") / self.dataset / "labels.csv"

    @property
    def splits(self) -> Path:
        return Path("data/splits") / f"{self.dataset}.json"

    @property
    def cache(self) -> Path:
        return Path("data/cache") / self.dataset

    @property
    def tune(self) -> Path:
        return Path("runs/tune") / self.dataset

    @property
    def best(self) -> Path:
        """tune's answer, which train reads."""
        return self.tune / "best.json"

    def runs(self, variant: str) -> Path:
        return Path("runs/train") / self.dataset / variant

    def run(self, variant: str, split: int) -> Path:
        return self.runs(variant) / f"split{split}"

    def metrics(self, variant: str) -> Path:
        return Path("metrics") / self.dataset / f"{variant}.json"


DOWNLOAD_RECORD = ".download.json"  # inside data/raw/<ds>/
CROSS_DIR = Path("metrics/cross")  # pmtiqa cross
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
