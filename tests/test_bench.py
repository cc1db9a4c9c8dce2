"""The benchmarks run and print their tables (tiny sizes: this checks the scripts, not the speed)."""
import os
import re
import sys

import pytest

from test_e2e import run
from test_graph import ROOT

pytestmark = pytest.mark.slow
NUMBER = r"\d+\.\d+"


def run_bench(script: str, *args: str) -> str:
    return run([sys.executable, str(ROOT / "bench" / script), *args], ROOT, dict(os.environ), timeout=600)


def test_bench_train_prints_rates_ratios_and_the_convolutions_bound():
    out = run_bench("bench_train.py", "--device", "cpu", "--backbones", "resnet18", "--steps", "1", "--warmup", "1",
                    "--rounds", "1", "--images", "12", "--crop", "32")
    row = re.search(rf"resnet18 +12 \|((?: +{NUMBER}){{4}}) \|((?: +{NUMBER}){{3}}) \|((?: +{NUMBER}){{2}})", out)
    assert row, out
    values = [float(v) for group in row.groups() for v in group.split()]
    assert all(v > 0 for v in values)
    a, b, c, d, b_a, b_c, b_d, e, e_d = values
    # one round: each ratio is the ratio of the printed rates (to their rounding)
    for ratio, (x, y) in ((b_a, (b, a)), (b_c, (b, c)), (b_d, (b, d)), (e_d, (e, d))):
        assert ratio == pytest.approx(x / y, rel=0.05, abs=0.01)


def test_bench_augment_prints_images_per_second():
    out = run_bench("bench_augment.py", "--count", "3", "--size", "48", "48")
    rows = re.findall(rf"(500x500|2000x1500) JPEG -> 48x48, workers .*: +({NUMBER}) images/s", out)
    assert len(rows) == 4 and all(float(rate) > 0 for _, rate in rows), out
