"""SIGKILL a training process in the middle of an epoch; the rerun resumes and ends identically."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pmtiqa.training.split_run import work_dir
from tests.builders import ROOT

EPOCHS = 4
SCRIPT = """
import sys
sys.path[:0] = [{root!r}]
from pathlib import Path
from pmtiqa.training.split_run import train_split
from tests.builders.training import tiny_data, tiny_settings
settings, runtime = tiny_settings(epochs={epochs}, crops_per_image=3)
train_split(settings, tiny_data(n=96), runtime, Path(sys.argv[1]), progress=False)
"""


def run_training(out: Path) -> subprocess.Popen:
    code = SCRIPT.format(root=str(ROOT), epochs=EPOCHS)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, str(out)], env=env)


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = run_training(killed)
    deadline = time.monotonic() + 240
    history = work_dir(killed) / "history.csv"
    while not history.exists():  # killed as soon as an epoch is recorded: the next one is under way
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "metrics.json").exists()
    history_before = history.read_text().splitlines()
    assert 2 <= len(history_before) <= EPOCHS  # the header, and some but not all epochs

    assert run_training(killed).wait() == 0
    assert run_training(clean).wait() == 0
    assert json.loads((killed / "metrics.json").read_text()) == json.loads((clean / "metrics.json").read_text())
    assert (killed / "history.csv").read_text().splitlines()[:len(history_before)] == history_before
    assert not work_dir(killed).exists()  # the run in progress is gone with its end
