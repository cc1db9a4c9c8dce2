"""loss.levels on a dataset's published scores: equal bins of the normalised score, or the authors' rounding."""
import numpy as np
import pytest
import torch

from pmtiqa.method.losses import quality_levels
from pmtiqa.method.score_scales import to_unit

CSIQ = (0.0, 1.0, False)  # DMOS, lower is better


def levels(mos: list[float], bounds, rule: str) -> list[int]:
    mos = np.array(mos)
    score = torch.tensor(to_unit(mos, bounds), dtype=torch.float32)
    return quality_levels(score, mos, bounds, 10, rule).tolist()


def test_rounded_counts_up_the_published_scale_as_the_authors_round_dmos():
    dmos = [0.0, 0.04, 0.06, 0.5, 0.86, 0.94, 0.97]
    assert levels(dmos, CSIQ, "rounded") == [min(round(d * 10), 9) for d in dmos] == [0, 0, 1, 5, 9, 9, 9]
    assert levels(dmos, CSIQ, "equal") == [9, 9, 9, 5, 1, 0, 0]  # bins of the normalised score, best on top


def test_an_unknown_rule_is_a_bug():
    with pytest.raises(ValueError, match="loss.levels"):
        levels([0.5], CSIQ, "floor")
