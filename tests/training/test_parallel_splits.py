"""runtime.parallel_splits: a variant's splits trained at once, a process each, write what a
sequential run writes; a failure is named; a killed command leaves no process behind, and its
rerun resumes."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from pmtiqa.cli import main
from tests.builders import ROOT
from tests.builders.lab import lab_project

SPLITS = 3


def write_params(root: Path, **runtime) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["runtime"].update(runtime)
    (root / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project whose dataset (mylab, 24 images) is split three ways and cached: ready to train."""
    root = lab_project(tmp_path, monkeypatch, split={"n_splits": SPLITS})
    for stage in ("download", "prepare", "split", "augment"):
        assert main([stage, "--dataset", "mylab"]) == 0, stage
    return root


def run_files(root: Path, split: int) -> dict:
    folder = root / "runs/train/mylab/ms_pmt" / f"split{split}"
    history = pd.read_csv(folder / "history.csv").drop(columns=["seconds", "scoring_seconds"])
    return {"metrics": (folder / "metrics.json").read_text(), "predictions": (folder / "predictions.csv").read_text(),
            "history": history.to_csv(index=False),
            "weights": torch.load(folder / "model.pt", weights_only=True)["state_dict"]}


def test_splits_trained_at_once_equal_splits_trained_in_turn(project):
    assert main(["train", "--dataset", "mylab", "--variant", "ms_pmt"]) == 0
    sequential = [run_files(project, k) for k in range(SPLITS)]
    shutil.rmtree("runs")
    write_params(project, parallel_splits=2)
    assert main(["train", "--dataset", "mylab", "--variant", "ms_pmt"]) == 0
    for k, expected in enumerate(sequential):
        got = run_files(project, k)
        assert {key: got[key] for key in ("metrics", "predictions", "history")} == \
               {key: expected[key] for key in ("metrics", "predictions", "history")}, k
        assert all(torch.equal(got["weights"][name], w) for name, w in expected["weights"].items()), k


@pytest.mark.parametrize("break_it,message", [
    (lambda: write_params(Path("."), step="graph"), "runtime.step: 'graph' replays CUDA graphs"),
    (lambda: shutil.rmtree("data/cache/mylab"), "data/cache/mylab/images.npy: missing"),
    (lambda: Path("data/cache/mylab/images.npy").write_bytes(b"not an array"), "images.npy: damaged"),
    (lambda: edit_params(lambda p: p["split"].update(n_splits=SPLITS + 2)),
     "data/splits/mylab.json: holds 3 splits, params ask for 5"),
    (lambda: edit_params(lambda p: p.setdefault("augment", {}).update(decode="stored")),
     "data/cache/mylab/meta.json: decoded upright; params ask decoding stored (augment.decode"),
])
def test_what_would_stop_every_split_is_said_once_before_any_starts(project, capsys, break_it, message):
    write_params(project, parallel_splits=2)
    break_it()
    assert main(["train", "--dataset", "mylab", "--variant", "ms_pmt"]) == 2
    err = capsys.readouterr().err
    assert "training in process" not in err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and message in errors[0], err


@pytest.mark.parametrize("command", [["train", "--variant", "ms_pmt"], ["tune"]])
def test_a_cache_made_at_another_size_is_refused_by_each_command_that_reads_it(project, capsys, command):
    """augment.size edited, and training or tuning run by hand before augment (the engines run it first)."""
    edit_params(lambda p: p.setdefault("augment", {}).update(size=[48, 40]))
    assert main([command[0], "--dataset", "mylab", *command[1:]]) == 2
    assert "data/cache/mylab/meta.json: made at size" in capsys.readouterr().err
    assert not Path("runs").exists()


def edit_params(change) -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    change(params)
    Path("params.yaml").write_text(yaml.safe_dump(params))


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def start_training(project: Path) -> subprocess.Popen:
    """`pmtiqa train` of every split, two at once, long enough (12 epochs) to be caught running."""
    write_params(project, parallel_splits=2)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["epochs"] = 12
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    command = [sys.executable, "-m", "pmtiqa", "train", "--dataset", "mylab", "--variant", "ms_pmt"]
    return subprocess.Popen(command, cwd=project, env=ENV, stderr=subprocess.PIPE, text=True)


def processes_in(folder: Path) -> list[int]:
    """The pids of the processes other than this one working in ``folder`` (their current directory)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and int(proc.name) != os.getpid() and Path(os.readlink(proc / "cwd")) == folder:
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_killed_command_takes_its_processes_with_it_and_a_rerun_resumes(project):
    started = start_training(project)
    checkpoint = project / "runs/train/mylab/ms_pmt/.split1.run/checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and started.poll() is None:
        time.sleep(0.01)
    assert checkpoint.exists() and started.poll() is None, "no checkpoint while it ran"
    started.send_signal(signal.SIGKILL)
    started.wait()
    deadline = time.time() + 3  # the processes left would train for longer
    while processes_in(project) and time.time() < deadline:
        time.sleep(0.2)
    assert processes_in(project) == []
    rerun = subprocess.run(started.args, cwd=project, env=ENV, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming at epoch" in rerun.stderr
    assert all((project / f"runs/train/mylab/ms_pmt/split{k}/metrics.json").is_file() for k in range(SPLITS))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the processes through /proc")
def test_a_split_whose_process_is_killed_is_named(project):
    started = start_training(project)
    lines = []
    while not any(found := re.findall(r"split 0: training in process (\d+)", line) for line in lines[-1:]):
        lines.append(started.stderr.readline())
    split0 = int(found[0])
    checkpoint = project / "runs/train/mylab/ms_pmt/.split0.run/checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.01)
    os.kill(split0, signal.SIGKILL)
    _, err = started.communicate(timeout=600)
    assert started.returncode == 2
    assert "mylab/ms_pmt split 0: its process was ended by SIGKILL" in err
    assert "pmtiqa train: error: mylab/ms_pmt: split(s) 0 failed, for the reasons logged above" in err, err
