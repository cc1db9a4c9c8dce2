import pytest
import torch

from pmtiqa.method.losses import pmt_loss, quality_level


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
