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

import numpy as np
import optuna
import pytest

from pmtiqa.core.paths import DatasetFiles
from tests.builders import ROOT

# The tuning stage on tiny in-memory data (no dataset stages), in the working directory given.
SCRIPT = """
import dataclasses, logging, sys
sys.path[:0] = [{root!r}]
logging.basicConfig(level=logging.INFO, format="%(message)s")
import pmtiqa.tuning.tune
from pmtiqa.core.paths import DatasetFiles
from tests.builders.training import tiny_data, tiny_params
pmtiqa.tuning.tune.HEARTBEAT_S = 1  # a killed worker's trial is found within 2 s
pmtiqa.tuning.tune.load_device_data = lambda *args: tiny_data(n=64)
params = tiny_params()
tune = dataclasses.replace(params.tune, n_trials=int(sys.argv[1]), epochs=2, lr=[1e-4, 1e-2], batch_size=[4, 8])
params = dataclasses.replace(params, tune=tune)
pmtiqa.tuning.tune.tune(params, DatasetFiles("synthetic"), {{}})
"""


def run_tune(cwd: Path, n_trials: int) -> subprocess.Popen:
    code = SCRIPT.format(root=str(ROOT))
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


def beating(db: Path, number: int) -> bool:
    """Has trial `number` recorded a heartbeat (what tells a later run that its worker died)?"""
    with sqlite3.connect(db) as con:
        return bool(con.execute("SELECT count(*) FROM trial_heartbeats JOIN trials USING (trial_id) "
                                "WHERE trials.number = ?", (number,)).fetchone()[0])


def trials_of(db: Path) -> list[tuple]:
    """(params, value) of the trials that count (complete or pruned, each once), in order."""
    study = optuna.load_study(study_name=optuna.get_all_study_names(f"sqlite:///{db}")[0], storage=f"sqlite:///{db}")
    return [(t.params, t.value) for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE,
                                                                      optuna.trial.TrialState.PRUNED)]


def test_killed_study_resumes_to_the_uninterrupted_answer(tmp_path: Path) -> None:
    """SIGKILL inside a trial: the rerun draws the interrupted trial's values again (the same seed from
    the same trials before it), then what an uninterrupted study draws; the trials that count, and
    best.json's values, are the same."""
    db = tmp_path / "killed/runs/tune/synthetic/study.db"
    (tmp_path / "killed").mkdir()
    proc = run_tune(tmp_path / "killed", n_trials=4)
    deadline = time.monotonic() + 240
    while not (trial_states(db)[2:3] == ["RUNNING"] and beating(db, 2)):  # killed inside the third trial
        assert proc.poll() is None, f"tuning ended before it could be killed:\n{proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = trial_states(db)
    assert not (tmp_path / "killed/runs/tune/synthetic/best.json").exists()
    time.sleep(2.5)  # the killed worker's heartbeat is stale

    rerun = run_tune(tmp_path / "killed", n_trials=4)
    _, log = rerun.communicate()
    assert rerun.returncode == 0, log
    assert "2 of 4 trials finished" in log
    after = trial_states(db)
    assert after[:2] == before[:2] and after[2] == "FAIL"  # the interrupted trial, whose values trial 3 draws again
    (tmp_path / "clean").mkdir()
    clean = run_tune(tmp_path / "clean", n_trials=4)
    _, log = clean.communicate()
    assert clean.returncode == 0, log
    assert trials_of(db) == trials_of(tmp_path / "clean/runs/tune/synthetic/study.db")
    best = json.loads((tmp_path / "killed/runs/tune/synthetic/best.json").read_text())
    assert best["params"] == json.loads((tmp_path / "clean/runs/tune/synthetic/best.json").read_text())["params"]
    # weight_decay's range is one value by default: not searched, so best.json leaves train's in force
    assert best["n_trials"] == 4 and set(best["params"]) == {"lr", "batch_size", "gamma"}

    again = run_tune(tmp_path / "killed", n_trials=4)
    _, log = again.communicate()
    assert again.returncode == 0 and "4 of 4 trials finished" in log
    assert trial_states(db) == after


