"""Several tuning workers on one study, without a database server: which trials count, which step
aside, which belong to a dead worker; and where a study is kept (runtime.tune_storage), with one
line for a storage that cannot be opened. tests/workflow/test_cluster.py runs workers on PostgreSQL."""
import os
import sqlite3
import subprocess
import sys

import optuna
import pytest

from pmtiqa.config.load import params_from_dict
from pmtiqa.core.errors import UserError
from pmtiqa.tuning.storage import open_storage, storage_failures, storage_url
from pmtiqa.tuning.workers import FAILED_BY, WORKER, counts, fail_dead_trials, place_of, running, this_host

MINIMAL = {"datasets": ["bid"], "variants": ["ms_pmt"]}


def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction="maximize")


def test_trials_that_count_towards_n_trials():
    s = study()
    s.tell(s.ask(), 1.0)
    s.tell(s.ask(), state=optuna.trial.TrialState.PRUNED)
    own_error = s.ask()
    own_error.set_user_attr(FAILED_BY, "RuntimeError('out of memory')")
    s.tell(own_error, state=optuna.trial.TrialState.FAIL)
    s.tell(s.ask(), state=optuna.trial.TrialState.FAIL)  # a killed worker's: its place is free again
    s.ask()  # running
    assert [counts(t) for t in s.trials] == [True, True, True, False, False]


def test_a_trials_place_counts_the_trials_before_it_that_count_or_run():
    s = study()
    s.tell(s.ask(), 1.0)
    s.tell(s.ask(), state=optuna.trial.TrialState.FAIL)  # killed: its place is free again
    s.ask()  # running in another worker
    late = s.ask()
    s.ask()  # after it
    assert place_of(late) == 2


def test_a_dead_workers_trial_on_this_host_is_failed_at_once():
    s = study()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    workers = [{"host": this_host(), "pid": int(gone.stdout)},  # ended: its trial is failed
               {"host": this_host(), "pid": os.getpid()},  # alive
               {"host": "elsewhere", "pid": int(gone.stdout)}]  # another host's pids say nothing here
    for worker in workers:
        s.ask().set_user_attr(WORKER, worker)
    assert fail_dead_trials(s, set()) == [0]
    assert [t.number for t in running(s)] == [1, 2]


def test_a_death_is_named_once_whoever_marked_the_trial_failed():
    """Optuna fails a stale trial itself when a worker starts its next one: the trial seen running
    before is still named, once; a trial that failed on its own error or stepped aside is not."""
    s, watched = study(), set()
    trials = [s.ask() for _ in range(3)]
    for trial in trials:
        trial.set_user_attr(WORKER, {"host": this_host(), "pid": os.getpid()})
    assert fail_dead_trials(s, watched) == []
    s.tell(0, state=optuna.trial.TrialState.FAIL)  # as optuna's own stale-trial check leaves it
    trials[1].set_user_attr(FAILED_BY, "RuntimeError('out of memory')")
    s.tell(1, state=optuna.trial.TrialState.FAIL)
    assert fail_dead_trials(s, watched) == [0]
    assert fail_dead_trials(s, watched) == []
    assert watched == {2}


def test_storage_is_an_sqlalchemy_url_with_the_dataset_in_it(tmp_path):
    default = params_from_dict(MINIMAL).runtime.tune_storage
    assert storage_url(default, "livec") == "sqlite:///runs/tune/livec/study.db"
    url = storage_url(f"sqlite:///{tmp_path}/{{dataset}}/studies.db", "livec")
    open_storage(url, 10, "p.yaml")
    assert (tmp_path / "livec" / "studies.db").is_file()


@pytest.mark.parametrize("url, message", [
    ("runs/study.db", "expected an SQLAlchemy URL"),
    ("sqlite:///{name}.db", "unknown placeholder {name}"),
    ("sqlite:///{dataset.db", "a brace that is not {dataset}"),
])
def test_a_bad_storage_url_is_named_in_params(url, message):
    with pytest.raises(UserError, match=f"p.yaml: runtime.tune_storage: {message}"):
        params_from_dict({**MINIMAL, "runtime": {"tune_storage": url}}, source="p.yaml")


