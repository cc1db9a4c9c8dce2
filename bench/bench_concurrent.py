"""Paper-protocol trainings sharing one device, 1, 2, 4 and 8 at once: their pace, and the paper grid's hours.

A LIVEC-sized dataset of one's own (1162 photo-like 500x500 JPEGs with random scores) goes through the
real stages in a temporary project (download, prepare, split, augment). Then for each count k,
`pmtiqa train` trains k splits of ms_pmt at once (runtime.parallel_splits k, a process each) for
--epochs epochs, on the protocol of the repository's params.yaml as LIVEC sees it: batch 12, 4 crops
per image, 10 test crops scored every epoch, runtime.step auto (CUDA graphs on a GPU). The weights
are random (the GPU machine cannot download ImageNet's), which costs nothing in time; the numbers
learnt are meaningless, the compute is the real one.

From each split's history.csv: a steady epoch's seconds (the median of the epochs after the first)
and the share of it spent scoring the test part; from the command's wall time less its slowest
split's epochs, the start-up of a run (process, data onto the device, graph capture). A run of the
paper's 30 epochs then takes start-up + 30 x epoch, and the paper grid (4 datasets x 6 variants x
10 splits, each dataset's epochs scaled by its image count) k at a time takes
    sum over datasets of 60 x (start-up + 30 x epoch x images / 1162) / k.

    python bench/bench_concurrent.py                      # on a GPU: 1 2 4 8 at once, 3 epochs each
    python bench/bench_concurrent.py --at-once 1 2 --epochs 2 --images 24 --image-size 64 --crop 32 \
        --backbone resnet18                               # a quick look on a CPU
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from photos import write_jpegs  # bench/photos.py, beside this script

ROOT = Path(__file__).resolve().parents[1]

PAPER_SIZES = {"bid": 586, "livec": 1162, "live": 779, "csiq": 866}
RUNS_PER_DATASET = 6 * 10  # variants x splits
DATASET = "benchset"


def pmtiqa(project: Path, *argv: str) -> float:
    """Run a pmtiqa command in the project; its wall seconds. Its log goes to the project's logs/."""
    log = project / "logs" / f"{'_'.join(argv[:1])}.log"
    log.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    with log.open("a") as out:
        done = subprocess.run([sys.executable, "-m", "pmtiqa", *argv, "--dataset", DATASET], cwd=project, stdout=out,
                              stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        raise RuntimeError(f"pmtiqa {' '.join(argv)} failed ({done.returncode}): " + " | ".join(tail))
    return time.perf_counter() - started


def make_project(folder: Path, args: argparse.Namespace) -> Path:
    """A project whose params are the repository's, with the LIVEC-sized dataset declared and cached."""
    images = write_jpegs(folder / "photos", args.images, (args.image_size, args.image_size))
    scores = np.random.default_rng(0).uniform(0, 100, len(images))
    pd.DataFrame({"image": [p.name for p in images], "mos": scores.round(3)}).to_csv(folder / "scores.csv", index=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"], params["variants"] = [DATASET], ["ms_pmt"]
    params["custom_datasets"] = {DATASET: {"images": str(folder / "photos"), "labels": str(folder / "scores.csv"),
                                           "range": [0, 100], "size": [args.image_size, args.image_size]}}
    livec = params["overrides"]["livec"]  # the LIVEC protocol, whatever it overrides, with these on top
    model = {**livec.get("model", {}), "weights": "none"}
    if args.backbone:
        model["backbone"] = args.backbone
    train = {**livec.get("train", {}), "epochs": args.epochs, "use_tuned": False}
    if args.crop:
        train["crop_size"] = args.crop
    params["overrides"][DATASET] = {**livec, "split": {**livec.get("split", {}), "n_splits": max(args.at_once)},
                                    "model": model, "train": train}
    project = folder / "project"
    project.mkdir()
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("download", "prepare", "split", "augment"):
        pmtiqa(project, stage)
    return project


def at_once(project: Path, k: int) -> dict:
    """Train k splits at once; the pace of their epochs and the start-up of a run."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["overrides"][DATASET]["split"]["n_splits"] = k
    params["runtime"]["parallel_splits"] = k
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.rmtree(project / "runs", ignore_errors=True)
    wall = pmtiqa(project, "train", "--variant", "ms_pmt")
    histories = [pd.read_csv(project / f"runs/train/{DATASET}/ms_pmt/split{i}/history.csv") for i in range(k)]
    later = pd.concat([h.iloc[1:] if len(h) > 1 else h for h in histories])
    epoch = statistics.median(later["seconds"])
    return {"at_once": k, "epoch_s": epoch, "scoring_share": float((later["scoring_seconds"] / later["seconds"]).median()),
            "startup_s": max(0.0, wall - max(h["seconds"].sum() for h in histories)), "wall_s": wall}


def estimate(row: dict, n_images: int, epochs: int) -> dict:
    """A paper run's minutes (at LIVEC's size) and the grid's hours, k runs at a time."""
    run_s = row["startup_s"] + epochs * row["epoch_s"]
    grid_s = sum(RUNS_PER_DATASET * (row["startup_s"] + epochs * row["epoch_s"] * n / n_images)
                 for n in PAPER_SIZES.values()) / row["at_once"]
    return {**row, "run_min": run_s / 60, "grid_h": grid_s / 3600}


def at_least(low: int):
    """An argparse type: a whole number of at least ``low`` (argparse names the option)."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low}")
        return value
    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at-once", nargs="+", type=at_least(1), default=[1, 2, 4, 8], help="runs sharing the device")
    parser.add_argument("--epochs", type=at_least(1), default=3, help="epochs each run trains (the estimate scales to 30)")
    parser.add_argument("--paper-epochs", type=at_least(1), default=30)
    parser.add_argument("--images", type=at_least(10), default=PAPER_SIZES["livec"])
    parser.add_argument("--image-size", type=at_least(32), default=500)
    parser.add_argument("--crop", type=int, help="train.crop_size (default: params.yaml's)")
    parser.add_argument("--backbone", help="model.backbone (default: params.yaml's)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file (bench/gpu_table.py reads it)")
    args = parser.parse_args()
    if args.json:  # a file that cannot be written stops now, not after the first measurement
        try:
            args.json.write_text(json.dumps({"rows": []}))
        except OSError as err:
            parser.error(f"--json {args.json}: {err.strerror}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        project = make_project(Path(tmp), args)
        print(f"{args.images} images {args.image_size}x{args.image_size} through download, prepare, split and "
              f"augment in {time.perf_counter() - started:.0f} s; ms_pmt, {args.epochs} epochs per run "
              f"(estimates at {args.paper_epochs})", flush=True)
        header = f"{'at once':>7} | {'epoch s':>8} {'scoring':>8} {'start-up s':>10} | {'run min':>8} " \
                 f"{'grid h':>7}"
        print(header)
        print("-" * len(header))
        for k in args.at_once:
            try:
                row = estimate(at_once(project, k), args.images, args.paper_epochs)
            except RuntimeError as err:  # e.g. out of device memory: the counts before it stand
                print(f"{k:>7} | {err}", flush=True)
                break
            rows.append(row)
            print(f"{k:>7} | {row['epoch_s']:>8.2f} {row['scoring_share']:>8.1%} {row['startup_s']:>10.1f} | "
                  f"{row['run_min']:>8.2f} {row['grid_h']:>7.2f}", flush=True)
            if args.json:
                args.json.write_text(json.dumps({"rows": rows}, indent=1))
    if rows:
        best = min(rows, key=lambda r: r["grid_h"])
        print(f"one paper split alone: {rows[0]['run_min']:.1f} min; the whole grid: {rows[0]['grid_h']:.2f} h one at "
              f"a time, {best['grid_h']:.2f} h {best['at_once']} at a time")


if __name__ == "__main__":
    main()
