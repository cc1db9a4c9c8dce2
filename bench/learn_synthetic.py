"""Does the recipe learn? ms_pmt from scratch on the synthetic dataset, on this machine's CPU.

Trains the variant on the first splits of the synthetic dataset with the params.yaml settings of
`overrides.synthetic` (optionally changed on the command line), and prints per split the test
SRCC of the final epoch, the wall time, and the SRCC of the same network untrained (its initial
weights, same seed) as the floor. The dataset stages run first if data/cache/synthetic is missing.

    python bench/learn_synthetic.py --splits 0 1 2 --epochs 12
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pmtiqa import paths  # noqa: E402
from pmtiqa.config import image_size, load_params  # noqa: E402
from pmtiqa.metrics import srcc  # noqa: E402
from pmtiqa.runtime import resolve_runtime  # noqa: E402
from pmtiqa.scores import to_native  # noqa: E402
from pmtiqa.train import Trainer, load_device_data, settings_for, train_split  # noqa: E402

DATASET = "synthetic"
# train params the command line may replace, and their types
TRAIN_OPTIONS = {"epochs": int, "batch_size": int, "crops_per_image": int, "test_crops": int, "crop_size": int,
                 "threads": int, "lr_step": int, "lr": float, "lr_decay": float, "weight_decay": float}


def ensure_dataset(params) -> None:
    if paths.cache_dir(DATASET).is_dir():
        return
    from pmtiqa.cache import build_cache
    from pmtiqa.datasets import prepare
    from pmtiqa.datasets.download import download
    from pmtiqa.splits import write_splits

    download(DATASET, paths.raw_dir(DATASET))
    prepare(DATASET, paths.raw_dir(DATASET), paths.labels_csv(DATASET))
    write_splits(paths.labels_csv(DATASET), paths.splits_json(DATASET), params.split)
    build_cache(paths.labels_csv(DATASET), paths.raw_dir(DATASET), paths.cache_dir(DATASET),
                size=image_size(params, DATASET), workers=params.augment.workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variant", default="ms_pmt")
    parser.add_argument("--splits", nargs="+", type=int, default=[0, 1, 2])
    for key, kind in TRAIN_OPTIONS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=kind, help=f"replace train.{key}")
    args = parser.parse_args()

    params = load_params(args.params).for_dataset(DATASET)
    changes = {key: getattr(args, key) for key in TRAIN_OPTIONS if getattr(args, key) is not None}
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, use_tuned=False, **changes))
    ensure_dataset(params)
    t = params.train
    runtime = resolve_runtime(t.device, t.precision, t.threads)
    data = load_device_data(DATASET, runtime.device, params.model.num_classes)
    print(f"{args.variant} on {DATASET}, {params.model.backbone} weights={params.model.weights}, {runtime.device} "
          f"{runtime.precision}: epochs {t.epochs}, batch {t.batch_size}, lr {t.lr:g} x {t.lr_decay:g} every {t.lr_step} "
          f"epochs, weight decay {t.weight_decay:g}, gamma {params.loss.gamma:g}, crop {t.crop_size}, "
          f"{t.crops_per_image} crops/image, {t.test_crops} test crops")
    print(f"{'split':>5} {'train':>6} {'test':>5} | {'untrained':>9} {'final':>7} {'val-sel':>7} | {'minutes':>7}")
    finals, floors = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.splits:
            settings = settings_for(params, DATASET, args.variant, k, data.data_id)
            ids = data.splits[k]
            untrained = Trainer(settings, data, runtime).predict(ids["test"])  # same seed: the starting point
            floor = srcc(to_native(untrained, data.bounds), data.mos[ids["test"].cpu().numpy()])
            started = time.perf_counter()
            metrics = train_split(settings, data, runtime, Path(tmp) / f"split{k}")
            minutes = (time.perf_counter() - started) / 60
            finals.append(metrics["final"]["srcc"])
            floors.append(floor)
            print(f"{k:>5} {len(ids['train']):>6} {len(ids['test']):>5} | {floor:>9.3f} {metrics['final']['srcc']:>7.3f} "
                  f"{metrics['val']['srcc']:>7.3f} | {minutes:>7.2f}", flush=True)
    print(f"median test SRCC (final epoch): {np.median(finals):.3f}; untrained: {np.median(floors):.3f}")


if __name__ == "__main__":
    main()
