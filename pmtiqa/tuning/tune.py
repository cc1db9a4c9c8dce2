"""`pmtiqa tune`: Optuna search of lr, batch size and gamma (and weight decay, given a range) inside
the train part of ONE split: a seeded share of its groups (tune.val_fraction) scores the trials, the
rest trains them, and the test part is never read. A trial runs on the real run's schedule: its
epoch t has the task weights and learning rate of epoch t of a train.epochs-long run, and it runs
that whole length unless tune.epochs stops it sooner; the median pruner ends the poor ones early.

The study lives in runtime.tune_storage (SQLite in runs/tune/<ds>/study.db by default), so a killed
study resumes from its trials and a rerun with the same n_trials does no new work; any number of
workers started on a storage they share (PostgreSQL) run one study together (workers.py).
Trials are pruned by a median rule on the per-epoch validation SRCC; a failing trial is recorded as
failed and the study goes on. Note the subtler overlap the report states: split k's train part holds
test images of other splits (tuning once per dataset on one split is the common practice).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import warnings

import numpy as np
import optuna
import torch

from pmtiqa.compute.device_data import load_device_data
from pmtiqa.compute.runtime import resolve_runtime
from pmtiqa.config.params import DatasetParams
from pmtiqa.config.run_settings import Settings, apply_tuned
from pmtiqa.config.sections import TUNABLE_SETTINGS
from pmtiqa.core.atomic import write_json
from pmtiqa.core.errors import UserError
from pmtiqa.core.paths import DatasetFiles
from pmtiqa.data.splits import hold_out
from pmtiqa.method.metrics import srcc
from pmtiqa.method.score_scales import to_published
from pmtiqa.training.trainer import Trainer, TrainingDiverged
from pmtiqa.tuning.storage import open_storage, shown, storage_failures, storage_url
from pmtiqa.tuning.workers import (FAILED_BY, FINISHED, Surplus, counted, fail_dead_trials, place_of, record_worker,
                                   running, step_aside)

log = logging.getLogger(__name__)

OBJECTIVE = "val SRCC"  # the value a trial returns, as optuna-dashboard names it

HEARTBEAT_S = 10  # a trial silent for twice this long belonged to a killed worker: it is marked failed
CAUGHT = (RuntimeError, TrainingDiverged, ValueError)  # a trial failing so is recorded, and the study goes on


def suggest(trial: optuna.Trial, params: DatasetParams) -> dict:
    """The trial's values of the searched settings. A range of one value is not searched: the train
    or loss setting applies, and best.json leaves it out (so `pmtiqa train` keeps it too)."""
    values = {}
    for name in searched(params.tune):
        low, high = getattr(params.tune, name)
        values[name] = (trial.suggest_int(name, low, high) if name == "batch_size"
                        else trial.suggest_float(name, low, high, log=True))
    return values


def searched(u) -> list[str]:
    """The settings whose tune range holds more than one value."""
    return [name for name in TUNABLE_SETTINGS if getattr(u, name)[0] != getattr(u, name)[1]]


def trial_parts(params: DatasetParams, data) -> tuple:
    """(train, val) id tensors of the trials: the tuned split's train part, parted by group."""
    u = params.tune
    train = data.splits[u.split]["train"]
    groups = data.groups if data.groups is not None else np.arange(len(data.names))
    try:
        kept, held = hold_out(train.cpu().numpy(), groups, u.val_fraction, u.seed)
    except ValueError as err:
        raise UserError(f"tune.val_fraction: split {u.split}'s train part cannot be parted ({err}); use a larger "
                        f"split.subset") from None
    scores = data.score[torch.as_tensor(held, device=data.score.device)].cpu().numpy()
    if len(held) < 3 or len(np.unique(scores)) < 2:  # every trial's val SRCC undefined: best.json arbitrary
        raise UserError(f"tune.val_fraction: {u.val_fraction:g} holds out {len(held)} image(s) of split {u.split}'s "
                        f"train part, of {len(np.unique(scores))} different score(s); an SRCC needs at least 3 "
                        f"images of two different scores: raise tune.val_fraction")
    return (torch.as_tensor(kept, device=train.device), torch.as_tensor(held, device=train.device))


