"""One split's run with its files: one variant trained on one split, with honest bookkeeping.

After every epoch the test part (and the validation part, where the split has one) is scored with
fixed crops, a row goes to history.csv and the trainer's whole state to checkpoint.pt (both in
work_dir, beside the split's folder), so a killed run resumes where it was and ends with the same
numbers, and a finished split is replaced only by a complete new one. A split whose run.json
records the same identity (config/run_settings.py) is reused. Its metrics.json holds the
selections of selections.py; only the validation part ever chooses the weights that are kept.
Epochs are 1-based in every file and log line.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pmtiqa.compute.device_data import DeviceData, load_device_data
from pmtiqa.compute.model_file import load_tensors, read_model, save_model, save_tensors
from pmtiqa.compute.runtime import Runtime, resolve_runtime
from pmtiqa.config.params import DatasetParams
from pmtiqa.config.run_settings import Settings, settings_for, tuned_values, what_differs
from pmtiqa.core.atomic import atomic_dir, atomic_path, write_json, write_text
from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.core.readers import read_json
from pmtiqa.data.splits import check_split_count
from pmtiqa.method.metrics import all_metrics
from pmtiqa.method.score_scales import clip_unit, to_published
from pmtiqa.training.selections import selected_metrics
from pmtiqa.training.trainer import Trainer

log = logging.getLogger(__name__)


def published_metrics(pred01: np.ndarray, data: DeviceData, ids: torch.Tensor) -> dict[str, float]:
    return all_metrics(to_published(pred01, data.bounds), data.mos[ids.cpu().numpy()])


def unlike_finished(out: Path, identity: dict) -> str | None:
    """None where the split's folder holds a finished run of this identity (settings, inputs and
    code) whose model.pt loads; else what differs, in words ("" where nothing is finished there)."""
    run = out / "run.json"
    if not (out / "metrics.json").is_file() or not run.is_file():
        return ""
    differs = what_differs(read_json(run, "delete the split's folder to train it again"), identity)
    if differs:
        return differs
    try:
        read_model(out / "model.pt")  # what predict and cross will read of it
    except (UserError, OSError) as err:
        return f"a model.pt that does not load ({err})"
    return None


def work_dir(out: Path) -> Path:
    """Where a split's run in progress keeps checkpoint.pt and history.csv: beside the split's folder,
    so that a finished split of other params stays whole until a complete new one replaces it."""
    return out.with_name(f".{out.name}.run")


def train_split(settings: Settings, data: DeviceData, runtime: Runtime, out: Path, progress: bool = True) -> dict:
    """Train, evaluate every epoch, checkpoint, and write the split's files. Returns metrics.json's content.

    The run in progress lives in work_dir(out); the finished files replace the split's folder in one
    step, so a kill or a failure leaves the split as it was (finished with other params, or not)."""
    identity = settings.identity()
    differs = unlike_finished(out, identity)
    if differs is None:
        log.info("%s: finished with the same settings, inputs and code; reusing it", out)
        return read_json(out / "metrics.json", "delete the split's folder to train it again")
    if differs:
        log.info("%s: finished with %s; training it again", out, differs)
    ids = data.splits[settings.split]
    work = work_dir(out)
    trainer = Trainer(settings, data, runtime)
    best = resume(trainer, work / "checkpoint.pt", identity)
    t = settings.train
    validates = len(ids["val"]) > 0  # split.val_fraction 0: no validation part, as the authors train
    while trainer.epoch < t.epochs:
        started = time.perf_counter()
        row = trainer.train_epoch(ids["train"], progress)
        trained = time.perf_counter()
        test_pred, test, val_srcc = score_epoch(trainer, data, ids, row, validates)
        row["seconds"] = time.perf_counter() - started
        row["scoring_seconds"] = time.perf_counter() - trained  # the test (and val) parts' share of it
        trainer.history.append({**row, "test": test})  # the test metrics in full, for the selections
        best = kept(best, trainer, row, test_pred, val_srcc)
        log.info("%s epoch %d/%d: loss %.4f (l1 %.4f on the %s scale, ce %.4f, lambda1 %.2f, lr %.3g)%s test SRCC "
                 "%.4f (%.1fs)", out, row["epoch"], t.epochs, row["loss"], row["l1"], row["target"], row["ce"],
                 row["lambda1"], row["lr"], f" val SRCC {val_srcc:.4f}" if validates else "", row["test_srcc"],
                 row["seconds"])
        with atomic_path(work / "checkpoint.pt") as tmp:
            save_tensors({"identity": identity, "trainer": trainer.state_dict(), "best": best}, tmp)
        write_history(trainer.history, work / "history.csv")
    with atomic_dir(out) as folder:
        metrics = finish(settings, data, trainer, best, folder, shown_as=out)
    shutil.rmtree(work)
    log.info("%s: done. test SRCC final %.4f, %s, best-on-test %.4f (epoch %d)", out, metrics["final"]["srcc"],
             f"val-selected {metrics['val']['srcc']:.4f} (epoch {best['epoch']})" if "val" in metrics
             else "no val part",
             metrics["best_test"]["srcc"], metrics["best_test"]["epoch"])
    return metrics


def score_epoch(trainer: Trainer, data: DeviceData, ids: dict, row: dict, validates: bool) -> tuple:
    """(test predictions, test metrics, validation SRCC or None) after an epoch; the history row gets
    the SRCC and PLCC of both parts."""
    test_pred = trainer.predict(ids["test"])
    test = published_metrics(test_pred, data, ids["test"])
    val = published_metrics(trainer.predict(ids["val"]), data, ids["val"]) if validates else None
    if val is not None:
        row.update(val_srcc=val["srcc"], val_plcc=val["plcc"])
    row.update(test_srcc=test["srcc"], test_plcc=test["plcc"])
    return test_pred, test, None if val is None else val["srcc"]


def kept(best: dict | None, trainer: Trainer, row: dict, test_pred: np.ndarray, val_srcc: float | None) -> dict:
    """The epoch whose weights the split keeps: the best on validation among those whose regression
    head had weight (a progressive run's first epoch trains classification alone), or the last one
    where nothing validates (the trainer holds those weights at the end: no copy)."""
    if val_srcc is None:
        return {"epoch": row["epoch"], "val_srcc": None, "test_pred": torch.from_numpy(test_pred)}
    if row["lambda1"] > 0 and (best is None or _better(val_srcc, best["val_srcc"])):
        return {"epoch": row["epoch"], "val_srcc": val_srcc, "test_pred": torch.from_numpy(test_pred),
                "model": cpu_copy(trainer.model)}
    return best


def cpu_copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _better(new: float, old: float) -> bool:
    return np.isfinite(new) and (not np.isfinite(old) or new > old)


def resume(trainer: Trainer, checkpoint: Path, identity: dict) -> dict | None:
    """Load checkpoint.pt into the trainer when it belongs to these settings; returns the best-val record."""
    if not checkpoint.is_file():
        return None
    delete = "delete it to train the split from its first epoch"
    state = load_tensors(checkpoint, "not a checkpoint that can be resumed", delete)
    if not isinstance(state, dict) or not {"identity", "trainer", "best"} <= set(state):
        raise UserError(f"{checkpoint}: not a checkpoint written by `pmtiqa train`; {delete}")
    if state["identity"] != identity:
        log.warning("%s: written with %s; starting this split afresh", checkpoint,
                    what_differs(state["identity"], identity))
        return None
    try:
        trainer.load_state_dict(state["trainer"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:  # torch's words for a damaged state
        raise UserError(f"{checkpoint}: not a checkpoint that can be resumed ({type(err).__name__}: {err}); "
                        f"{delete}") from None
    log.info("%s: resuming at epoch %d/%d", checkpoint, trainer.epoch + 1, trainer.settings.train.epochs)
    return state["best"]


def write_history(history: list[dict], path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "test"} for row in history]
    write_text(path, pd.DataFrame(rows).to_csv(index=False))


def finish(settings: Settings, data: DeviceData, trainer: Trainer, best: dict, out: Path, shown_as: Path) -> dict:
    """Write a finished split's files into the folder ``out``: history.csv, metrics.json,
    predictions.csv and model.pt (of the kept epoch), and run.json. ``out`` is a temporary folder
    that becomes the split's folder ``shown_as`` once complete; messages name the latter."""
    write_history(trainer.history, out / "history.csv")
    metrics = selected_metrics(trainer.history, best["epoch"] if best["val_srcc"] is not None else None)
    test_ids = data.splits[settings.split]["test"].cpu().numpy()
    pred01 = best["test_pred"].numpy()
    predictions = pd.DataFrame({
        "image": [data.names[i] for i in test_ids],
        "mos": data.mos[test_ids],
        "prediction": to_published(pred01, data.bounds),  # as the metrics saw it
        "score": clip_unit(pred01, f"{shown_as} (epoch {best['epoch']})"),
    })
    write_text(out / "predictions.csv", predictions.to_csv(index=False))
    own_size = data.sizes is not None
    canvas = [int(data.images.shape[2]), int(data.images.shape[1])]  # (width, height)
    save_model(out / "model.pt", best["model"] if "model" in best else cpu_copy(trainer.model),
               variant=settings.variant, backbone=settings.model.backbone, num_classes=settings.model.num_classes,
               dataset=settings.dataset, score_bounds=list(data.bounds), crop_size=settings.train.crop_size,
               test_crops=settings.train.test_crops, target_scale=trainer.target_scale,
               # predict resizes to image_size; or, where images kept their own sizes, shrinks those larger
               # than the largest training width and height to fit (max_image_size)
               image_size=None if own_size else canvas, max_image_size=canvas, epoch=best["epoch"],
               decode=data.decode)
    runtime = trainer.runtime
    write_json(out / "run.json", {**settings.identity(), "ran_on": {
        "device": str(runtime.device), "precision": runtime.precision, "compile": runtime.compile,
        "step": "graph" if runtime.graphs else "eager", "threads": torch.get_num_threads()}})
    write_json(out / "metrics.json", metrics)
    return metrics


def train_in_turn(params: DatasetParams, files: DatasetFiles, variant: str, splits: list[int], code: dict,
                  progress: bool = True) -> None:
    """The splits one after the other, on one runtime and one copy of the dataset on the device;
    ``code``: the train stage's code identity, which each run records."""
    t, r = params.train, params.runtime
    runtime = resolve_runtime(r.device, r.precision, r.threads, r.compile, r.step)
    log.info("training %s/%s on %s at %s (compile: %s, step: %s), splits %s", params.dataset, variant,
             runtime.device, runtime.precision, runtime.compile, "graph" if runtime.graphs else "eager", splits)
    data = load_device_data(files, runtime.device, params.model.num_classes, t.crop_size, params.custom_datasets,
                            params.loss.levels, params.made_as)
    check_split_count(len(data.splits), params.split.n_splits, files.splits, params.dataset)
    tuned = tuned_values(params, files.best)
    for k in splits:
        train_split(settings_for(params, variant, k, data.inputs[k], tuned, code), data, runtime,
                    files.run(variant, k), progress)
