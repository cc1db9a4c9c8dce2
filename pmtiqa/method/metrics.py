"""IQA metrics: SRCC, PLCC (raw and after a 4-parameter logistic fit), KRCC, RMSE; aggregation over splits.

Each metric takes (predictions, targets) as array-likes and returns a float. Inputs that leave a
correlation undefined (fewer than 3 samples, 5 for the logistic fit; constant predictions or
targets) give NaN with a warning rather than an exception from deep inside scipy; inputs that are simply wrong (different
lengths, non-finite values) raise ValueError.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, stats


class MetricWarning(UserWarning):
    pass


def _pair(predictions, targets) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predictions, dtype=np.float64).ravel()
    t = np.asarray(targets, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"predictions ({p.size}) and targets ({t.size}) differ in length")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("predictions and targets must be finite (found NaN or inf)")
    return p, t


def _undefined(p: np.ndarray, t: np.ndarray, name: str) -> bool:
    """True (with a warning) when a correlation of p and t is undefined."""
    if p.size < 3:
        warnings.warn(f"{name}: needs at least 3 samples, got {p.size}; returning NaN", MetricWarning, stacklevel=3)
        return True
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        which = "predictions" if np.ptp(p) == 0 else "targets"
        warnings.warn(f"{name}: constant {which}; returning NaN", MetricWarning, stacklevel=3)
        return True
    return False


def srcc(predictions, targets) -> float:
    p, t = _pair(predictions, targets)
    return float("nan") if _undefined(p, t, "srcc") else float(stats.spearmanr(p, t).statistic)


def krcc(predictions, targets) -> float:
    p, t = _pair(predictions, targets)
    return float("nan") if _undefined(p, t, "krcc") else float(stats.kendalltau(p, t).statistic)


def plcc(predictions, targets) -> float:
    """Pearson correlation of the raw predictions (the authors' protocol)."""
    p, t = _pair(predictions, targets)
    return float("nan") if _undefined(p, t, "plcc") else float(stats.pearsonr(p, t).statistic)


def rmse(predictions, targets) -> float:
    p, t = _pair(predictions, targets)
    if p.size == 0:
        warnings.warn("rmse: no samples; returning NaN", MetricWarning, stacklevel=2)
        return float("nan")
    return float(np.sqrt(np.mean((p - t) ** 2)))


FIT_PARAMETERS = 4


def logistic4(x, b1, b2, b3, b4):
    """The 4-parameter logistic of the VQEG protocol: from b2 (low end) to b1 (high end), centre b3, slope b4."""
    return (b1 - b2) / (1.0 + np.exp(-(x - b3) / np.abs(b4))) + b2


def plcc_logistic(predictions, targets) -> float:
    """Pearson correlation after mapping the predictions through a fitted 4-parameter logistic.

    Falls back to the raw PLCC, with a warning, when the fit does not converge.
    """
    p, t = _pair(predictions, targets)
    if _undefined(p, t, "plcc_logistic"):
        return float("nan")
    if p.size <= FIT_PARAMETERS:  # the curve would pass through every point: no fit to speak of
        warnings.warn(f"plcc_logistic: a fit of {FIT_PARAMETERS} parameters needs more than {FIT_PARAMETERS} "
                      f"samples, got {p.size}; returning NaN", MetricWarning, stacklevel=2)
        return float("nan")
    # Start from a curve that spans the targets, centred on the predictions, with a slope
    # of the predictions' spread, signed so it rises when predictions and targets rise together.
    rising = stats.pearsonr(p, t).statistic >= 0
    lo, hi = (t.min(), t.max()) if rising else (t.max(), t.min())
    guess = [hi, lo, float(np.median(p)), float(np.std(p)) or 1.0]
    try:
        with warnings.catch_warnings():
            # exp overflow (a steep curve saturating to its ends), and an unestimable covariance,
            # are harmless here: only the fitted values are used, and they are checked below.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            coeffs, _ = optimize.curve_fit(logistic4, p, t, p0=guess, maxfev=20000)
            fitted = logistic4(p, *coeffs)
        if not np.isfinite(fitted).all() or np.ptp(fitted) == 0:
            raise RuntimeError("degenerate fit")
    except (RuntimeError, ValueError) as err:
        warnings.warn(f"plcc_logistic: logistic fit failed ({err}); returning raw PLCC", MetricWarning, stacklevel=2)
        return float(stats.pearsonr(p, t).statistic)
    return float(stats.pearsonr(fitted, t).statistic)


METRICS = {"srcc": srcc, "plcc": plcc, "plcc_logistic": plcc_logistic, "krcc": krcc, "rmse": rmse}


def all_metrics(predictions, targets) -> dict[str, float]:
    return {name: fn(predictions, targets) for name, fn in METRICS.items()}


def correlation_in_range(value: float) -> bool:
    """In -1..1, as a correlation is; a perfect one may round past 1 by float error."""
    return abs(value) <= 1 + 1e-9


# What aggregate gives for each metric over splits (the report relies on every one).
STATISTICS = ("median", "mean", "std", "iqr", "q1", "q3", "min", "max", "n")


def aggregate(values) -> dict[str, float]:
    """Median, mean, std (sample, ddof=1), IQR (Q3 - Q1) with Q1 and Q3, min, max and n over splits;
    NaNs are skipped."""
    v = np.asarray(list(values), dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return dict.fromkeys(STATISTICS, float("nan")) | {"n": 0}
    q1, q3 = np.percentile(v, [25, 75])
    return {
        "median": float(np.median(v)),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "iqr": float(q3 - q1),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }
