"""The training engine: one variant's network, its Adam and its generators, stepping through epochs.

Each step gathers random crops of a batch from the dataset on the device (crops.py), runs the model
under the resolved precision and steps one Adam at the authors' step learning rate (schedule.py;
they also rebuilt Adam every epoch, resetting its moments, which train.reset_optimizer
reproduces). The regression head learns the score on the scale loss.target names. Its whole state
is a plain dict (state_dict/load_state_dict), which is how a killed run resumes where it was.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pmtiqa.crops import random_crops, test_crop_generator
from pmtiqa.device_data import DeviceData
from pmtiqa.errors import UserError
from pmtiqa.inference import score_images
from pmtiqa.losses import pmt_loss
from pmtiqa.model import build_model
from pmtiqa.progress import progress_bar
from pmtiqa.runtime import Runtime, seed_everything
from pmtiqa.schedule import learning_rate, task_weights
from pmtiqa.scores import target_scale
from pmtiqa.settings import Settings
from pmtiqa.variants import get_variant


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


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
        for index in progress_bar(batches, show=progress, desc=desc, leave=False, unit="batch"):
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
