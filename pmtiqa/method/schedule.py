"""What epoch t of a T-epoch run trains with: the two tasks' weights and the learning rate.

Epochs are 0-based here, as loops count them (t = 0..T-1); people read them 1-based (epoch t + 1).
Tuning trials use these same functions with the real run's T, so a trial's epoch t is the real
run's epoch t.
"""
from __future__ import annotations

from pmtiqa.method.variants import SCHEDULES


def task_weights(schedule: str, epoch: int, epochs: int) -> tuple[float, float]:
    """(lambda1, lambda2): the weights of regression and classification at epoch t of T (paper eq. 7).

    progressive: lambda1 = t / (T - 1), easy task (classification) first, hard task (regression) last.
    reverse:     lambda1 = 1 - t / (T - 1), hard to easy (our reading of the paper's "type2").
    fixed:       0.5 and 0.5 (the paper's "type1").
    regression:  1 and 0 (the single-task baselines).
    With T = 1 every schedule trains regression alone: the score head is the model's output, and a
    single epoch has no room for a progression.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
    if not 0 <= epoch < epochs:
        raise ValueError(f"epoch {epoch} outside 0..{epochs - 1}")
    if schedule == "regression" or epochs == 1:
        return 1.0, 0.0
    if schedule == "fixed":
        return 0.5, 0.5
    progress = epoch / (epochs - 1)
    lambda1 = progress if schedule == "progressive" else 1.0 - progress
    return lambda1, 1.0 - lambda1


def trains_regression(schedule: str, epochs_run: int, epochs: int) -> bool:
    """Does any of the first epochs_run epochs of a T-epoch run give the regression head weight?"""
    return any(task_weights(schedule, t, epochs)[0] > 0 for t in range(epochs_run))


def learning_rate(lr: float, epoch: int, step: int, decay: float) -> float:
    """The rate of epoch t, as the authors set it: after epoch t they set lr * decay ** (t // step), so
    epochs 0..step run at lr (step + 1 epochs), then each next `step` epochs one decay lower."""
    return lr * decay ** (max(0, epoch - 1) // step)
