"""Several `pmtiqa tune` workers on one study (a storage they share, docs/cluster.md): which trials
count towards tune.n_trials, which still run, and which belong to a worker that died.

A worker starts a trial only while the trials finished and running elsewhere leave room under
tune.n_trials, and otherwise waits for them, so that all stop together at n_trials. A trial's place
among the others (place_of) seeds its sampling, so that workers draw values of their own; two
workers that start trials at the same moment may both aim at the last place: the later trial sees
the earlier one and steps aside (Surplus), failed and not counted. A killed worker leaves its trial
RUNNING. Each trial records its worker (host and pid), so a worker on the same host finds it dead at
once; a worker elsewhere finds it by its heartbeat, silent for twice its interval. Either marks it
failed, which frees its place for the next trial.
"""
from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import optuna

TrialState = optuna.trial.TrialState
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
FAILED_BY = "failed_by"  # the user attribute holding the error a trial failed on
WORKER = "worker"  # the user attribute naming the trial's worker: {"host": ..., "pid": ...}
SURPLUS = "surplus"  # the user attribute of a trial that stepped aside


class Surplus(Exception):
    """The trial was started when the trials before it already fill tune.n_trials."""


def counts(trial: optuna.trial.FrozenTrial) -> bool:
    """Does the finished trial count towards tune.n_trials? Complete, pruned, and failed by an error
    of its own; not one whose worker was killed, or that stepped aside."""
    return trial.state in FINISHED and (trial.state != TrialState.FAIL or FAILED_BY in trial.user_attrs)


def this_host() -> str | None:
    """Where a pid names one process: the host, its boot and the pid namespace (a container has its
    own). None where /proc does not say, and no worker is judged by its pid."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{socket.gethostname()} {boot} {os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def record_worker(trial: optuna.Trial) -> None:
    trial.set_user_attr(WORKER, {"host": this_host(), "pid": os.getpid()})


def worker_is_dead(trial: optuna.trial.FrozenTrial, host: str | None) -> bool:
    """Is the trial's worker a process of this host that no longer exists?"""
    worker = trial.user_attrs.get(WORKER) or {}
    if host is None or worker.get("host") != host:
        return False
    try:
        os.kill(worker["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: alive
        pass
    return False


def fail_dead_trials(study: optuna.Study, watched: set[int]) -> list[int]:
    """Mark failed the running trials whose worker died, found by its pid on this host or by its
    heartbeat anywhere; the numbers of the trials that died since the last call, each named once.
    Optuna also fails a stale trial itself when this worker starts its next one, so a death is
    told by its trace, not by who marked it: a trial seen running (``watched``, kept by the caller
    between calls) that ended failed with no error of its own and not stepping aside."""
    watched |= {t.number for t in running(study)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    host = this_host()
    for trial in running(study):
        if worker_is_dead(trial, host):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    ended = [t for t in study.get_trials(deepcopy=False) if t.number in watched and t.state != TrialState.RUNNING]
    watched -= {t.number for t in ended}
    return [t.number for t in ended
            if t.state == TrialState.FAIL and FAILED_BY not in t.user_attrs and SURPLUS not in t.user_attrs]


def running(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if counts(t)]


def place_of(trial: optuna.Trial) -> int:
    """The trial's place in the study: how many trials before it count or still run. A worker alone
    gives its k-th counted trial place k, whatever kills came between; of two workers that start
    trials at the same moment, the later sees the earlier running, and takes the next place."""
    return sum(1 for t in trial.study.get_trials(deepcopy=False)
               if t.number < trial.number and (counts(t) or t.state == TrialState.RUNNING))


def step_aside(trial: optuna.Trial, n_trials: int) -> None:
    """End a trial whose place is past n_trials: failed, marked, not counted."""
    trial.set_user_attr(SURPLUS, True)
    raise Surplus(f"tune.n_trials ({n_trials}) is filled by the trials started before this one "
                  f"(another worker started one at the same moment): not run, not counted")
