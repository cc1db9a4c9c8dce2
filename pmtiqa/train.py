"""Training one variant on one split: the fast engine and its honest bookkeeping.

The dataset's uint8 cache sits on the training device; each step gathers random crops of a batch
there (crops.py), runs the model under the resolved precision and steps one Adam at the authors'
step learning rate (schedule.py; they also rebuilt Adam every epoch, resetting its moments, which
train.reset_optimizer reproduces). The regression head learns the score on the scale loss.target
names. After every epoch the test part (and the validation part, where the split has one) is
scored with fixed crops, a row goes to history.csv and the whole state to checkpoint.pt (both in
work_dir, beside the split's folder), so a killed run resumes where it was and ends with the same
numbers, and a finished split is replaced only by a complete new one. The selections reported are those
of evaluate.SELECTION_NOTES; only the validation part ever chooses the weights that are kept.
Epochs are 1-based in every file and log line.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pmtiqa import paths
from pmtiqa.atomic import atomic_dir, atomic_path, write_json, write_text
from pmtiqa.crops import random_crops, test_crop_generator
from pmtiqa.config import LossParams, ModelParams, Params, TrainParams, check_tuned
from pmtiqa.errors import UserError
from pmtiqa.evaluate import score_images
from pmtiqa.losses import pmt_loss, quality_level
from pmtiqa.metrics import all_metrics
from pmtiqa.model import build_model
from pmtiqa.readers import read_json
from pmtiqa.runtime import Runtime, resolve_runtime, seed_everything
from pmtiqa.schedule import learning_rate, task_weights
from pmtiqa.scores import clip_unit, target_scale, to_published
from pmtiqa.splits import read_splits
from pmtiqa.variants import get_variant

log = logging.getLogger(__name__)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Everything that decides a split's result: its settings (tuned values in place) and its inputs."""

    dataset: str
    variant: str
    split: int
    model: ModelParams
    loss: LossParams
    train: TrainParams
    inputs: dict = field(default_factory=dict)  # what the run reads (DeviceData.inputs)

    def identity(self) -> dict:
        """The settings and inputs as plain JSON values, as run.json and checkpoint.pt record them: a
        finished split is reused, and a checkpoint resumed, only where the recorded identity is equal.
        use_tuned only says where lr and the like came from; their values are in train."""
        settings = {"dataset": self.dataset, "variant": self.variant, "split": self.split,
                    "model": dataclasses.asdict(self.model), "loss": dataclasses.asdict(self.loss),
                    "train": {k: v for k, v in dataclasses.asdict(self.train).items() if k != "use_tuned"}}
        return json.loads(json.dumps({"settings": settings, "inputs": self.inputs}))


def tuned_values(params: Params, dataset: str) -> dict:
    """The tuned hyperparameters of runs/tune/<ds>/best.json, when present and allowed."""
    path = paths.tune_dir(dataset) / "best.json"
    if not params.train.use_tuned or not path.is_file():
        return {}
    rerun = f"run `pmtiqa tune --dataset {dataset}` again"
    best = read_json(path, rerun)
    if not isinstance(best, dict) or "params" not in best:
        raise UserError(f"{path}: not a best.json written by `pmtiqa tune`; {rerun}")
    return check_tuned(best["params"], str(path))  # a hand-edited value is held to its setting's range


def apply_tuned(train: TrainParams, loss: LossParams, values: dict) -> tuple[TrainParams, LossParams]:
    """train and loss with tuned values in place: gamma is the loss's, the others train's."""
    return (dataclasses.replace(train, **{k: v for k, v in values.items() if k != "gamma"}),
            dataclasses.replace(loss, gamma=values.get("gamma", loss.gamma)))


def settings_for(params: Params, dataset: str, variant: str, split: int, inputs: dict) -> Settings:
    """The settings of one split as its dataset sees them (overrides, protocol and tuned values applied)."""
    params = params.for_dataset(dataset)
    train, loss = apply_tuned(params.train, params.loss, tuned_values(params, dataset))
    return Settings(dataset, get_variant(variant).name, split, params.model, loss, train, inputs)