def objective(trial: optuna.Trial, params: DatasetParams, data, runtime, parts) -> float:
    """Train the tuned variant on the trials' train part; the best validation SRCC over the epochs
    whose regression head had weight (a progressive first epoch's scores mean nothing)."""
    u = params.tune
    train, loss = apply_tuned(params.train, params.loss, suggest(trial, params))
    settings = Settings(params.dataset, u.variant, u.split, params.model, loss, train, data.inputs[u.split])
    trainer = Trainer(settings, data, runtime)
    train_ids, val_ids = parts
    val_mos = data.mos[val_ids.cpu().numpy()]
    best = -np.inf
    for epoch in range(u.epochs or train.epochs):
        row = trainer.train_epoch(train_ids, progress=False)
        if row["lambda1"] == 0:
            continue
        value = srcc(to_published(trainer.predict(val_ids), data.bounds), val_mos)
        value = value if np.isfinite(value) else -1.0
        best = max(best, value)
        trial.report(value, epoch + 1)  # the 1-based epoch, as every file says it
        if trial.should_prune():
            raise optuna.TrialPruned()
    return best


def study_identity(params: DatasetParams, data, code: dict) -> tuple[str, dict]:
    """(prefix, identity) of the study. The identity is everything that decides the search, as plain
    values: the tune section (but n_trials, which a rerun may raise), the settings it does not search,
    the inputs of the tuned split and the tune stage's code; the prefix of its name says what it
    searches (open_study ends the name with the identity's digest)."""
    u = params.tune
    ranges = {name: getattr(u, name) for name in searched(u)}
    train, loss = apply_tuned(params.train, params.loss, dict.fromkeys(ranges))  # searched: None
    fixed = Settings(params.dataset, u.variant, u.split, params.model, loss, train, data.inputs[u.split],
                     code).identity()
    # n_trials may be raised by a rerun; epochs 0 means all of train.epochs, the same search as their number
    search = {**{k: v for k, v in dataclasses.asdict(u).items() if k != "n_trials"}, "epochs": u.epochs or train.epochs}
    shown = "-".join(f"{name}{low:g}..{high:g}" for name, (low, high) in ranges.items())
    return f"{params.dataset}-{u.variant}-{shown}", {"tune": search, **fixed}


def open_study(storage, prefix: str, identity: dict, pruner) -> optuna.Study:
    """The study of this search: the one in the storage whose recorded identity is equal, else a new
    one named ``prefix`` and the first 8 characters of the identity's digest. Workers of one search
    starting together thus create one study, and two searches of one prefix (their searched ranges)
    two, however close together they start. Nothing is deleted: the trials of an earlier search stay
    in the storage. A study recorded by an older pmtiqa (named ``prefix`` alone, or ``prefix-2`` ...;
    its identity whole, not a digest) is found by its identity too, and its trials go on."""
    attributes = study_attributes(identity)
    studies = optuna.get_all_study_summaries(storage, include_best_trial=False)
    same = [s.study_name for s in studies if s.user_attrs.get("identity") in (attributes["identity"], identity)]
    name = same[0] if same else f"{prefix}-{attributes['identity'][:8]}"
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction="maximize",
                                pruner=pruner)
    for key, value in attributes.items():
        study.set_user_attr(key, value)
    with warnings.catch_warnings():  # experimental in Optuna, stable in its storage format
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([OBJECTIVE])
    return study


def study_attributes(identity: dict) -> dict:
    """What the study records of its identity, as optuna-dashboard shows it: the search and the settings
    it keeps fixed as values, the split's parts as their sizes, the code as a digest; the identity
    itself as a digest, which open_study compares."""
    parts = identity["inputs"]["parts"]
    return {"identity": digest(identity), "search": identity["tune"], "settings": identity["settings"],
            "split images": {part: len(ids) for part, ids in parts.items()},
            "code": digest(identity["code"])}


def digest(value: object) -> str:
    """A short digest of plain JSON values: equal exactly when the values are."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def as_worker(objective, n_trials: int, seed: int):
    """The objective, as one of several workers runs it: the trial records its worker, steps aside
    where its place is past n_trials, and records the error that fails it (a kill records nothing).
    The k-th place is sampled with a seed of its own from the trials before it, so that a study
    killed and resumed draws what an uninterrupted one draws, and workers side by side draw values
    of their own. The place is known once the trial exists; Optuna samples when the objective asks
    for a value, with the study's sampler of that moment."""
    def run(trial: optuna.Trial) -> float:
        record_worker(trial)
        place = place_of(trial)
        if place >= n_trials:
            step_aside(trial, n_trials)
        trial.study.sampler = optuna.samplers.TPESampler(seed=seed * 100_003 + place)
        try:
            return objective(trial)
        except CAUGHT as err:
            trial.set_user_attr(FAILED_BY, repr(err)[:500])
            raise
    return run


