"""The progressive multi-task loss (paper eq. 3, 6 and 7).

    L(t) = lambda1(t) * L1(g1(h(x)), y) + gamma * lambda2(t) * CE(g2(h(x)), level(y))

y is the quality score (higher is better) on the scale loss.target names: the width of the
dataset's published scale, as the authors' L1 on raw MOS, or 0..1. That scale sets the balance of
the two tasks; gamma is the paper's trade-off factor on top of it. The quality levels are cut
from a score's place on the published scale (loss.levels): K equal bins (eq. 3), or the authors'
rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def quality_level(score: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Cut [0, 1] into num_classes equal bins: class i holds [i/K, (i+1)/K), the top class also holds 1.0.

    The authors' code can emit class K for the top score; here 1.0 falls in class K-1.
    """
    check_level_inputs(score, num_classes)
    bad = ~((score >= 0) & (score <= 1))  # also catches NaN
    if bad.any():
        raise ValueError(f"scores must lie in [0, 1]; got {score[bad][:5].tolist()}")
    # Scores are usually float32, where a decimal edge such as 0.7 is stored a hair below itself;
    # the small tolerance puts such a score in the class the edge opens, as the user means it.
    return torch.floor(score.double() * num_classes + 1e-6).long().clamp_(max=num_classes - 1)


def check_level_inputs(score: torch.Tensor, num_classes: int) -> None:
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if not torch.is_floating_point(score):
        raise TypeError(f"scores must be a float tensor, got {score.dtype}")


def rounded_level(published: torch.Tensor, low: float, high: float, num_classes: int) -> torch.Tensor:
    """round((y - low) * K / (high - low)), halves to even, clipped to 0..K-1: bins of width
    (high - low) / K centred on its multiples, counted from the scale's low end whichever end is
    better. With K = 10 this is the authors' round(MOS / 10) on 0..100 and round(DMOS * 10) on 0..1
    (numpy's round, which theirs calls, also takes halves to even). Their top bin (the scale's last
    half-width) is class K, which has no logit; here it joins class K-1, as does a score off the scale."""
    check_level_inputs(published, num_classes)
    if published.isnan().any():
        raise ValueError("scores must be numbers; got NaN")
    steps = (published.double() - low) * num_classes / (high - low)  # multiplied first: 35 * 10 / 100 is 3.5
    return torch.round(steps).long().clamp_(0, num_classes - 1)


def quality_levels(score: torch.Tensor, mos: np.ndarray, bounds: tuple[float, float, bool], num_classes: int,
                   levels: str) -> torch.Tensor:
    """Each image's class. ``equal`` cuts the normalised score (higher is better); ``rounded`` rounds
    the published score from its scale's low end, as the authors' rounding does (the classes then
    count up the published scale: on CSIQ and LIVE, from best to worst; the cross-entropy does not
    care which way they count)."""
    if levels == "equal":
        return quality_level(score, num_classes)
    if levels != "rounded":
        raise ValueError(f"unknown loss.levels {levels!r}")
    low, high, _ = bounds
    return rounded_level(torch.from_numpy(mos), low, high, num_classes).to(score.device)


@dataclass
class LossParts:
    total: torch.Tensor
    l1: torch.Tensor
    ce: torch.Tensor


def pmt_loss(score: torch.Tensor, logits: torch.Tensor, target: torch.Tensor, level: torch.Tensor,
             lambda1: float | torch.Tensor, lambda2: float | torch.Tensor, gamma: float = 1.0) -> LossParts:
    """lambda1 * L1 + gamma * lambda2 * CE, with the parts (both always computed, for the history).
    The weights may be 0-dim tensors (a captured training step reads them anew each replay).

    level is the target's quality level (loss.levels: quality_levels), computed once per dataset
    rather than on every step.
    """
    l1 = F.l1_loss(score.float(), target.float())
    ce = F.cross_entropy(logits.float(), level)
    return LossParts(total=lambda1 * l1 + gamma * lambda2 * ce, l1=l1, ce=ce)
