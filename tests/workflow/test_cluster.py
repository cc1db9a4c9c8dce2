"""Past one process, on the services of cluster/services.sh (docs/cluster.md): a one-node SLURM
cluster runs the tiny graph of tests/workflow/test_e2e.py through sbatch, and PostgreSQL holds one tuning study that
several `pmtiqa tune` workers run together.

Skipped unless the services run: `make test-cluster` installs them, starts them, runs these tests
and stops them. What each test measures (job ids and states, trials per worker, times) is printed;
`make test-cluster` shows it.
"""
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml

from tests.builders import ROOT
from tests.builders.projects import TINY, VARIANTS, environment, make_project, metrics_of

SERVICES = ROOT / "cluster" / "services.sh"


def services() -> dict | None:
    """The variables of `cluster/services.sh env` where every service runs, else None."""
    if not SERVICES.is_file() or subprocess.run([SERVICES, "status"], capture_output=True).returncode != 0:
        return None
    lines = subprocess.run([SERVICES, "env"], capture_output=True, text=True, check=True).stdout.splitlines()
    return dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))


SERVICE_ENV = services()
pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(SERVICE_ENV is None, reason="the cluster's services do not run (make test-cluster)")]

# profiles/slurm on the test cluster. It has no GPU (every gpu request would be refused as an
# unknown gres), no accounts and no accounting database (job states from squeue), and 2 or so
# cores: each job asks for one, as many as runtime.threads computes with, so two train at once.
# --set-resources and --set-threads replace the profile's lists; memory falls back to its
# default-resources.
ON_TEST_CLUSTER = ["--workflow-profile", "slurm", "--set-resources", "tune:gpu=0", "train:gpu=0", "cross:gpu=0",
                   "--set-threads", "augment=1", "tune=1", "train=1", "cross=1", "--slurm-no-account",
                   "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5"]
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")
LOCAL_RULES = {"download", "prepare", "split", "evaluate", "report", "all"}


def cluster_project(dest: Path) -> Path:
    """tests/workflow/test_e2e.py's tiny configuration of the synthetic set, computing with one thread (runtime.threads
    and workers 1) wherever it runs, so that a SLURM job's numbers are a local run's."""
    project = make_project(dest)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params.update(datasets=["synthetic"], variants=VARIANTS)
    params["runtime"].update(device="cpu", precision="fp32", threads=1, workers=1)
    params["overrides"]["synthetic"] = copy.deepcopy(TINY)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def snakemake(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=1200)


def squeue(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    """{job id: (comment, state)}: the executor's comment names the rule; squeue lists finished jobs
    for the test cluster's MinJobAge (an hour)."""
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%k|%T|%C|%m|%M", "--jobs",
                          ",".join(job_ids)], capture_output=True, text=True, check=True).stdout
    print(out, end="")
    return {job: (comment, state) for job, comment, state, *_ in (line.split("|") for line in out.splitlines())}