# ----------------------------------------------------------------------------- data


@dataclass
class DeviceData:
    """A dataset's images and targets on the training device, with its split ids."""

    images: torch.Tensor  # uint8 (N, H, W, 3)
    sizes: torch.Tensor | None  # long (N, 2): each image's (width, height), where they keep their own (augment.size own)
    score: torch.Tensor  # float (N,), normalised 0..1, higher is better
    level: torch.Tensor  # long (N,), quality classes
    mos: np.ndarray  # the published scores, for metrics on the published scale
    names: list[str]
    bounds: tuple[float, float, bool]  # (lo, hi, higher_is_better) of the published scale
    splits: list[dict[str, torch.Tensor]]
    # Per split, what its run reads: the cache as augment recorded it (labels and pixels) and the
    # split's own parts (not the other splits': more splits leave the finished ones valid).
    inputs: list[dict]
    groups: np.ndarray | None = None  # labels.csv's group of each image (None: one group per image)


def split_tensors(raw_splits: list[dict], device: torch.device) -> list[dict[str, torch.Tensor]]:
    """The row ids of each split's parts (as in data/splits/<ds>.json) as index tensors on the device."""
    return [{part: torch.tensor(ids, dtype=torch.long, device=device) for part, ids in s.items()} for s in raw_splits]


# What identifies a cache's content in its meta.json: augment computes these once, as it writes it.
CACHE_IDENTITY = ("labels_sha256", "images_sha256", "size")


def load_device_data(dataset: str, device: torch.device, num_classes: int, crop: int) -> DeviceData:
    """The dataset's cache and splits on the device; stops, naming the image, where one is smaller than crop."""
    from pmtiqa.cache import load_cache
    from pmtiqa.datasets import score_bounds

    cache = load_cache(paths.cache_dir(dataset))
    labels = cache.labels
    split_path = paths.splits_json(dataset)
    raw_splits = read_splits(split_path, len(labels), f"run `pmtiqa split --dataset {dataset}`")
    images = torch.from_numpy(np.array(cache.images)).to(device)  # read the memory-mapped cache once
    sizes = None if cache.sizes is None else torch.from_numpy(cache.sizes).to(device)
    score = torch.tensor(labels["score"].to_numpy(np.float32), device=device)
    cache_identity = {key: cache.meta.get(key) for key in CACHE_IDENTITY}
    data = DeviceData(
        images=images,
        sizes=sizes,
        score=score,
        level=quality_level(score, num_classes),
        mos=labels["mos"].to_numpy(np.float64),
        names=labels["image"].astype(str).tolist(),
        bounds=score_bounds(dataset),
        splits=split_tensors(raw_splits, device),
        inputs=[{"cache": cache_identity, "parts": split} for split in raw_splits],
        groups=labels["group"].astype(str).to_numpy(),
    )
    check_crops_fit(data, crop, dataset)
    return data


def check_crops_fit(data: DeviceData, crop: int, dataset: str) -> None:
    """Stop, naming the image, where one is smaller than the crops drawn from it."""
    _, height, width, _ = data.images.shape
    sizes = data.sizes.cpu() if data.sizes is not None else torch.tensor([[width, height]]).expand(len(data.names), 2)
    small = (sizes.min(dim=1).values < crop).nonzero().flatten()
    if len(small):
        w, h = sizes[small[0]].tolist()
        raise UserError(f"{paths.cache_dir(dataset)}: {data.names[int(small[0])]} is {w}x{h}, smaller than "
                        f"train.crop_size {crop}" + (f" (and {len(small) - 1} more)" if len(small) > 1 else ""))


# ----------------------------------------------------------------------------- the engine


