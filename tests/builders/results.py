"""What train, evaluate and tune leave behind, fabricated in the working folder for the report's tests:
three variants, ms_pmt better than the others on every split, with tuned values in place."""
import json

import numpy as np
import pandas as pd

from pmtiqa.config.load import params_from_dict
from pmtiqa.core import paths
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.method.metrics import aggregate
from pmtiqa.reporting.report import write_report

VARIANTS = ["baseline", "ms", "ms_pmt"]
SELECTIONS = ("final", "val", "best_test")
NO_VAL = ("final", "best_test")  # a split without a validation part (split.val_fraction 0)
EPOCHS = 3  # history.csv's epochs run 1..EPOCHS


def make_params(datasets=("synthetic", "livec"), n_splits=5):
    return params_from_dict({
        "datasets": list(datasets),
        "variants": VARIANTS,
        "split": {"n_splits": n_splits},
        "model": {"backbone": "resnet50", "weights": "none"},
        "train": {"epochs": EPOCHS, "crop_size": 64},
        "augment": {"size": [96, 96]},
    })


def split_metrics(srcc: float, gain: float, selections=SELECTIONS, val_epoch: int = 2) -> dict:
    """A split's metrics.json. A selection's SRCC rises with its place in SELECTIONS by ``gain``, so
    variants that gain differently differ by a different amount in each selection."""
    one = {"srcc": srcc, "plcc": srcc - 0.01, "plcc_logistic": srcc, "krcc": srcc - 0.1, "rmse": 5.0}
    epochs = {"final": EPOCHS, "val": val_epoch, "best_test": 2}
    return {sel: {**one, "srcc": srcc + gain * SELECTIONS.index(sel), "epoch": epochs[sel]} for sel in selections}


def history(with_val: bool) -> pd.DataFrame:
    """A split's history.csv: progressive task weights, lambda1 = 0 at epoch 1."""
    t = np.arange(1, EPOCHS + 1)
    progress = (t - 1) / (EPOCHS - 1)
    table = pd.DataFrame({"epoch": t, "lambda1": progress, "lambda2": 1 - progress, "lr": 1e-3, "loss": 1.0 / t,
                          "l1": 0.5 / t, "ce": 2.0 / t, "val_srcc": 0.4 + 0.1 * t, "val_plcc": 0.5,
                          "test_srcc": 0.3 + 0.1 * t, "test_plcc": 0.4, "seconds": 1.0})
    return table if with_val else table.drop(columns=["val_srcc", "val_plcc"])


QUALITY = {"baseline": 0.70, "ms": 0.75, "ms_pmt": 0.85}
GAIN = {"baseline": 0.01, "ms": 0.02, "ms_pmt": 0.03}
TUNED = {"lr": 2e-4, "batch_size": 11, "weight_decay": 1e-4, "gamma": 0.5}


def run_settings(dataset, variant, split, tuned=True, backbone="resnet50"):
    """The settings a split's run.json records (train.Settings.identity), tuned values in place."""
    train = {"epochs": EPOCHS, "lr": 1e-3, "batch_size": 12, "weight_decay": 5e-4}
    loss = {"gamma": 1.0, "target": "published"}
    if tuned:
        train |= {k: TUNED[k] for k in ("lr", "batch_size", "weight_decay")}
        loss |= {"gamma": TUNED["gamma"]}
    return {"dataset": dataset, "variant": variant, "split": split,
            "model": {"backbone": backbone, "weights": "none", "num_classes": 10}, "loss": loss, "train": train}


def fabricate(params, tuned=True, seed=0, with_val=True, backbone="resnet50", test_images=20):
    """The files train, evaluate and tune leave, with ms_pmt better than the others on every split,
    each split tested on ``test_images`` images. Split 0's `val` selection took epoch 1, which gave the
    regression loss no weight (lambda1 = 0)."""
    rng = np.random.default_rng(seed)
    selections = SELECTIONS if with_val else NO_VAL
    for ds in params.datasets:
        n = params.for_dataset(ds).split.n_splits
        for v in VARIANTS:
            splits = [split_metrics(QUALITY[v] + 0.02 * k, GAIN[v], selections, val_epoch=1 if k == 0 else 2)
                      for k in range(n)]
            summary = {sel: {m: aggregate(s[sel][m] for s in splits) for m in splits[0][sel] if m != "epoch"}
                       for sel in selections}
            path = DatasetFiles(ds).metrics(v)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"dataset": ds, "variant": v, "n_splits": n, "summary": summary,
                                        "splits": splits}))
            for k in range(n):
                run = DatasetFiles(ds).run(v, k)
                run.mkdir(parents=True, exist_ok=True)
                (run / "metrics.json").write_text(json.dumps(splits[k]))
                (run / "run.json").write_text(json.dumps({
                    "settings": run_settings(ds, v, k, tuned, backbone),
                    "inputs": {"cache": {"labels_sha256": "ab" * 32, "images_sha256": "cd" * 32}, "parts": k},
                    "ran_on": {"device": "cpu", "precision": "bf16" if v == "ms" else "fp32", "compile": "none"}}))
                history(with_val).to_csv(run / "history.csv", index=False)
                mos = rng.uniform(0, 100, test_images)
                pd.DataFrame({"image": [f"i{i}.png" for i in range(test_images)], "mos": mos,
                              "prediction": mos + rng.normal(0, 10, test_images), "score": mos / 100}).to_csv(
                    run / "predictions.csv", index=False)
        if tuned:
            best = DatasetFiles(ds).best
            best.parent.mkdir(parents=True, exist_ok=True)
            best.write_text(json.dumps({"params": TUNED,
                                        "value": 0.8, "states": {"complete": 3, "pruned": 1, "fail": 0}}))


def report(params):
    """`pmtiqa report` as the command line calls it."""
    write_report(params, {ds: DatasetFiles(ds) for ds in params.datasets}, paths.CROSS_DIR / "summary.json",
                 paths.REPORTS_DIR, paths.SUMMARY_JSON)
