"""`pmtiqa tune`: a killed study resumes from its trials, a rerun does no new work, failures are kept."""
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

TESTS = Path(__file__).resolve().parent
# The tuning stage on tiny in-memory data (no dataset stages), in the working directory given.
SCRIPT = """
import dataclasses, logging, sys
sys.path[:0] = [{tests!r}, {root!r}]
logging.basicConfig(level=logging.INFO, format="%(message)s")
import pmtiqa.tune
from train_fixtures import tiny_data, tiny_params
pmtiqa.tune.load_device_data = lambda *args: tiny_data(n=64)
params = tiny_params()
tune = dataclasses.replace(params.tune, n_trials=int(sys.argv[1]), epochs=2, lr=[1e-4, 1e-2], batch_size=[4, 8])
params = dataclasses.replace(params, tune=tune)
pmtiqa.tune.tune(params, "synthetic")
"""


def run_tune(cwd: Path, n_trials: int) -> subprocess.Popen:
    code = SCRIPT.format(tests=str(TESTS), root=str(TESTS.parent))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, str(n_trials)], cwd=cwd, env=env,
                            stderr=subprocess.PIPE, text=True)


def trial_states(db: Path) -> list[str]:
    if not db.is_file():
        return []
    with sqlite3.connect(db) as con:
        try:
            return [state for (state,) in con.execute("SELECT state FROM trials ORDER BY number")]
        except sqlite3.OperationalError:  # the schema is still being created
            return []


def test_killed_study_resumes_from_its_trials(tmp_path: Path) -> None:
    db = tmp_path / "runs/tune/synthetic/study.db"
    proc = run_tune(tmp_path, n_trials=4)
    deadline = time.monotonic() + 240
    while trial_states(db).count("COMPLETE") + trial_states(db).count("PRUNED") < 2:
        assert proc.poll() is None, f"tuning ended before it could be killed:\n{proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = trial_states(db)
    assert not (tmp_path / "runs/tune/synthetic/best.json").exists()

    rerun = run_tune(tmp_path, n_trials=4)
    _, log = rerun.communicate()
    assert rerun.returncode == 0, log
    finished_before = sum(s in ("COMPLETE", "PRUNED", "FAIL") for s in before)
    assert f"{finished_before} of 4 trials finished, running {4 - finished_before} more" in log
    after = trial_states(db)
    kept = [number for number, state in enumerate(before) if state != "RUNNING"]
    assert [after[n] for n in kept] == [before[n] for n in kept]  # the finished trials are kept as they were
    assert sum(s in ("COMPLETE", "PRUNED", "FAIL") for s in after) == 4
    best = json.loads((tmp_path / "runs/tune/synthetic/best.json").read_text())
    # weight_decay's range is one value by default: not searched, so best.json leaves train's in force
    assert best["n_trials"] == 4 and set(best["params"]) == {"lr", "batch_size", "gamma"}

    again = run_tune(tmp_path, n_trials=4)
    _, log = again.communicate()
    assert again.returncode == 0 and "4 of 4 trials finished, running 0 more" in log
    assert trial_states(db) == after


@pytest.mark.parametrize("failure", [RuntimeError("out of memory"), ValueError("bad batch")])
def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path: Path, monkeypatch, failure) -> None:
    import pmtiqa.tune
    from train_fixtures import tiny_data, tiny_params

    real_objective = pmtiqa.tune.objective

    def objective(trial, *args):
        if trial.number == 1:
            raise failure
        return real_objective(trial, *args)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pmtiqa.tune, "load_device_data", lambda *args: tiny_data(n=48))
    monkeypatch.setattr(pmtiqa.tune, "objective", objective)
    params = tiny_params()
    params = dataclasses.replace(params, tune=dataclasses.replace(params.tune, n_trials=3, epochs=1, batch_size=[4, 8]))
    result = pmtiqa.tune.tune(params, "synthetic")
    assert result["states"]["fail"] == 1 and result["states"]["complete"] == 2
    study = optuna.load_study(study_name=result["study"], storage=f"sqlite:///{tmp_path}/runs/tune/synthetic/study.db")
    assert study.trials[1].state == optuna.trial.TrialState.FAIL


def test_a_range_of_one_value_is_not_searched() -> None:
    """FixedTrial refuses a name it was not given: only the ranges of more than one value are asked for."""
    import pmtiqa.tune
    from train_fixtures import tiny_params

    params = tiny_params(weight_decay=1e-5)
    trial = optuna.trial.FixedTrial({"lr": 2e-4, "batch_size": 12, "gamma": 2.0})
    assert pmtiqa.tune.suggest(trial, params) == {"lr": 2e-4, "batch_size": 12, "gamma": 2.0}
    wide = dataclasses.replace(params, tune=dataclasses.replace(params.tune, weight_decay=[1e-5, 1e-3]))
    with pytest.raises(ValueError, match="weight_decay"):
        pmtiqa.tune.suggest(trial, wide)
