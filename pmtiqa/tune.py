"""`pmtiqa tune`: Optuna search of lr, batch size and gamma (and weight decay, given a range) on ONE
split's train and validation parts. Test images are never loaded into a trial's evaluation.

The study lives in SQLite (runs/tune/<ds>/study.db), so a killed study resumes from its trials and a
rerun with the same n_trials does no new work; the same code accepts any RDB URL, which is how many
workers tune together. Trials are pruned by a median rule on the per-epoch validation SRCC; a
failing trial is recorded as failed and the study goes on. Note the subtler overlap the report
states: split k's train part holds test images of other splits (tuning once per dataset on one
split is the common practice).
"""
from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np
import optuna

from pmtiqa import paths
from pmtiqa.atomic import write_json
from pmtiqa.config import Params, fingerprint
from pmtiqa.metrics import srcc
from pmtiqa.runtime import resolve_runtime
from pmtiqa.scores import to_native
from pmtiqa.train import TUNABLE, Settings, Trainer, TrainingDiverged, apply_tuned, load_device_data

log = logging.getLogger(__name__)

HEARTBEAT_S = 60  # a trial silent for twice this long belonged to a killed worker
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def suggest(trial: optuna.Trial, params: Params) -> dict:
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
    return [name for name in TUNABLE if getattr(u, name)[0] != getattr(u, name)[1]]


def objective(trial: optuna.Trial, params: Params, dataset: str, data, runtime) -> float:
    """Train the tuned variant for tune.epochs on the train part; the best validation SRCC over epochs."""
    u = params.tune
    values = suggest(trial, params)
    train, loss = apply_tuned(dataclasses.replace(params.train, epochs=u.epochs), params.loss, values)
    settings = Settings(dataset, u.variant, u.split, params.model, loss, train, data.data_ids[u.split])
    trainer = Trainer(settings, data, runtime)
    ids = data.splits[u.split]
    val_mos = data.mos[ids["val"].cpu().numpy()]
    best = -np.inf
    for epoch in range(u.epochs):
        trainer.train_epoch(ids["train"], progress=False)
        value = srcc(to_native(trainer.predict(ids["val"]), data.bounds), val_mos)
        value = value if np.isfinite(value) else -1.0
        best = max(best, value)
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return best


def tune(params: Params, dataset: str) -> dict:
    params = params.for_dataset(dataset)
    u = params.tune
    out = paths.tune_dir(dataset)
    out.mkdir(parents=True, exist_ok=True)
    t = params.train
    runtime = resolve_runtime(t.device, t.precision, t.threads, t.compile)
    data = load_device_data(dataset, runtime.device, params.model.num_classes, t.crop_size)
    # A new search (space, budget per trial, variant, split, data or a setting it does not search) is
    # a new study in the same file.
    train_fixed, loss_fixed = apply_tuned(dataclasses.replace(t.without_runtime(), epochs=0, use_tuned=False),
                                          params.loss, dict.fromkeys(searched(u), 0))
    search = fingerprint(dataclasses.replace(u, n_trials=0), params.model, train_fixed, loss_fixed,
                         data.data_ids[u.split])
    name = f"{dataset}-{search}"
    # Heartbeats let a later run mark a killed worker's trial failed instead of running forever
    # (optuna still labels the argument experimental: its warning is not news to our users).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(f"sqlite:///{out / 'study.db'}", heartbeat_interval=HEARTBEAT_S)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=u.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    remaining = max(0, u.n_trials - done)
    log.info("study %s: %d of %d trials finished, running %d more", name, done, u.n_trials, remaining)
    if remaining:
        # The callback stops this worker once n_trials are finished by all workers of the study together.
        study.optimize(lambda trial: objective(trial, params, dataset, data, runtime), n_trials=remaining,
                       catch=(RuntimeError, TrainingDiverged, ValueError), show_progress_bar=True,
                       callbacks=[optuna.study.MaxTrialsCallback(u.n_trials, states=FINISHED)])
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError(f"{out / 'study.db'}: study {name} has no completed trial; see the log of failed trials")
    best = study.best_trial
    states = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,))) for s in FINISHED}
    result = {
        "params": best.params,
        "value": best.value,
        "metric": f"best validation SRCC over {u.epochs} epochs of {u.variant} on split {u.split} (never test)",
        "trial": best.number,
        "study": name,
        "n_trials": sum(states.values()),
        "states": states,
    }
    write_json(out / "best.json", result)
    log.info("best trial %d: val SRCC %.4f with %s -> %s", best.number, best.value, best.params, out / "best.json")
    return result
