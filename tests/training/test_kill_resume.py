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

SCRIPT = """
import sys
sys.path[:0] = [{root!r}]
from pathlib import Path
from pmtiqa.training.split_run import train_split
from tests.builders.training import tiny_data, tiny_settings
settings, runtime = tiny_settings(epochs=4, crops_per_image=3)
train_split(settings, tiny_data(n=96), runtime, Path(sys.argv[1]), progress=False)
"""


def run_training(out: Path) -> subprocess.Popen:
    code = SCRIPT.format(root=str(ROOT))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, str(out)], env=env)


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = run_training(killed)
    deadline = time.monotonic() + 240
    work = work_dir(killed)
    while not (work / "checkpoint.pt").exists():  # the first epoch is done
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "metrics.json").exists()
    history_before = (work / "history.csv").read_text().splitlines()
    assert len(history_before) == 2  # header + the epoch that finished

    assert run_training(killed).wait() == 0
    assert run_training(clean).wait() == 0
    assert json.loads((killed / "metrics.json").read_text()) == json.loads((clean / "metrics.json").read_text())
    assert (killed / "history.csv").read_text().splitlines()[:2] == history_before
    assert not work.exists()  # the run in progress is gone with its end