@pytest.mark.timeout(1800)  # two runs of the graph, and a failing one: minutes each on a busy host
def test_slurm_runs_the_graph_through_sbatch_to_a_local_runs_metrics(tmp_path):
    env = {**environment(tmp_path), **SERVICE_ENV}
    local = cluster_project(tmp_path / "local")
    started = time.monotonic()
    result = snakemake(local, env, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    local_s = time.monotonic() - started

    on_slurm = cluster_project(tmp_path / "slurm")
    started = time.monotonic()
    result = snakemake(on_slurm, env, *ON_TEST_CLUSTER)
    slurm_s = time.monotonic() - started
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    submitted = dict(SUBMITTED.findall(log))
    print(f"\nlocal run {local_s:.0f} s, SLURM run {slurm_s:.0f} s, {len(submitted)} jobs through sbatch:")
    jobs = squeue(list(submitted))
    rules = Counter(comment.removeprefix("rule_").split("_wildcards_")[0] for comment, _ in jobs.values())
    # every job but the light ones the workflow keeps local (downloads need the network)
    assert rules == {"augment": 1, "tune": 1, "train": 2 * len(VARIANTS), "cross": 1}
    assert {state for _, state in jobs.values()} == {"COMPLETED"}
    finished = set(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", log))
    assert finished == set(rules) | LOCAL_RULES
    # each job's SLURM output where the profile puts it (slurm-logdir), kept after success
    for job, path in submitted.items():
        assert Path(path).is_file() and Path(path).is_relative_to(on_slurm / "logs" / "slurm"), path
    assert (on_slurm / "logs" / "train" / "synthetic" / "ms_pmt" / "split1.log").is_file()

    assert metrics_of(on_slurm) == metrics_of(local)
    assert (on_slurm / "metrics.json").read_text() == (local / "metrics.json").read_text()
    best = [json.loads((p / "runs/tune/synthetic/best.json").read_text()) for p in (local, on_slurm)]
    assert best[0]["params"] == best[1]["params"] and best[0]["value"] == best[1]["value"]
    print("median final SRCC on SLURM:", {v: m["summary"]["final"]["srcc"]["median"] for v, m in
                                          metrics_of(on_slurm).items()}, "equal to the local run's")

    # A job that fails on its node is reported failed, by its SLURM job id, after the profile's retry.
    broken = tmp_path / "broken"
    broken.mkdir()
    # the rules run `python -m pmtiqa`: a python first on PATH that fails just that
    (broken / "python").write_text('#!/bin/sh\nif [ "$1" = -m ] && [ "$2" = pmtiqa ]; then\n'
                                   "  echo 'pmtiqa: broken on purpose' >&2; exit 1\nfi\n"
                                   f'exec "{sys.executable}" "$@"\n')
    (broken / "python").chmod(0o755)
    failing_env = {**env, "PATH": f"{broken}{os.pathsep}{env['PATH']}"}
    result = snakemake(on_slurm, failing_env, *ON_TEST_CLUSTER, "-f", "runs/train/synthetic/baseline/split0/metrics.json")
    log = result.stdout + result.stderr
    assert result.returncode != 0
    failed = re.findall(r"SLURM-job '(\d+)' failed, SLURM status is: 'FAILED'", log)
    assert len(failed) == 2 and "Error in rule train" in log, log[-4000:]  # the job and its one retry
    print("a failing train job, and its retry:")
    assert {state for _, state in squeue(failed).values()} == {"FAILED"}
    assert "broken on purpose" in (on_slurm / "logs/train/synthetic/baseline/split0.log").read_text()


# --- tuning workers on PostgreSQL ---------------------------------------------------------------

# One `pmtiqa tune` worker on tiny in-memory data (test_tune's), on the storage given.
WORKER = """
import dataclasses, logging, sys
sys.path[:0] = [{root!r}]
logging.basicConfig(level=logging.INFO, format="%(message)s")
import pmtiqa.tuning.tune, pmtiqa.tuning.workers
from pmtiqa.core.paths import DatasetFiles
from tests.builders.training import tiny_data, tiny_params
url, n_trials, judge = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pmtiqa.tuning.tune.HEARTBEAT_S = 1  # a killed worker's trial goes stale in 2 s
if judge == "heartbeat":  # as a worker on another host, which cannot ask whether a pid lives
    pmtiqa.tuning.workers.this_host = lambda: None
pmtiqa.tuning.tune.load_device_data = lambda *args: tiny_data(n=96)
params = tiny_params()
params = dataclasses.replace(
    params, runtime=dataclasses.replace(params.runtime, tune_storage=url),
    tune=dataclasses.replace(params.tune, n_trials=n_trials, epochs=3, lr=[1e-4, 1e-2], batch_size=[4, 8]))
pmtiqa.tuning.tune.tune(params, DatasetFiles("synthetic"), {{}})
"""


@pytest.fixture
def new_database():
    """Makes databases of the test's own on the services' PostgreSQL (their URLs), dropped after."""
    import sqlalchemy

    server = SERVICE_ENV["PMTIQA_CLUSTER_POSTGRES"]
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    names = []

    def create() -> str:
        names.append(f"pmtiqa_test_{uuid.uuid4().hex[:12]}")
        with admin.connect() as con:
            con.exec_driver_sql(f"CREATE DATABASE {names[-1]}")
        return f"{server.rsplit('/', 1)[0]}/{names[-1]}"

    yield create
    with admin.connect() as con:
        for name in names:
            con.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    admin.dispose()


def worker(cwd: Path, url: str, n_trials: int, judge: str = "pids") -> subprocess.Popen:
    code = WORKER.format(root=str(ROOT))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-c", code, url, str(n_trials), judge], cwd=cwd, env=env,
                            stderr=subprocess.PIPE, text=True)


def finish(*procs: subprocess.Popen) -> tuple[list[str], list[float]]:
    """The workers' logs, and when each ended (time.monotonic)."""
    logs, ended = [""] * len(procs), [0.0] * len(procs)
    deadline = time.monotonic() + 600
    while not all(ended):
        assert time.monotonic() < deadline, "the workers did not finish"
        for i, proc in enumerate(procs):
            if not ended[i] and proc.poll() is not None:
                ended[i] = time.monotonic()
                logs[i] = proc.stderr.read()
                assert proc.returncode == 0, logs[i][-4000:]
        time.sleep(0.1)
    return logs, ended


def study_of(url: str) -> optuna.Study:
    (name,) = optuna.get_all_study_names(url)
    return optuna.load_study(study_name=name, storage=url)


def per_worker(study: optuna.Study) -> dict:
    return dict(Counter((t.user_attrs.get("worker") or {}).get("pid") for t in study.trials))


def states(study: optuna.Study) -> dict:
    return dict(Counter(t.state.name for t in study.trials))


def counted(study: optuna.Study) -> list:
    from pmtiqa.tuning.workers import counts

    return [t for t in study.trials if counts(t)]


def test_workers_on_postgresql_run_one_study_and_stop_together(tmp_path, new_database):
    n_trials = 8
    alone = new_database()
    started = time.monotonic()
    finish(worker(tmp_path / "one", alone, n_trials))
    one_s = time.monotonic() - started

    shared = new_database()
    started = time.monotonic()
    procs = [worker(tmp_path / "two", shared, n_trials) for _ in range(2)]
    _, ended = finish(*procs)
    two_s = max(ended) - started
    one, two = study_of(alone), study_of(shared)
    print(f"\n1 worker: {one_s:.1f} s, {states(one)}; 2 workers: {two_s:.1f} s, {states(two)}, trials per worker "
          f"(pid: trials) {per_worker(two)}, ended {abs(ended[0] - ended[1]):.1f} s apart")
    assert len(counted(one)) == len(counted(two)) == n_trials  # together, exactly n_trials
    assert set(per_worker(two)) == {p.pid for p in procs}  # both ran trials
    lrs = [t.params["lr"] for t in two.trials if t.params]
    assert len(set(lrs)) == len(lrs)  # each worker draws values of its own
    assert abs(ended[0] - ended[1]) < 10  # the first to run out of trials waits for the other's last
    assert (tmp_path / "two/runs/tune/synthetic/best.json").is_file()


def beating(url: str, number: int) -> bool:
    """Has trial `number` recorded a heartbeat (what tells the other worker that its worker died)?"""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as con:
            return bool(con.exec_driver_sql(
                "SELECT count(*) FROM trial_heartbeats JOIN trials USING (trial_id) WHERE trials.number = %s",
                (number,)).scalar())
    finally:
        engine.dispose()


@pytest.mark.parametrize("judge", ["pids", "heartbeat"])
def test_a_killed_workers_trial_is_marked_failed_and_replaced(tmp_path, new_database, judge):
    """SIGKILL one of two workers inside a trial: the other marks that trial failed (at once where it
    can ask whether the pid lives, on the same host; by the stale heartbeat otherwise) and runs the
    study to n_trials alone."""
    n_trials, url = 6, new_database()
    survivor, victim = worker(tmp_path, url, n_trials, judge), worker(tmp_path, url, n_trials, judge)
    deadline, killed = time.monotonic() + 300, None
    while killed is None:
        assert victim.poll() is None and time.monotonic() < deadline, "the worker ended before it could be killed"
        time.sleep(0.2)
        try:
            trials = study_of(url).trials
        except ValueError:  # no study yet
            continue
        mine = [t.number for t in trials if t.state.name == "RUNNING"
                and (t.user_attrs.get("worker") or {}).get("pid") == victim.pid and beating(url, t.number)]
        killed = mine[0] if mine else None
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    (log,), _ = finish(survivor)
    study = study_of(url)
    print(f"\n{judge}: trial {killed} killed; {states(study)}, trials per worker (pid: trials) {per_worker(study)}")
    assert study.trials[killed].state == optuna.trial.TrialState.FAIL
    assert f"trial {killed}: its worker died" in log
    assert len(counted(study)) == n_trials
