"""The training engine: one variant's network, its Adam and its generators, stepping through epochs.

Each step gathers random crops of a batch from the dataset on the device (compute/crops.py), runs the model
under the resolved precision and steps one Adam at the authors' step learning rate (method/schedule.py;
they also rebuilt Adam every epoch, resetting its moments, which train.reset_optimizer
reproduces). The regression head learns the score on the scale loss.target names. Its whole state
is a plain dict (state_dict/load_state_dict), which is how a killed run resumes where it was.

Under runtime.step graph (a CUDA device's default) the step after the random draws, and each batch
of test crops, replay as CUDA graphs (compute/cuda_graphs.py). Everything that changes between steps is then a
tensor that keeps its storage: the learning rate, the task weights, the loss sums, Adam's state
(reset in place, where train.reset_optimizer asks for it). The eager path computes the same way.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from pmtiqa.compute.crop_means import CropMeans
from pmtiqa.compute.crops import RESUMED_CROP_SEED, epoch_seed, gather_crops, random_crop_draws, test_crop_generator
from pmtiqa.compute.cuda_graphs import StaticCall
from pmtiqa.compute.device_data import DeviceData
from pmtiqa.compute.runtime import Runtime, seed_everything
from pmtiqa.config.run_settings import Settings
from pmtiqa.core.errors import UserError
from pmtiqa.core.progress import progress_bar
from pmtiqa.method.losses import pmt_loss
from pmtiqa.method.model import build_model
from pmtiqa.method.schedule import learning_rate, task_weights
from pmtiqa.method.score_scales import target_scale
from pmtiqa.method.variants import get_variant

log = logging.getLogger(__name__)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


def divergence_causes(s: Settings, precision: str, lr: float, l1: float, ce: float, scale: float) -> str:
    """Which part of the loss stopped being finite, and the settings that can make it so, each with the
    change that can help."""
    parts = " and ".join(name for name, value in (("L1", l1), ("cross-entropy", ce)) if not np.isfinite(value))
    causes = [f"train.lr {lr:g}: lower it"]
    if not np.isfinite(l1) and scale > 1:
        causes.append(f"loss.target {s.loss.target}: L1 on a scale {scale:g} wide; try unit")
    if s.loss.gamma > 1 and not np.isfinite(ce):
        causes.append(f"loss.gamma {s.loss.gamma:g}: lower it")
    if precision == "bf16":
        causes.append("runtime.precision bf16: try fp32")
    return f"{parts or 'the sum'} not finite; settings that can cause it: " + "; ".join(causes)


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
        # The task weights (lambda1, gamma * lambda2) and the loss sums (total, l1, ce) of the epoch:
        # tensors filled in place, which a captured step reads and adds to.
        self.task_weights = torch.zeros(2, device=device)
        self.sums = torch.zeros(3, device=device)
        self.full_batch = s.train.batch_size  # the size of an epoch's full batches (train_epoch sets it)
        capture = self.runtime.graphs and device.type == "cuda"
        self.step = StaticCall(self.train_step, capture) if self.runtime.graphs else self.train_step
        self.scorer = CropMeans(self.model, self.data.images, s.train.crop_size, s.train.test_crops, self.runtime,
                                 self.target_scale, self.data.sizes, s.train.batch_size, graphed=self.runtime.graphs)

    def new_optimizer(self) -> torch.optim.Adam:
        """Adam, fused on a GPU. Under graphs its learning rate is a tensor (set_lr fills it) and its
        state lives on the device (capturable), so that a captured step reads them anew each replay."""
        t, device, graphs = self.settings.train, self.runtime.device, self.runtime.graphs
        cuda = device.type == "cuda"
        # CUDA's fused Adam reads a float32 learning rate; elsewhere float64 computes Adam's step size
        # as a Python float would, so that the graph path's numbers equal the eager ones (tests).
        lr = torch.tensor(t.lr, device=device, dtype=torch.float32 if cuda else torch.float64) if graphs else t.lr
        return torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=t.weight_decay, fused=cuda,
                                capturable=cuda and graphs)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def reset_optimizer(self) -> None:
        """Adam's moments and step count back to zero, in place: the next step is a fresh Adam's
        first (the authors rebuilt it every epoch), and a captured step keeps its tensors."""
        for state in self.optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    value.zero_()

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
            self.reset_optimizer()
        lr = learning_rate(t.lr, self.epoch, t.lr_step, t.lr_decay)
        self.set_lr(lr)
        self.task_weights.copy_(torch.tensor([lambda1, s.loss.gamma * lambda2]))
        self.sums.zero_()
        batches = self.batches(train_ids)
        self.full_batch = len(batches[0])
        desc = f"{s.dataset}/{s.variant}/split{s.split} epoch {self.epoch + 1}/{t.epochs}"
        for index in progress_bar(batches, show=progress, desc=desc, leave=False, unit="batch"):
            draws = random_crop_draws(self.data.images, index, t.crop_size, self.generator, self.data.sizes)
            self.step(index, *draws)
        total, l1, ce = (self.sums / sum(len(b) for b in batches)).tolist()
        if not np.isfinite([total, l1, ce]).all():
            raise TrainingDiverged(
                f"{s.dataset}/{s.variant}/split{s.split}: the loss became {total} at epoch {self.epoch + 1} "
                f"({divergence_causes(s, self.runtime.precision, lr, l1, ce, self.target_scale)}). "
                "The last good checkpoint is kept.")
        self.epoch += 1
        return {"epoch": self.epoch, "lambda1": lambda1, "lambda2": lambda2, "lr": lr,
                "loss": total, "l1": l1, "ce": ce, "target": s.loss.target}

    def train_step(self, index: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor) -> None:
        """One Adam step on the crops (top, left, flip) of the images ``index``; the batch's loss
        sums go to self.sums. It never waits for the host, so a CUDA graph can replay it."""
        x = gather_crops(self.data.images, index, top, left, flip, crop=self.settings.train.crop_size)
        # An epoch's last batch is usually smaller: compiled, it would compile a second graph; it runs eagerly.
        model = self.step_model if len(index) == self.full_batch else self.model
        with self.runtime.autocast():
            score, logits = model(x)
        lambda1, weighted_lambda2 = self.task_weights
        loss = pmt_loss(score, logits, self.data.score[index] * self.target_scale, self.data.level[index],
                        lambda1, weighted_lambda2)
        self.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        self.optimizer.step()
        self.sums += torch.stack([loss.total, loss.l1, loss.ce]).detach() * len(index)

    def predict(self, ids: torch.Tensor) -> np.ndarray:
        """Normalised scores of the images after the epochs done: fixed test crops, or (the authors'
        habit, train.random_test_crops) crops drawn anew for each epoch."""
        generator = test_crop_generator(self.seed, self.epoch) if self.settings.train.random_test_crops else None
        return self.scorer(ids, generator)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(), "epoch": self.epoch,
                "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        load_optimizer_state(self.optimizer, state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.history = state["epoch"], state["history"]
        self.restore_crop_draws(state["generator"])

    def restore_crop_draws(self, saved: torch.Tensor) -> None:
        """The crop generator where the checkpoint left it. Its state is its kind of device's (a CPU
        generator's is 5056 bytes, a CUDA one's 16): a run resumed on another kind draws its crops from a
        generator seeded by the split's seed and the epoch, the same on every such resume."""
        own = self.generator.get_state()
        if saved.numel() == own.numel():
            self.generator.set_state(saved)
            return
        self.generator.manual_seed(epoch_seed(RESUMED_CROP_SEED, self.seed, self.epoch))
        log.warning("the checkpoint's crop draws were made on another kind of device (a generator state of %d "
                    "bytes, %s's is %d): epochs %d on draw anew, seeded by the split and the epoch", saved.numel(),
                    self.generator.device.type, own.numel(), self.epoch + 1)


def load_optimizer_state(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """A checkpoint's Adam state (moments, step counts) into ``optimizer``, which keeps its own
    settings: a run resumed under another runtime (eager or graphs, CPU or GPU) keeps that
    runtime's learning-rate tensor and flags; train_epoch sets the learning rate anyway."""
    own = optimizer.state_dict()["param_groups"]
    groups = [{**mine, "params": theirs["params"]} for mine, theirs in zip(own, saved["param_groups"])]
    optimizer.load_state_dict({"state": saved["state"], "param_groups": groups})
