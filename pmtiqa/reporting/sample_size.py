"""How much a correlation measured on one test part can say: the half-width of its 95 % interval
from Fisher's z, and the flag the report puts on a number whose test part is too small for it.
SRCC's z has the standard error sqrt(1.06 / (n - 3)) (Fieller, Hartley and Pearson 1957), PLCC's
1 / sqrt(n - 3); a number is flagged where the interval at its own value is wider than +-0.1."""
from __future__ import annotations

import math

Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval
VARIANCE = {"srcc": 1.06, "plcc": 1.0}  # n - 3 times the variance of z, per correlation
WIDEST = 0.1  # the half-width beyond which a number cannot tell apart what the report compares
DAGGER = "\u2020"


def half_width(r: float, n: int, metric: str = "srcc") -> float:
    """Half the width of the 95 % interval of a correlation ``r`` over ``n`` images (infinite below 4)."""
    if n is None or n < 4 or r is None or not math.isfinite(r):
        return math.inf
    z = math.atanh(max(-0.9999, min(0.9999, r)))  # a perfect correlation still has an interval
    se = math.sqrt(VARIANCE[metric] / (n - 3))
    return (math.tanh(z + Z95 * se) - math.tanh(z - Z95 * se)) / 2


def too_small(r: float, n: int, metric: str = "srcc") -> bool:
    return half_width(r, n, metric) > WIDEST


def mark(r: float, n: int, metric: str = "srcc") -> str:
    """The dagger a number carries where its test part is too small to say much, else nothing (also
    where no number or no size is known)."""
    known = n is not None and r is not None and math.isfinite(r)
    return DAGGER if known and too_small(r, n, metric) else ""


def needed(r: float, metric: str = "srcc") -> int:
    """The fewest images at which a correlation of ``r`` is not flagged."""
    n = 4
    while too_small(r, n, metric):
        n *= 2
    lo, hi = n // 2, n  # too small at lo (or lo below 4), enough at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if too_small(r, mid, metric) else (lo, mid)
    return hi


def split_test_sizes(result: dict) -> list[int]:
    """A dataset's test images per split: the rows of the predictions the report read (every variant
    of a dataset runs on the same splits, so one variant's files count for all)."""
    held = next(d["predictions"] for d in result["variants"].values() if "predictions" in d)
    return [len(p) for p in held]


def sizes_range(sizes: list[int]) -> str:
    """Test images per split as a table or title gives them: one number where every split has it, else
    the range."""
    lo, hi = min(sizes), max(sizes)
    return str(lo) if lo == hi else f"{lo} to {hi}"


def sizes_phrase(sizes: list[int]) -> str:
    """Test images per split in words: one number where every split has it, else the range."""
    lo, hi = min(sizes), max(sizes)
    return f"{lo} test images in each of {len(sizes)} splits" if lo == hi else \
        f"{lo} to {hi} test images per split ({len(sizes)} splits)"


def footnote(n: int | None = None) -> str:
    """What the dagger means, with the rule and the sizes it asks for; ``n``: the test images each
    split's value rests on where one number holds for the whole table (else the table says)."""
    rests = f"as few as {n} images" if n else "the images the table gives beside it"
    return (f"{DAGGER} Too few test images for this number to say much: each split's value rests on {rests}, "
            f"and at that size the 95 % interval of a correlation this large is wider than \u00b1{WIDEST} "
            "(Fisher's z, standard error sqrt(1.06/(n-3)) for SRCC after Fieller, Hartley and Pearson 1957, "
            f"1/sqrt(n-3) for PLCC). For the interval to be within \u00b1{WIDEST} an SRCC of 0.9 needs "
            f"{needed(0.9)} test images, one of 0.7 needs {needed(0.7)}, one of 0.5 needs {needed(0.5)}.")


def with_footnote(lines: list[str], n: int | None = None) -> list[str]:
    """A table's lines, and the dagger's footnote under it where a number of it carries one."""
    return lines + (["", footnote(n)] if any(DAGGER in line for line in lines) else [])