@pytest.mark.parametrize("url, message", [
    ("mysql://pmtiqa:secret@127.0.0.1:1/db", "mysql needs the MySQLdb module, which is not installed"),
    ("nosuchdb://pmtiqa:secret@127.0.0.1/db", "Can't load plugin"),
    # refused: no server on port 1 (or, without the cluster extra, its driver missing)
    ("postgresql://pmtiqa:secret@127.0.0.1:1/db", "cannot open the study storage|pmtiqa\\[cluster\\]"),
])
def test_a_storage_that_cannot_be_opened_stops_with_one_line(url, message):
    with pytest.raises(UserError, match=message) as err:
        open_storage(url, 10, "p.yaml")
    text = str(err.value)
    assert text.startswith("p.yaml: runtime.tune_storage: ") and "secret" not in text and "\n" not in text


def another_optuna_s_tables(tmp_path) -> str:
    """A study file whose tables an optuna of another version set up."""
    open_storage(f"sqlite:///{tmp_path}/old.db", 10, "p.yaml")
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("update alembic_version set version_num='v1.3.0.a'")
    return f"sqlite:///{tmp_path}/old.db"


# (case, the URL, what the one line says): each refused before a trial runs, the password never shown
STORAGES = [
    ("a port that is not a number", lambda tmp: "postgresql://pmtiqa:secret@db.lab:fivefour/studies",
     "postgresql://pmtiqa:***@db.lab:fivefour/studies: its host and port cannot be read: a port is a number"),
    ("a password holding a raw @", lambda tmp: "postgresql://pmtiqa:sec@ret@db.lab/studies",
     ("postgresql://pmtiqa:***@db.lab/studies: holds '@' more than once before the host: write an '@' of the "
      "user name or password as %40")),
    ("an IPv6 host without its closing bracket", lambda tmp: "postgresql://pmtiqa:secret@[::1:5432/studies",
     "an IPv6 address goes in brackets ([::1]:5432)"),
    ("a malformed URL", lambda tmp: "postgresql://pmtiqa:sec ret@@db.lab/studies",
     "postgresql://pmtiqa:***@"),
    ("SQLite in memory", lambda tmp: "sqlite://", "an SQLite database in memory keeps no study"),
    ("SQLite in memory, named", lambda tmp: "sqlite:///:memory:", "an SQLite database in memory keeps no study"),
    ("tables of another optuna", another_optuna_s_tables, "no longer compatible with the table schema"),
]


@pytest.mark.parametrize("case, make, says", STORAGES, ids=[case[0] for case in STORAGES])
def test_a_storage_that_cannot_hold_the_study_is_one_line(tmp_path, case, make, says):
    with pytest.raises(UserError) as err:
        open_storage(make(tmp_path), 10, "p.yaml")
    text = str(err.value)
    assert text.startswith("p.yaml: runtime.tune_storage: ") and says in text, text
    assert "secret" not in text and "sec ret" not in text and "\n" not in text


def test_a_read_only_study_file_is_one_line_when_the_study_is_written(tmp_path):
    open_storage(f"sqlite:///{tmp_path}/study.db", 10, "p.yaml")
    url = f"sqlite:///file:{tmp_path}/study.db?mode=ro&uri=true"
    storage = open_storage(url, 10, "p.yaml")  # its tables exist: reading them works
    with pytest.raises(UserError) as err, storage_failures(url, "p.yaml"):
        optuna.create_study(storage=storage, study_name="s")
    assert str(err.value).startswith(f"p.yaml: runtime.tune_storage: {url}: the study storage failed: ")
    assert "readonly database" in str(err.value) and "\n" not in str(err.value)