@pytest.mark.parametrize("failure", [RuntimeError("out of memory"), ValueError("bad batch")])
def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path: Path, monkeypatch, failure) -> None:
    import pmtiqa.tuning.tune
    from tests.builders.training import tiny_data, tiny_params

    real_objective = pmtiqa.tuning.tune.objective

    def objective(trial, *args):
        if trial.number == 1:
            raise failure
        return real_objective(trial, *args)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pmtiqa.tuning.tune, "load_device_data", lambda *args: tiny_data(n=48))
    monkeypatch.setattr(pmtiqa.tuning.tune, "objective", objective)
    params = tiny_params()
    params = dataclasses.replace(params, tune=dataclasses.replace(params.tune, n_trials=3, epochs=2, batch_size=[4, 8]))
    result = pmtiqa.tuning.tune.tune(params, DatasetFiles("synthetic"), {})
    assert result["states"]["fail"] == 1 and result["states"]["complete"] == 2
    study = optuna.load_study(study_name=result["study"], storage=f"sqlite:///{tmp_path}/runs/tune/synthetic/study.db")
    assert study.trials[1].state == optuna.trial.TrialState.FAIL


def test_a_range_of_one_value_is_not_searched() -> None:
    """FixedTrial refuses a name it was not given: only the ranges of more than one value are asked for."""
    import pmtiqa.tuning.tune
    from tests.builders.training import tiny_params

    params = tiny_params(weight_decay=1e-5)
    trial = optuna.trial.FixedTrial({"lr": 2e-4, "batch_size": 12, "gamma": 2.0})
    assert pmtiqa.tuning.tune.suggest(trial, params) == {"lr": 2e-4, "batch_size": 12, "gamma": 2.0}
    wide = dataclasses.replace(params, tune=dataclasses.replace(params.tune, weight_decay=[1e-5, 1e-3]))
    with pytest.raises(ValueError, match="weight_decay"):
        pmtiqa.tuning.tune.suggest(trial, wide)


def tune_on(tmp_path: Path, monkeypatch, data, n_trials: int = 2, epochs: int = 2) -> tuple[dict, optuna.Study]:
    import pmtiqa.tuning.tune
    from tests.builders.training import tiny_params

    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pmtiqa.tuning.tune, "load_device_data", lambda *args: data)
    params = tiny_params()
    params = dataclasses.replace(params, tune=dataclasses.replace(params.tune, n_trials=n_trials, epochs=epochs,
                                                                  batch_size=[4, 8]))
    result = pmtiqa.tuning.tune.tune(params, DatasetFiles("synthetic"), {})
    return result, optuna.load_study(study_name=result["study"], storage=f"sqlite:///{tmp_path}/runs/tune/synthetic/study.db")


def test_tuning_never_reads_a_test_image(tmp_path: Path, monkeypatch) -> None:
    """Poisoning the test part (noise for pixels, NaN for published scores, the worst class) changes
    no trial: its values are those of the clean data, bit for bit."""
    import torch

    from tests.builders.training import tiny_data

    clean = tiny_data(n=48)
    _, clean_study = tune_on(tmp_path / "clean", monkeypatch, clean)
    poisoned = tiny_data(n=48)
    test = poisoned.splits[0]["test"]
    poisoned.images[test] = torch.randint(0, 256, poisoned.images[test].shape, dtype=torch.uint8)
    poisoned.mos[test.numpy()] = float("nan")
    poisoned.score[test], poisoned.level[test] = 0.0, 0
    _, poisoned_study = tune_on(tmp_path / "poisoned", monkeypatch, poisoned)
    values = [t.value for t in clean_study.trials]
    assert all(v is not None and v > -1 for v in values)
    assert [t.value for t in poisoned_study.trials] == values


