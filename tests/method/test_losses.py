import numpy as np
import pytest
import torch

from pmtiqa.method.losses import pmt_loss, quality_level, rounded_level


def test_class_edges():
    scores = torch.tensor([0.0, 0.1, 0.0999, 0.5, 0.95, 1.0])
    assert quality_level(scores, 10).tolist() == [0, 1, 0, 5, 9, 9]


def test_every_bin_edge_lands_in_the_upper_class():
    k = 10
    edges = torch.arange(k, dtype=torch.float32) / k
    assert quality_level(edges, k).tolist() == list(range(k))


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_scores_outside_unit_interval_are_an_error(bad):
    with pytest.raises(ValueError, match="lie in"):
        quality_level(torch.tensor([0.5, bad]), 10)


# LIVEC-like MOS on 0..100: (MOS, equal bins, rounded): the rules part where a score lies in the upper
# half of its equal bin; rounded is the authors' round(MOS / 10), halves to even, class 10 clipped to 9
LIVEC_LIKE = [
    (3.42, 0, 0), (4.99, 0, 0), (5.0, 0, 0), (5.01, 0, 1), (14.9, 1, 1), (15.0, 1, 2), (25.0, 2, 2),
    (35.0, 3, 4), (49.9, 4, 5), (50.0, 5, 5), (63.21, 6, 6), (92.43, 9, 9), (94.9, 9, 9), (95.5, 9, 9),
    (100.0, 9, 9),
]


@pytest.mark.parametrize("mos, equal, rounded", LIVEC_LIKE)
def test_rounded_levels_are_the_authors_rounding_clipped(mos, equal, rounded):
    assert quality_level(torch.tensor([mos / 100], dtype=torch.float64), 10).item() == equal
    assert rounded_level(torch.tensor([mos], dtype=torch.float64), 0.0, 100.0, 10).item() == rounded
    assert rounded == min(round(np.float32(mos) / np.float32(10)), 9)  # their rule on their float32 MOS


def test_rounded_levels_count_from_the_low_end_of_any_scale():
    dmos = torch.tensor([0.0, 0.04, 0.06, 0.5, 0.94, 0.96, 1.0])  # CSIQ: round(DMOS * 10), class 10 clipped
    assert rounded_level(dmos, 0.0, 1.0, 10).tolist() == [0, 0, 1, 5, 9, 9, 9]
    assert rounded_level(torch.tensor([-3.0, 2.0, 109.0, 120.0]), -3.0, 112.0, 4).tolist() == [0, 0, 3, 3]


def test_loss_combines_parts():
    score = torch.tensor([0.2, 0.8])
    target = torch.tensor([0.3, 0.6])
    logits = torch.zeros(2, 10)
    level = quality_level(target, 10)
    parts = pmt_loss(score, logits, target, level, lambda1=0.25, lambda2=0.75, gamma=2.0)
    l1 = (0.1 + 0.2) / 2
    ce = torch.log(torch.tensor(10.0)).item()  # uniform logits
    assert parts.l1.item() == pytest.approx(l1)
    assert parts.ce.item() == pytest.approx(ce, rel=1e-5)
    assert parts.total.item() == pytest.approx(0.25 * l1 + 2.0 * 0.75 * ce, rel=1e-5)


def test_loss_gradients_reach_only_the_weighted_heads():
    score = torch.tensor([0.2, 0.8], requires_grad=True)
    logits = torch.zeros(2, 10, requires_grad=True)
    target = torch.tensor([0.3, 0.6])
    pmt_loss(score, logits, target, quality_level(target, 10), lambda1=0.0, lambda2=1.0).total.backward()
    assert score.grad.abs().sum() == 0
    assert logits.grad.abs().sum() > 0
