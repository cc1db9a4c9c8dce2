"""Wall time of one paper-protocol training split, and from it the whole paper grid.

Trains ResNet-50 (ms_pmt) with the paper's protocol from params.yaml (epochs, lr schedule, batch,
crops per image, test crops, per-epoch test scoring, a validation part where split.val_fraction
asks for one) on a LIVEC-sized set held in memory: 1162 random 500x500 images with random scores. The numbers it learns are meaningless; the
compute is the real one (weights are random because the GPU machine cannot download ImageNet's,
which costs nothing in time). The grid estimate scales the split's time by each dataset's image
count (bid 586, livec 1162, live 779, csiq 866) for 6 variants x 10 splits.

    python bench/bench_paper_run.py [--epochs 30] [--images 1162] [--compile reduce-overhead]
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pmtiqa.compute.device_data import DeviceData
from pmtiqa.compute.runtime import resolve_runtime
from pmtiqa.config.load import load_params
from pmtiqa.config.run_settings import Settings
from pmtiqa.config.sections import COMPILE_MODES, STEP_MODES
from pmtiqa.method.losses import quality_level
from pmtiqa.training.split_run import train_split

PAPER_SIZES = {"bid": 586, "livec": 1162, "live": 779, "csiq": 866}


def livec_sized(n: int, device: torch.device, val_fraction: float, seed: int = 0) -> DeviceData:
    """n random images and scores, split 80/20 with a validation part of val_fraction of train (split.val_fraction)."""
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (n, 500, 500, 3), dtype=np.uint8)).to(device)
    score = torch.tensor(rng.uniform(0, 1, n), dtype=torch.float32, device=device)
    order = rng.permutation(n)
    n_test = n // 5
    n_val = round((n - n_test) * val_fraction)
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    return DeviceData(
        images=images, sizes=None, score=score, level=quality_level(score, 10), mos=score.cpu().numpy() * 100,
        names=[f"img{i}" for i in range(n)], bounds=(0.0, 100.0, True),
        splits=[{k: torch.tensor(np.sort(v), device=device) for k, v in parts.items()}],
        inputs=[{"cache": "bench", "parts": {k: np.sort(v).tolist() for k, v in parts.items()}}],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--epochs", type=int, help="override train.epochs (the estimate scales to the params')")
    parser.add_argument("--images", type=int, default=PAPER_SIZES["livec"])
    parser.add_argument("--compile", choices=COMPILE_MODES, help="override runtime.compile (a short --epochs run "
                                                                  "then overstates the one-off compile time)")
    parser.add_argument("--step", choices=STEP_MODES, help="override runtime.step (auto: CUDA graphs on a GPU)")
    args = parser.parse_args()
    params = load_params(args.params).for_dataset("livec")
    t, r = params.train, params.runtime
    runtime = resolve_runtime(r.device, r.precision, r.threads, args.compile or r.compile, args.step or r.step)
    train = dataclasses.replace(t, epochs=args.epochs or t.epochs, use_tuned=False)
    model = dataclasses.replace(params.model, weights="none")
    data = livec_sized(args.images, runtime.device, params.split.val_fraction)
    settings = Settings("livec", "ms_pmt", 0, model, params.loss, train, data.inputs[0])
    name = torch.cuda.get_device_name() if runtime.device.type == "cuda" else "CPU"
    print(f"device: {name}, precision {runtime.precision}, compile {runtime.compile}, step "
          f"{'graph' if runtime.graphs else 'eager'}; {model.backbone}, "
          f"{train.epochs} epochs, batch {train.batch_size}, {train.crops_per_image} crops/image, "
          f"crop {train.crop_size}, {train.test_crops} test crops; {args.images} images "
          f"({len(data.splits[0]['train'])} train, {len(data.splits[0]['val'])} val)")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        train_split(settings, data, runtime, Path(tmp) / "split0", progress=False)
        seconds = time.perf_counter() - started
        history = pd.read_csv(Path(tmp) / "split0" / "history.csv")
        epochs = history["seconds"]
    # The params' epoch count, if --epochs shortened the run: the one-off start (model, kernels chosen
    # by cudnn.benchmark, compilation) once, and every further epoch at the pace of the later ones.
    steady = float(epochs.iloc[1:].median()) if len(epochs) > 1 else float(epochs.iloc[0])
    per_split = seconds + (t.epochs - train.epochs) * steady
    print(f"epochs took {', '.join(f'{e:.1f}' for e in epochs)} s (train and evaluate; scoring the test part "
          f"{(history['scoring_seconds'] / epochs).median():.0%} of an epoch); start-up {seconds - epochs.sum():.1f} s")
    samples = len(data.splits[0]["train"]) * train.crops_per_image * train.epochs
    print(f"one split: {seconds:.1f} s for {train.epochs} epochs ({samples / seconds:.0f} training crops/s "
          f"including per-epoch evaluation); at {t.epochs} epochs: {per_split:.1f} s")
    total = 0.0
    for ds, n in PAPER_SIZES.items():
        grid = per_split * n / args.images * 6 * 10
        total += grid
        print(f"  {ds:<6} {n:>5} images: 6 variants x 10 splits = {grid / 3600:.2f} h")
    print(f"whole paper grid (4 datasets x 6 variants x 10 splits): {total / 3600:.2f} h on this device")


if __name__ == "__main__":
    main()