def test_a_trial_runs_the_real_schedule_on_a_held_out_part_of_train(tmp_path: Path, monkeypatch) -> None:
    """Epoch t of a trial has the task weights and rate of epoch t of a train.epochs-long run, and
    its validation images are a part of the split's train part."""
    import pmtiqa.tuning.tune
    from pmtiqa.method.schedule import learning_rate, task_weights
    from tests.builders.training import tiny_data

    data = tiny_data(n=48)
    rows, scored = [], []
    real_epoch, real_predict = pmtiqa.tuning.tune.Trainer.train_epoch, pmtiqa.tuning.tune.Trainer.predict
    monkeypatch.setattr(pmtiqa.tuning.tune.Trainer, "train_epoch", lambda self, ids, **k: rows.append(real_epoch(self, ids, **k))
                        or rows[-1])
    monkeypatch.setattr(pmtiqa.tuning.tune.Trainer, "predict", lambda self, ids: scored.append(ids.tolist()) or real_predict(self, ids))
    result, study = tune_on(tmp_path, monkeypatch, data, n_trials=1, epochs=0)  # 0: the whole run, 3 epochs
    t = study.trials[0]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [(r["lambda1"], r["lambda2"]) for r in rows] == [task_weights("progressive", e, 3) for e in range(3)]
    assert [r["lr"] for r in rows] == [learning_rate(t.params["lr"], e, 6, 0.1) for e in range(3)]
    assert len(scored) == 2  # epoch 1 trains classification alone: nothing to score
    train = set(data.splits[0]["train"].tolist())
    assert set(scored[0]) < train and not set(scored[0]) & set(data.splits[0]["test"].tolist())
    attrs = study.user_attrs
    assert attrs["settings"]["dataset"] == "synthetic" and attrs["search"]["variant"] == "ms_pmt"
    assert (attrs["search"]["lr"], attrs["search"]["batch_size"]) == ([1e-4, 1e-3], [4, 8])
    assert attrs["settings"]["train"]["lr"] is None  # searched: no fixed value
    # readable in optuna-dashboard: the objective named, no list of image ids, no attribute past 1 KB
    assert study.metric_names == ["val SRCC"]
    assert attrs["split images"] == {part: len(ids) for part, ids in data.splits[0].items()}
    assert all(len(json.dumps(value)) < 1000 for value in attrs.values()), {k: len(json.dumps(v)) for k, v in attrs.items()}
    assert result["study"] == f"synthetic-ms_pmt-lr0.0001..0.001-batch_size4..8-gamma0.01..100-{attrs['identity'][:8]}"


def test_a_study_is_reused_only_for_an_equal_search(tmp_path: Path, monkeypatch) -> None:
    """Another setting that the search does not vary (here train.epochs, through tune.epochs 0), or
    other code, is another study in the same file, beside the first; the first search again finds its
    own trials."""
    import pmtiqa.tuning.tune
    from tests.builders.training import tiny_data, tiny_params

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pmtiqa.tuning.tune, "load_device_data", lambda *args: tiny_data(n=48))

    def tune(epochs: int, n_trials: int, code: str = "1") -> dict:
        params = tiny_params(epochs=epochs)
        params = dataclasses.replace(params, tune=dataclasses.replace(params.tune, n_trials=n_trials, epochs=0,
                                                                      batch_size=[4, 8]))
        return pmtiqa.tuning.tune.tune(params, DatasetFiles("synthetic"), {"modules": {"pmtiqa.method.losses": code}})

    first = tune(2, 1)
    other = tune(3, 1)
    base = first["study"].rsplit("-", 1)[0]  # the searched ranges, then the identity's digest
    assert other["study"].rsplit("-", 1)[0] == base and other["study"] != first["study"]
    again = tune(2, 2)  # one more trial for the first search: its first trial is kept
    assert again["study"] == first["study"] and again["n_trials"] == 2
    assert tune(2, 1, code="2")["study"] not in (first["study"], other["study"])  # other code: another search
    assert len(optuna.get_all_study_names(f"sqlite:///{tmp_path}/runs/tune/synthetic/study.db")) == 3
    # a study an older pmtiqa recorded, with the identity itself where the digest is now: its trials go on
    storage = f"sqlite:///{tmp_path}/runs/tune/synthetic/study.db"
    params = tiny_params(epochs=2)
    params = dataclasses.replace(params, tune=dataclasses.replace(params.tune, epochs=0, batch_size=[4, 8]))
    _, identity = pmtiqa.tuning.tune.study_identity(params, tiny_data(n=48), {"modules": {"pmtiqa.method.losses": "1"}})
    optuna.load_study(study_name=first["study"], storage=storage).set_user_attr("identity", identity)
    resumed = tune(2, 3)
    assert resumed["study"] == first["study"] and resumed["n_trials"] == 3


