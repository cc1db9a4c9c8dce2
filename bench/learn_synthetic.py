"""Does the recipe learn? ms_pmt from scratch on the synthetic dataset, on the CPU.

Trains the variant on splits of the synthetic dataset with the model and train settings of
`overrides.synthetic` (the backbone, train settings and loss target optionally changed on the
command line), and prints per split the test
SRCC of the final epoch, the last epoch's loss parts (L1 on the scale of loss.target, CE), the wall
time, and the SRCC of the same network untrained (its initial weights, same seed) as the floor. The
splits are the protocol's, not the demo's: the top-level `split` section of params.yaml (80/20,
and a validation part only where split.val_fraction asks for one) over every reference (`--subset`
to use fewer), made in memory so that the graph's data/splits file is left alone. The dataset
stages run first if data/cache/synthetic is missing.

    python bench/learn_synthetic.py --splits 0 1 2 --epochs 12 --crop-size 64 --threads 2
    python bench/learn_synthetic.py --target unit      # the regression target on 0..1 (loss.target)
    python bench/learn_synthetic.py --backbone resnet18 --lr 1e-3   # another network, from scratch
"""
from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pmtiqa.compute.device_data import DeviceData, load_device_data, split_tensors
from pmtiqa.compute.runtime import resolve_runtime
from pmtiqa.config.load import load_params
from pmtiqa.config.run_settings import settings_for
from pmtiqa.config.sections import TARGETS, SplitParams
from pmtiqa.core.errors import exit_status
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.data.splits import make_splits
from pmtiqa.method.metrics import srcc
from pmtiqa.method.model import STAGE_CHANNELS
from pmtiqa.method.score_scales import to_published
from pmtiqa.training.split_run import train_split
from pmtiqa.training.trainer import Trainer

DATASET = "synthetic"
FILES = DatasetFiles(DATASET)
# train params the command line may replace, and their types
TRAIN_OPTIONS = {"epochs": int, "batch_size": int, "crops_per_image": int, "test_crops": int, "crop_size": int,
                 "lr_step": int, "lr": float, "lr_decay": float, "weight_decay": float}


def ensure_dataset(params_file: str) -> None:
    """The synthetic set's stages, through the CLI as DVC and Snakemake run them, unless its cache exists."""
    if FILES.cache.is_dir():
        return
    for stage in ("download", "prepare", "split", "augment"):
        command = [sys.executable, "-m", "pmtiqa", stage, "--dataset", DATASET, "--params", params_file]
        if subprocess.run(command).returncode:
            raise SystemExit(f"`pmtiqa {stage} --dataset {DATASET}` failed (its message is above)")


def protocol_splits(data: DeviceData, split: SplitParams, n_splits: int) -> DeviceData:
    """``data`` with the splits of ``split`` instead of those of data/splits/synthetic.json."""
    labels = pd.read_csv(FILES.labels, dtype={"image": str, "group": str})
    if labels["image"].tolist() != data.names:
        raise SystemExit(f"{FILES.labels} and {FILES.cache} disagree: rerun the dataset stages")
    made = make_splits(labels["group"].tolist(), n_splits, split.test_fraction, split.val_fraction, split.seed,
                       split.subset)["splits"]
    return dataclasses.replace(data, splits=split_tensors(made, data.images.device),
                               inputs=[{**data.inputs[0], "parts": part} for part in made])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variant", default="ms_pmt")
    parser.add_argument("--backbone", choices=list(STAGE_CHANNELS), help="replace model.backbone")
    parser.add_argument("--splits", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--subset", type=float, default=1.0, help="share of the references used (split.subset)")
    parser.add_argument("--val-fraction", type=float, help="replace split.val_fraction (the demo's: 0.2)")
    for key, kind in TRAIN_OPTIONS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=kind, help=f"replace train.{key}")
    parser.add_argument("--threads", type=int, help="replace runtime.threads")
    parser.add_argument("--target", choices=TARGETS, help="replace loss.target")
    parser.add_argument("--gamma", type=float, help="replace loss.gamma")
    args = parser.parse_args()

    params = load_params(args.params).for_dataset(DATASET)
    changes = {key: getattr(args, key) for key in TRAIN_OPTIONS if getattr(args, key) is not None}
    loss = {key: getattr(args, key) for key in ("target", "gamma") if getattr(args, key) is not None}
    model = {"backbone": args.backbone} if args.backbone else {}
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, use_tuned=False, **changes),
                                 loss=dataclasses.replace(params.loss, **loss),
                                 model=dataclasses.replace(params.model, **model))
    ensure_dataset(args.params)
    t, r = params.train, params.runtime
    runtime = resolve_runtime(r.device, r.precision, args.threads if args.threads is not None else r.threads,
                              r.compile, r.step)
    protocol = dataclasses.replace(load_params(args.params).split, subset=args.subset)
    if args.val_fraction is not None:
        protocol = dataclasses.replace(protocol, val_fraction=args.val_fraction)
    data = protocol_splits(load_device_data(FILES, runtime.device, params.model.num_classes, t.crop_size,
                                            params.custom_datasets, params.loss.levels, params.made_as),
                           protocol, max(args.splits) + 1)
    print(f"{args.variant} on {DATASET}, {params.model.backbone} weights={params.model.weights}, {runtime.device} "
          f"{runtime.precision}: epochs {t.epochs}, batch {t.batch_size}, lr {t.lr:g} x {t.lr_decay:g} every {t.lr_step} "
          f"epochs, weight decay {t.weight_decay:g}, target {params.loss.target}, gamma {params.loss.gamma:g}, "
          f"crop {t.crop_size}, "
          f"{t.crops_per_image} crops/image, {t.test_crops} test crops")
    print(f"{'split':>5} {'train':>6} {'test':>5} | {'untrained':>9} {'final':>7} {'val-sel':>7} | {'last L1':>8} "
          f"{'last CE':>7} | {'minutes':>7}")
    finals, floors = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.splits:
            settings = settings_for(params, args.variant, k, data.inputs[k], {})
            ids = data.splits[k]
            untrained = Trainer(settings, data, runtime).predict(ids["test"])  # same seed: the starting point
            floor = srcc(to_published(untrained, data.bounds), data.mos[ids["test"].cpu().numpy()])
            started = time.perf_counter()
            metrics = train_split(settings, data, runtime, Path(tmp) / f"split{k}")
            minutes = (time.perf_counter() - started) / 60
            finals.append(metrics["final"]["srcc"])
            floors.append(floor)
            last = pd.read_csv(Path(tmp) / f"split{k}" / "history.csv").iloc[-1]
            val = f"{metrics['val']['srcc']:>7.3f}" if "val" in metrics else f"{'-':>7}"
            print(f"{k:>5} {len(ids['train']):>6} {len(ids['test']):>5} | {floor:>9.3f} {metrics['final']['srcc']:>7.3f} "
                  f"{val} | {last['l1']:>8.4f} {last['ce']:>7.4f} | {minutes:>7.2f}", flush=True)
    print(f"median test SRCC (final epoch): {np.median(finals):.3f}; untrained: {np.median(floors):.3f}")


if __name__ == "__main__":
    # bad params or options (a backbone its weights do not fit, say): one line and status 2, as pmtiqa's own
    sys.exit(exit_status(lambda: main() or 0, lambda message: print(f"learn_synthetic.py: error: {message}",
                                                                       file=sys.stderr)))