@dataclass
class Trainer:
    settings: Settings
    data: DeviceData
    runtime: Runtime
    epoch: int = 0  # epochs done (the next to run, counted from 0)
    history: list[dict] = field(default_factory=list)

    def __post_init__(self):
        s, device = self.settings, self.runtime.device
        self.seed = s.train.seed * 1000 + s.split
        seed_everything(self.seed)
        self.model = build_model(s.variant, s.model.backbone, s.model.weights, s.model.num_classes)
        self.model.to(device, memory_format=torch.channels_last).train()
        self.step_model = self.runtime.compiled(self.model)  # the same parameters, maybe compiled
        self.optimizer = self.new_optimizer()
        self.generator = torch.Generator(device).manual_seed(self.seed)
        self.schedule = get_variant(s.variant).schedule
        self.target_scale = target_scale(s.loss.target, self.data.bounds)

    def new_optimizer(self) -> torch.optim.Adam:
        t = self.settings.train
        return torch.optim.Adam(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay,
                                fused=self.runtime.device.type == "cuda")

    def batches(self, train_ids: torch.Tensor) -> list[torch.Tensor]:
        """One epoch's batches of image ids, one id per crop: batch_size crops of shuffled images, or
        (batch_unit images) batch_size shuffled images with all their crops_per_image crops each."""
        t = self.settings.train
        if t.batch_unit == "images":
            order = train_ids[torch.randperm(len(train_ids), device=train_ids.device, generator=self.generator)]
            batches = [part.repeat_interleave(t.crops_per_image) for part in order.split(t.batch_size)]
        else:
            order = train_ids.repeat(t.crops_per_image)
            batches = list(order[torch.randperm(len(order), device=order.device, generator=self.generator)]
                           .split(t.batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:  # batch norm cannot train on one crop: join the one before
            batches[-2:] = [torch.cat(batches[-2:])]
        return batches

    def train_epoch(self, train_ids: torch.Tensor, progress: bool = True) -> dict:
        """One pass in which every training image gives crops_per_image random crops."""
        t, s = self.settings.train, self.settings
        lambda1, lambda2 = task_weights(self.schedule, self.epoch, t.epochs)
        if t.reset_optimizer and self.epoch > 0:
            self.optimizer = self.new_optimizer()
        lr = learning_rate(t.lr, self.epoch, t.lr_step, t.lr_decay)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batches = self.batches(train_ids)
        full = len(batches[0])
        sums = torch.zeros(3, device=self.runtime.device)  # total, l1, ce: summed on the device, read once
        desc = f"{s.dataset}/{s.variant}/split{s.split} epoch {self.epoch + 1}/{t.epochs}"
        for index in tqdm(batches, desc=desc, leave=False, disable=not progress, unit="batch"):
            x = random_crops(self.data.images, index, t.crop_size, self.generator, self.data.sizes)
            # An epoch's last batch is usually smaller: it runs eagerly rather than compiling a second graph.
            model = self.step_model if len(index) == full else self.model
            with self.runtime.autocast():
                score, logits = model(x)
            loss = pmt_loss(score, logits, self.data.score[index] * self.target_scale, self.data.level[index],
                            lambda1, lambda2, s.loss.gamma)
            self.optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            self.optimizer.step()
            sums += torch.stack([loss.total, loss.l1, loss.ce]).detach() * len(index)
        total, l1, ce = (sums / sum(len(b) for b in batches)).tolist()
        if not np.isfinite([total, l1, ce]).all():
            raise TrainingDiverged(
                f"{s.dataset}/{s.variant}/split{s.split}: the loss became {total} at epoch {self.epoch + 1} "
                f"(lr {lr:g}); lower train.lr or check the data. The last good checkpoint is kept.")
        self.epoch += 1
        return {"epoch": self.epoch, "lambda1": lambda1, "lambda2": lambda2, "lr": lr,
                "loss": total, "l1": l1, "ce": ce, "target": s.loss.target}

    def predict(self, ids: torch.Tensor) -> np.ndarray:
        """Normalised scores of the images after the epochs done: fixed test crops, or (the authors'
        habit, train.random_test_crops) crops drawn anew for each epoch."""
        t = self.settings.train
        generator = test_crop_generator(self.seed, self.epoch) if t.random_test_crops else None
        return score_images(self.model, self.data.images, ids, t.crop_size, t.test_crops, t.batch_size, self.runtime,
                            self.data.sizes, self.target_scale, generator)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(), "epoch": self.epoch,
                "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.history = state["epoch"], state["history"]


# ----------------------------------------------------------------------------- one split, with its files


def published_metrics(pred01: np.ndarray, data: DeviceData, ids: torch.Tensor) -> dict[str, float]:
    return all_metrics(to_published(pred01, data.bounds), data.mos[ids.cpu().numpy()])


def is_finished(out: Path, identity: dict) -> bool:
    """Does the split's folder hold a finished run of these settings and inputs?"""
    run = out / "run.json"
    if not (out / "metrics.json").is_file() or not run.is_file():
        return False
    recorded = read_json(run, "delete the split's folder to train it again")
    return isinstance(recorded, dict) and {k: recorded.get(k) for k in identity} == identity


def work_dir(out: Path) -> Path:
    """Where a split's run in progress keeps checkpoint.pt and history.csv: beside the split's folder,
    so that a finished split of other params stays whole until a complete new one replaces it."""
    return out.with_name(f".{out.name}.run")


def train_split(settings: Settings, data: DeviceData, runtime: Runtime, out: Path, progress: bool = True) -> dict:
    """Train, evaluate every epoch, checkpoint, and write the split's files. Returns metrics.json's content.

    The run in progress lives in work_dir(out); the finished files replace the split's folder in one
    step, so a kill or a failure leaves the split as it was (finished with other params, or not)."""
    identity = settings.identity()
    if is_finished(out, identity):
        log.info("%s: finished with the same params; reusing it", out)
        return read_json(out / "metrics.json", "delete the split's folder to train it again")
    ids = data.splits[settings.split]
    work = work_dir(out)
    trainer = Trainer(settings, data, runtime)
    best = resume(trainer, work / "checkpoint.pt", identity)
    t = settings.train
    validates = len(ids["val"]) > 0  # split.val_fraction 0: no validation part, as the authors train
    while trainer.epoch < t.epochs:
        started = time.perf_counter()
        row = trainer.train_epoch(ids["train"], progress)
        test_pred, test, val_srcc = score_epoch(trainer, data, ids, row, validates)
        row["seconds"] = time.perf_counter() - started
        trainer.history.append({**row, "test": test})  # the test metrics in full, for the selections
        best = kept(best, trainer, row, test_pred, val_srcc)
        log.info("%s epoch %d/%d: loss %.4f (l1 %.4f on the %s scale, ce %.4f, lambda1 %.2f, lr %.3g)%s test SRCC "
                 "%.4f (%.1fs)", out, row["epoch"], t.epochs, row["loss"], row["l1"], row["target"], row["ce"],
                 row["lambda1"], row["lr"], f" val SRCC {val_srcc:.4f}" if validates else "", row["test_srcc"],
                 row["seconds"])
        with atomic_path(work / "checkpoint.pt") as tmp:
            torch.save({"identity": identity, "trainer": trainer.state_dict(), "best": best}, tmp)
        write_history(trainer.history, work / "history.csv")
    with atomic_dir(out) as folder:
        metrics = finish(settings, data, trainer, best, folder)
    shutil.rmtree(work)
    log.info("%s: done. test SRCC final %.4f, %s, best-on-test %.4f (epoch %d)", out, metrics["final"]["srcc"],
             f"val-selected {metrics['val']['srcc']:.4f} (epoch {best['epoch']})" if "val" in metrics else "no val part",
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
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning would break the one line
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or a pickle weights_only refuses: all unusable
        # only the error's kind: torch's text for a refused pickle suggests loading it unsafely
        raise UserError(f"{checkpoint}: not a checkpoint that can be resumed ({type(err).__name__}); {delete}") from None
    if not isinstance(state, dict) or not {"identity", "trainer", "best"} <= set(state):
        raise UserError(f"{checkpoint}: not a checkpoint written by `pmtiqa train`; {delete}")
    if state["identity"] != identity:
        log.warning("%s: written with other settings or inputs; starting this split afresh", checkpoint)
        return None
    trainer.load_state_dict(state["trainer"])
    log.info("%s: resuming at epoch %d/%d", checkpoint, trainer.epoch + 1, trainer.settings.train.epochs)
    return state["best"]


def write_history(history: list[dict], path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "test"} for row in history]
    write_text(path, pd.DataFrame(rows).to_csv(index=False))


def selections(history: list[dict], best: dict) -> dict:
    """metrics.json: the test metrics of the last epoch, of the validation-selected one (where the
    split has a validation part) and of the best epoch on test (the authors' protocol)."""
    by_test = max(history, key=lambda r: r["test"]["srcc"] if np.isfinite(r["test"]["srcc"]) else -np.inf)
    metrics = {"final": {**history[-1]["test"], "epoch": history[-1]["epoch"]}}
    if best["val_srcc"] is not None:
        metrics["val"] = {**history[best["epoch"] - 1]["test"], "epoch": best["epoch"]}
    metrics["best_test"] = {**by_test["test"], "epoch": by_test["epoch"]}
    return metrics


def finish(settings: Settings, data: DeviceData, trainer: Trainer, best: dict, out: Path) -> dict:
    """Write a finished split's files into the folder ``out``: history.csv, metrics.json,
    predictions.csv and model.pt (of the kept epoch), and run.json."""
    write_history(trainer.history, out / "history.csv")
    metrics = selections(trainer.history, best)
    test_ids = data.splits[settings.split]["test"].cpu().numpy()
    pred01 = best["test_pred"].numpy()
    predictions = pd.DataFrame({
        "image": [data.names[i] for i in test_ids],
        "mos": data.mos[test_ids],
        "prediction": to_published(pred01, data.bounds),  # as the metrics saw it
        "score": clip_unit(pred01, f"{out} (epoch {best['epoch']})"),
    })
    write_text(out / "predictions.csv", predictions.to_csv(index=False))
    with atomic_path(out / "model.pt") as tmp:
        torch.save({
            "state_dict": best["model"] if "model" in best else cpu_copy(trainer.model),
            "variant": settings.variant,
            "backbone": settings.model.backbone,
            "num_classes": settings.model.num_classes,
            "dataset": settings.dataset,
            "score_bounds": list(data.bounds),
            "crop_size": settings.train.crop_size,
            "test_crops": settings.train.test_crops,
            "target_scale": trainer.target_scale,  # the regression head's output per unit of normalised score
            # (width, height) that predict resizes to; or None where images kept their own sizes, and
            # then the largest width and height of the training images, which predict shrinks larger ones to fit
            "image_size": None if data.sizes is not None else [int(data.images.shape[2]), int(data.images.shape[1])],
            "max_image_size": [int(data.images.shape[2]), int(data.images.shape[1])],
            "epoch": best["epoch"],
        }, tmp)
    runtime = trainer.runtime
    write_json(out / "run.json", {**settings.identity(), "ran_on": {
        "device": str(runtime.device), "precision": runtime.precision, "compile": runtime.compile,
        "threads": torch.get_num_threads()}})
    write_json(out / "metrics.json", metrics)
    return metrics


def train_splits(params: Params, dataset: str, variant: str, splits: list[int], progress: bool = True) -> list[dict]:
    """`pmtiqa train`: each split in turn, reusing finished ones of the same settings and inputs."""
    params = params.for_dataset(dataset)
    t, r = params.train, params.runtime
    runtime = resolve_runtime(r.device, r.precision, r.threads, r.compile)
    log.info("training %s/%s on %s at %s (compile: %s), splits %s", dataset, variant, runtime.device,
             runtime.precision, runtime.compile, splits)
    data = load_device_data(dataset, runtime.device, params.model.num_classes, t.crop_size)
    if len(data.splits) < params.split.n_splits:
        raise UserError(f"{paths.splits_json(dataset)}: holds {len(data.splits)} splits, params ask for "
                        f"{params.split.n_splits}; run `pmtiqa split --dataset {dataset}` again")
    return [train_split(settings_for(params, dataset, variant, k, data.inputs[k]), data, runtime,
                        paths.train_dir(dataset, variant, k), progress) for k in splits]