def _open_at_once(url: str, identity: dict, barrier, names) -> None:
    import pmtiqa.tuning.tune
    from pmtiqa.tuning.storage import open_storage

    storage = open_storage(url, 60, "params.yaml")
    barrier.wait()
    names.put(pmtiqa.tuning.tune.open_study(storage, "synthetic-ms_pmt-lr0.0001..0.001", identity,
                                            optuna.pruners.NopPruner()).study_name)


def test_two_searches_starting_at_once_keep_studies_of_their_own(tmp_path: Path) -> None:
    """Under one name (their searched ranges), two searches of other settings, started together against
    one storage (two projects, or queued experiments, sharing a database): neither sees the other's
    study yet, and a study named by the ranges alone would take both searches' trials."""
    import multiprocessing

    from pmtiqa.tuning.storage import open_storage

    url = f"sqlite:///{tmp_path}/shared.db"
    open_storage(url, 60, "params.yaml")
    identities = [{"tune": {"lr": [1e-4, 1e-3]}, "settings": {"train": {"epochs": epochs}}, "code": {},
                   "inputs": {"parts": {"train": [0, 1], "val": [2]}}} for epochs in (2, 3)]
    for _ in range(3):
        ctx = multiprocessing.get_context("spawn")
        barrier, names = ctx.Barrier(2), ctx.Queue()
        workers = [ctx.Process(target=_open_at_once, args=(url, identity, barrier, names)) for identity in identities]
        for w in workers:
            w.start()
        found = {names.get(timeout=60) for _ in workers}
        for w in workers:
            w.join()
        assert len(found) == 2, found
    assert len(optuna.get_all_study_names(url)) == 2  # and each search found its own again


def test_a_train_part_that_cannot_be_parted_is_refused_before_anything_is_written(tmp_path: Path, monkeypatch) -> None:
    import pmtiqa.tuning.tune
    from pmtiqa.core.errors import UserError
    from tests.builders.training import tiny_data, tiny_params

    data = tiny_data(n=48)
    data.groups = np.zeros(48, dtype=int).astype(str)  # one group: nothing to hold out
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pmtiqa.tuning.tune, "load_device_data", lambda *args: data)
    with pytest.raises(UserError, match=r"^tune.val_fraction: split 0's train part cannot be parted"):
        pmtiqa.tuning.tune.tune(tiny_params(), DatasetFiles("synthetic"), {})
    assert not Path("runs").exists()


def test_a_held_out_part_too_small_for_an_srcc_is_refused(tmp_path: Path, monkeypatch) -> None:
    """Every trial's val SRCC would be undefined, scored -1, and best.json an arbitrary trial's."""
    import pmtiqa.tuning.tune
    from pmtiqa.core.errors import UserError
    from tests.builders.training import tiny_data, tiny_params

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pmtiqa.tuning.tune, "load_device_data", lambda *args: tiny_data(n=48))
    params = tiny_params()
    params = dataclasses.replace(params, tune=dataclasses.replace(params.tune, val_fraction=0.01))
    with pytest.raises(UserError, match=r"^tune.val_fraction: 0.01 holds out 1 image\(s\) of split 0's train part"):
        pmtiqa.tuning.tune.tune(params, DatasetFiles("synthetic"), {})
    assert not Path("runs").exists()
