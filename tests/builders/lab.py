"""A dataset of one's own as a user brings it: a folder of images outside the project and a CSV with
their own column names (24 images whose noise level sets the score), declared in a project's
params.yaml as custom_datasets.mylab."""
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

N_IMAGES = 24


def make_lab(root: Path) -> tuple[Path, Path]:
    """root/lab/pictures/*.png (noise whose level sets the score) and root/lab/ratings.csv."""
    rng = np.random.default_rng(0)
    folder = root / "lab" / "pictures"
    (folder / "set_a").mkdir(parents=True)
    rows = []
    for i in range(N_IMAGES):
        quality = 1 + 4 * i / (N_IMAGES - 1)  # 1..5, higher is better
        noise = rng.normal(0, 1, (44, 48, 3)) * (5 - quality) * 25
        name = f"set_a/p{i:02d}.png" if i % 2 else f"p{i:02d}.png"
        Image.fromarray(np.clip(128 + noise, 0, 255).astype(np.uint8)).save(folder / name)
        rows.append({"file": name, "rating": round(quality, 3), "scene": f"s{i // 2}"})
    table = root / "lab" / "ratings.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return folder, table


def lab_params(folder: Path, table: Path, **change) -> dict:
    spec = {"images": str(folder), "labels": str(table), "image_column": "file", "score_column": "rating",
            "group_column": "scene", "higher_is_better": True, "range": [1, 5], "size": [40, 40], **change}
    return {
        "datasets": ["mylab"], "variants": ["ms_pmt"],
        "runtime": {"device": "cpu", "threads": 1, "workers": 1, "precision": "fp32"},
        "custom_datasets": {"mylab": spec},
        "split": {"n_splits": 2, "test_fraction": 0.25},
        "model": {"backbone": "cnn4", "weights": "none"},
        "train": {"epochs": 2, "batch_size": 8, "crop_size": 32, "crops_per_image": 1, "test_crops": 2, "lr": 1e-3},
        "tune": {"n_trials": 1, "epochs": 2, "batch_size": [8, 8], "lr": [1e-3, 1e-3], "gamma": [1.0, 1.0]},
    }


def lab_project(tmp_path: Path, monkeypatch, **sections) -> Path:
    """A project folder, the working directory, with params.yaml declaring mylab (``sections``
    updating lab_params' sections); the lab's files lie outside it."""
    folder, table = make_lab(tmp_path)
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    params = lab_params(folder, table)
    for name, values in sections.items():
        params[name] = {**params.get(name, {}), **values}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root