def run_trials(study: optuna.Study, objective, n_trials: int, seed: int) -> None:
    """Trials until n_trials count, in step with the study's other workers, if any. A worker with
    nothing left to start waits for the trials that run elsewhere, and starts the next trial in
    place of one whose worker died."""
    objective = as_worker(objective, n_trials, seed)
    waiting, watched = False, set()
    while True:
        for number in fail_dead_trials(study, watched):
            log.info("trial %d: its worker died (killed, or its heartbeat silent for %d s); marked failed, the next "
                     "trial takes its place", number, 2 * HEARTBEAT_S)
        done, elsewhere = len(counted(study)), len(running(study))
        if done >= n_trials:
            return
        if done + elsewhere >= n_trials:
            if not waiting:
                log.info("waiting for the trials that other workers run (%d running)", elsewhere)
            waiting = True
            time.sleep(HEARTBEAT_S)
            continue
        waiting = False
        study.optimize(objective, n_trials=1, catch=(*CAUGHT, Surplus), show_progress_bar=False)


def log_optuna_as_ours() -> None:
    """Optuna's messages (a study created, a trial finished, pruned or failed) as lines of the
    package's log, in its format: through the root logger rather than Optuna's own handler."""
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


def tune(params: DatasetParams, files: DatasetFiles, code: dict) -> dict:
    """`pmtiqa tune`: the study in files.tune, run to tune.n_trials; its best values to files.best.
    ``code``: the stage's code identity (pmtiqa/stages.py), part of the study's."""
    log_optuna_as_ours()
    dataset = files.dataset
    u = params.tune
    t, r = params.train, params.runtime
    runtime = resolve_runtime(r.device, r.precision, r.threads, r.compile, r.step)
    data = load_device_data(files, runtime.device, params.model.num_classes, t.crop_size, params.custom_datasets,
                            params.loss.levels, params.made_as)
    if u.split >= len(data.splits):
        raise UserError(f"{files.splits}: holds {len(data.splits)} splits, tune.split asks for split {u.split}; "
                        f"run `pmtiqa split --dataset {dataset}` again")
    parts = trial_parts(params, data)  # checked before anything is written
    prefix, identity = study_identity(params, data, code)
    url = storage_url(r.tune_storage, dataset)
    files.tune.mkdir(parents=True, exist_ok=True)  # the default storage's folder
    # Heartbeats let another worker, or a later run, mark a killed worker's trial failed instead of
    # leaving it running forever.
    storage = open_storage(url, HEARTBEAT_S, params.source or "params.yaml")
    # no trial is cut before an epoch at the first lowered rate (the epochs at the full rate are
    # 1..lr_step + 1, and a step of n_warmup_steps is already prunable): early epochs favour what looks good early
    with storage_failures(url, params.source or "params.yaml"):
        study = open_study(storage, prefix, identity, optuna.pruners.MedianPruner(n_startup_trials=2,
                                                                                  n_warmup_steps=t.lr_step + 2))
        name = study.study_name
        log.info("study %s in %s: %d of %d trials finished", name, shown(url), len(counted(study)), u.n_trials)
        run_trials(study, lambda trial: objective(trial, params, data, runtime, parts), u.n_trials, u.seed)
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise UserError(f"{shown(url)}: no trial of study {name} completed (each failure is in the log "
                        f"above); fix its cause, or widen the tune ranges, and run `pmtiqa tune` again")
    best = study.best_trial
    states = {s.name.lower(): sum(t.state == s for t in counted(study)) for s in FINISHED}
    result = {
        "params": best.params,
        "value": best.value,
        "metric": f"best SRCC over {u.epochs or t.epochs} epochs of {u.variant} on a held-out {u.val_fraction:g} of "
                  f"split {u.split}'s train part (never its test part)",
        "trial": best.number,
        "study": name,
        "n_trials": sum(states.values()),
        "states": states,
    }
    write_json(files.best, result)
    log.info("best trial %d: val SRCC %.4f with %s -> %s", best.number, best.value, best.params, files.best)
    return result
