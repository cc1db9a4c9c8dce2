"""The file contract of the stage graph (DESIGN.md, "The graph"): one place that names every path.

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
