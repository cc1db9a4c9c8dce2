"""The benchmarks run and print their tables (tiny sizes: this checks the scripts, not the speed)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pmtiqa.compute.runtime import Runtime, set_tf32
from pmtiqa.method.losses import quality_level
from tests.builders import ROOT
from tests.builders.host_traffic import HostTraffic, refuse

pytestmark = pytest.mark.slow
NUMBER = r"\d+\.\d+"


def run_bench(script: str, *args: str) -> str:
    """The script's output; no dvc or snakemake needed (the benches run on the GPU machine, which lacks them)."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def bench_train(tmp_path_factory) -> tuple[str, Path]:
    """bench_train.py at its smallest: its output, and the rows it wrote for gpu_table.py."""
    rows = tmp_path_factory.mktemp("bench") / "train.json"
    out = run_bench("bench_train.py", "--device", "cpu", "--backbones", "resnet18", "--steps", "1", "--warmup", "1",
                    "--rounds", "1", "--images", "12", "--crop", "32", "--json", str(rows))
    return out, rows


def test_bench_train_prints_rates_ratios_and_the_convolutions_bound(bench_train):
    out, _ = bench_train
    row = re.search(rf"resnet18 +12 eager +(?:bf16|fp32) +\|((?: +{NUMBER}){{4}}) \|((?: +{NUMBER}){{3}}) \|((?: +{NUMBER}){{2}})", out)
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


def test_ratios_are_medians_of_each_round_s_own_ratio():
    """Not the ratio of the medians: here b/a is 2 in two rounds of three, the medians' ratio 1."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_train import summarise

    rates, ratios = summarise([{"a": 1, "b": 2, "c": 1, "d": 1}, {"a": 2, "b": 2, "c": 1, "d": 1},
                               {"a": 4, "b": 8, "c": 1, "d": 1}])
    assert rates["a"] == 2 and rates["b"] == 2 and ratios["b/a"] == 2


def test_bench_concurrent_and_the_gpu_table_print_their_rows(bench_train, tmp_path):
    out = run_bench("bench_concurrent.py", "--at-once", "1", "2", "--epochs", "2", "--images", "12", "--image-size",
                    "64", "--crop", "32", "--backbone", "cnn4", "--json", str(tmp_path / "concurrent.json"))
    rows = re.findall(rf"^ +([12]) \| +({NUMBER}) +({NUMBER})% +({NUMBER}) \| +({NUMBER}) +({NUMBER})$", out, re.M)
    assert [int(r[0]) for r in rows] == [1, 2] and all(float(v) > 0 for r in rows for v in r[1:]), out
    table = run_bench("gpu_table.py", "--train", str(bench_train[1]), "--concurrent", str(tmp_path / "concurrent.json"))
    assert re.search(rf"(bf16|fp32): b/d at batch 12 +\| +{NUMBER} \| +-", table), table  # no graph rows on a CPU
    assert len(re.findall(rf"paper grid, hours +\| +[12] \| +{NUMBER}", table)) == 2, table


def test_the_authors_way_runs_under_pytorch_s_default_tf32_flags(monkeypatch, tf32_flags):
    """(d) times the authors' step as their code runs it: with the TF32 flags PyTorch starts with
    (convolutions on, matmuls off), whatever our precision set for a, b and c."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_train

    seen = {}

    def fake_timed(step_fn, batches, warmup, device):
        seen[step_fn.__name__] = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        return 1.0

    def ours(x, t, level): ...
    def trainer(i, _): ...
    def authors(x, t, level): ...
    monkeypatch.setattr(bench_train, "timed", fake_timed)
    set_tf32("bf16")  # TF32 matmuls and convolutions on, as a bf16 run sets them
    cache = torch.zeros(4, 40, 40, 3, dtype=torch.uint8)
    bench_train.bench_round(ours, trainer, authors, 2, 1, 1, 32, [Path("x.jpg")] * 4, cache, torch.device("cpu"))
    assert seen == {"ours": (True, True), "trainer": (True, True), "authors": (False, True)}
    assert tf32_flags() == (True, True)  # ours back


def test_the_gpu_script_keeps_to_its_budget_and_still_prints_its_table(tmp_path):
    """bench/on_gpu.sh with no time left skips every step, saying so, and prints the table of dashes."""
    env = {**os.environ, "BUDGET": "0", "OUT": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", str(ROOT / "bench" / "on_gpu.sh")], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^=== skipped, 0 s of the budget left: python ", result.stdout, re.M)) == 4, result.stdout
    assert "GPU measurement: device unknown; no training-step rows" in result.stdout, result.stdout


def test_the_benchmark_s_graphed_step_holds_nothing_a_cuda_graph_cannot(monkeypatch):
    """bench_train's step as a graph captures it, on the CPU: after the warm-up it makes no tensor from
    Python data and reads nothing back (Adam's step left out: on a CPU it reads its count back)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_train

    runtime = Runtime(torch.device("cpu"), "fp32", graphs=True)
    step = bench_train.make_step("cnn4", runtime, channels_last=True)
    x, target = torch.rand(4, 3, 32, 32), torch.rand(4)
    level = quality_level(target, 10)
    step(x, target, level)  # the warm-up: Adam's state is made here
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, closure=None: None)
    for name in ("cpu", "numpy", "tolist", "item"):
        monkeypatch.setattr(torch.Tensor, name, refuse(name))
    with HostTraffic() as traffic:
        step(x, target, level)
    assert traffic.seen == []


ROW = {"backbone": "resnet50", "batch": 12, "step": "eager", "precision": "bf16", "b": 400.0, "b/a": 0.9, "b/d": 1.1}


@pytest.mark.parametrize("files, message", [
    ([{"device": "H100", "rows": [{**ROW, "b/a": None}]}], "row 1: b/a not a number"),
    ([{"device": "H100", "rows": [{**ROW, "batch": "12"}]}], "row 1: batch not a whole number"),
    ([{"device": "H100", "rows": [{**ROW, "step": "graphs"}]}], "row 1: step not eager or graph"),
    ([{"device": "H100", "rows": [ROW, 3]}], "row 2: not a mapping"),
    ([{"device": "H100", "rows": [ROW]}, {"device": "H200", "rows": [{**ROW, "precision": "tf32"}]}],
     "files of different devices (H100, H200)"),
    ([{"device": "H100", "rows": [ROW]}, {"device": "H100", "rows": [ROW]}], "measures resnet50, bf16, 12, eager again"),
], ids=["null", "text batch", "odd step", "not a row", "two devices", "twice"])
def test_the_gpu_table_refuses_what_would_mislead(tmp_path, files, message):
    paths = []
    for i, content in enumerate(files):
        paths.append(tmp_path / f"train{i}.json")
        paths[-1].write_text(json.dumps(content))
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_table.py"), "--train", *map(str, paths)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr and "GPU measurement" not in result.stdout, result


@pytest.mark.parametrize("budget", ["10m", "-5", "SECONDS[$(echo INJECTED >&2)]"])
def test_the_gpu_script_refuses_a_budget_that_is_not_whole_seconds(tmp_path, budget):
    result = subprocess.run(["bash", str(ROOT / "bench" / "on_gpu.sh")], env={**os.environ, "BUDGET": budget,
                            "OUT": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr == f"on_gpu.sh: BUDGET '{budget}': whole seconds expected\n"
    assert result.stdout == ""
