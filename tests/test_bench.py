"""The benchmarks run and print their tables (tiny sizes: this checks the scripts, not the speed)."""
import re
import subprocess
import sys

import pytest

from test_graph import ROOT

pytestmark = pytest.mark.slow
NUMBER = r"\d+\.\d+"


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_bench_train_prints_rates_ratios_and_the_convolutions_bound():
    out = run_bench("bench_train.py", "--device", "cpu", "--backbones", "resnet18", "--steps", "1", "--warmup", "1",
                    "--rounds", "1", "--images", "12", "--crop", "32")
    row = re.search(rf"resnet18 +12 \|((?: +{NUMBER}){{4}}) \|((?: +{NUMBER}){{3}}) \|((?: +{NUMBER}){{2}})", out)
    assert row, out
    values = [float(v) for group in row.groups() for v in group.split()]
    assert all(v > 0 for v in values)
    a, b, c, d, b_a, b_c, b_d, e, e_d = values
    assert e_d == pytest.approx(e / d, rel=0.02)  # one round: the ratio of the printed rates


def test_bench_augment_prints_images_per_second():
    out = run_bench("bench_augment.py", "--count", "3", "--size", "48", "48")
    rows = re.findall(rf"(500x500|2000x1500) JPEG -> 48x48, workers .*: +({NUMBER}) images/s", out)
    assert len(rows) == 4 and all(float(rate) > 0 for _, rate in rows), out
