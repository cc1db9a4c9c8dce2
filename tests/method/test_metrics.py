import math

import numpy as np
import pytest
from scipy import stats

from pmtiqa.method import metrics
from pmtiqa.method.metrics import MetricWarning


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 100, 200)
    p = t + rng.normal(0, 15, 200)
    return p, t


def test_against_scipy(data):
    p, t = data
    assert metrics.srcc(p, t) == pytest.approx(stats.spearmanr(p, t).statistic)
    assert metrics.plcc(p, t) == pytest.approx(stats.pearsonr(p, t).statistic)
    assert metrics.krcc(p, t) == pytest.approx(stats.kendalltau(p, t).statistic)
    assert metrics.rmse(p, t) == pytest.approx(np.sqrt(np.mean((p - t) ** 2)))


def test_logistic_plcc_beats_raw_on_monotone_nonlinear_data():
    rng = np.random.default_rng(1)
    x = rng.uniform(-4, 4, 300)
    target = 100 / (1 + np.exp(-1.5 * x)) + rng.normal(0, 2, 300)  # a saturating, monotone relation
    raw = metrics.plcc(x, target)
    fitted = metrics.plcc_logistic(x, target)
    assert fitted > raw + 0.03
    assert fitted > 0.98


def test_logistic_plcc_on_a_falling_relation():
    x = np.linspace(0, 1, 50)
    target = 1 - x**3
    assert metrics.plcc_logistic(x, target) > abs(metrics.plcc(x, target))


def test_logistic_fit_failure_falls_back_to_raw(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no convergence")

    monkeypatch.setattr(metrics.optimize, "curve_fit", broken)
    p, t = [1.0, 2.0, 3.0, 5.0, 6.0], [1.0, 3.0, 2.0, 4.0, 7.0]
    with pytest.warns(MetricWarning, match="fit failed"):
        assert metrics.plcc_logistic(p, t) == pytest.approx(metrics.plcc(p, t))


@pytest.mark.parametrize("name", ["srcc", "plcc", "plcc_logistic", "krcc"])
def test_constant_predictions_give_nan_with_a_warning(name):
    with pytest.warns(MetricWarning, match="constant predictions"):
        assert np.isnan(getattr(metrics, name)([0.5] * 10, list(range(10))))


@pytest.mark.parametrize("name", ["srcc", "plcc", "plcc_logistic", "krcc"])
def test_too_few_samples_give_nan_with_a_warning(name):
    with pytest.warns(MetricWarning, match="at least 3"):
        assert np.isnan(getattr(metrics, name)([1.0, 2.0], [2.0, 1.0]))


@pytest.mark.parametrize("n", [3, 4])
def test_a_logistic_fit_on_too_few_samples_gives_nan_and_the_other_metrics_stand(n):
    """A test part of 3 or 4 images (a tiny subset) once crashed training inside scipy's curve_fit."""
    p, t = [1.0, 2.5, 2.0, 4.0][:n], [1.0, 2.0, 3.0, 4.0][:n]
    with pytest.warns(MetricWarning, match=f"needs more than 4 samples, got {n}"):
        values = metrics.all_metrics(p, t)
    assert np.isnan(values["plcc_logistic"])
    assert values["srcc"] == pytest.approx(stats.spearmanr(p, t).statistic)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.srcc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        metrics.plcc([1, 2, np.nan], [1, 2, 3])


def test_aggregate():
    agg = metrics.aggregate([0.1, 0.2, 0.3, 0.4, float("nan")])
    assert agg["median"] == pytest.approx(0.25)
    assert agg["mean"] == pytest.approx(0.25)
    assert agg["std"] == pytest.approx(np.std([0.1, 0.2, 0.3, 0.4], ddof=1))
    assert agg["iqr"] == pytest.approx(0.325 - 0.175)
    assert (agg["q1"], agg["q3"]) == pytest.approx((0.175, 0.325))
    assert agg["n"] == 4
    empty = metrics.aggregate([])
    assert empty["n"] == 0 and math.isnan(empty["median"])
    assert tuple(agg) == tuple(empty) == metrics.STATISTICS  # what the report checks a metrics file for
