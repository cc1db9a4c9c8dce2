"""params.yaml read and checked as a whole, before any work starts.

Each section's own checks sit beside its fields (config.py); here are the checks across sections
and datasets: the selection, the custom datasets, the overrides' names, and every dataset's view of
the params (its overrides and protocol applied), where a value wrong only beside an override is
blamed on the key that set it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pmtiqa.config.schema import CUSTOM_NAME, KNOWN_DATASETS, OVERRIDABLE, SECTIONS, Params, image_size
from pmtiqa.method.schedule import trains_regression
from pmtiqa.config.fields import Blame, build, fail, read_yaml
from pmtiqa.method.variants import VARIANTS


def load_params(path: str | Path = "params.yaml") -> Params:
    return params_from_dict(read_yaml(Path(path)), source=str(path))


def params_from_dict(raw: Any, source: str = "<params>") -> Params:
    params = dataclasses.replace(build(Params, raw, source, ""), source=source)
    _check(params, Blame(source))
    _check_override_names(params)
    # A dataset's stages see the sections with its overrides applied: check that view as well.
    for dataset in sorted({*params.datasets, *params.overrides}):
        blame = Blame(source, dataset, _overridden_keys(params.overrides.get(dataset, {})))
        seen = params.for_dataset(dataset)
        _check(seen, blame)
        # the crops must fit a dataset that runs, or whose own overrides set its size or crops; a shared
        # change need not fit a dataset that is neither
        if dataset in params.datasets or blame.overridden & {"augment.size", "train.crop_size"}:
            _check_crop_fits(seen, dataset, blame)
    return params


def _check_override_names(params: Params) -> None:
    for dataset, sections in params.overrides.items():
        if dataset not in params.known_datasets:
            fail(params.source, f"overrides.{dataset}", f"unknown dataset (known: {', '.join(params.known_datasets)})")
        if not isinstance(sections, dict):
            fail(params.source, f"overrides.{dataset}", f"expected a mapping of sections, got {sections!r}")
        for name in sections:
            if name not in OVERRIDABLE:
                fail(params.source, f"overrides.{dataset}.{name}", f"not a section that can be overridden "
                     f"(can: {', '.join(OVERRIDABLE)})")


def _overridden_keys(sections: dict[str, Any]) -> frozenset[str]:
    """The dotted keys that a dataset's overrides set: {"train.epochs", "augment.size", ...}."""
    return frozenset(f"{name}.{key}" for name, values in sections.items() if isinstance(values, dict)
                     for key in values)


def _check(p: Params, blame: Blame) -> None:
    """Every setting of p (the params as read, or a dataset's view of them) a value it may take."""
    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            blame(key, message)

    need(len(p.datasets) > 0, "datasets", "empty: list the datasets to run")
    need(len(p.variants) > 0, "variants", "empty: list the variants to train")
    for i, name in enumerate(p.datasets):
        need(name in p.known_datasets, f"datasets[{i}]",
             f"unknown dataset {name!r} (known: {', '.join(p.known_datasets)}; custom_datasets declares more)")
        need(name not in p.datasets[:i], f"datasets[{i}]", f"{name} is listed twice")
    for i, name in enumerate(p.variants):
        need(name in VARIANTS, f"variants[{i}]", f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")
        need(name not in p.variants[:i], f"variants[{i}]", f"{name} is listed twice")
    for name in SECTIONS:
        getattr(p, name).check(need, name)
    for i, name in enumerate(p.cross.datasets):
        need(name in p.datasets, f"cross.datasets[{i}]", f"{name} is not among datasets (the graph prepares only those)")
    for i, name in enumerate(p.cross.variants):  # those not among variants have no models: skipped
        need(name in VARIANTS, f"cross.variants[{i}]", f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")
    for name in p.download.sources:
        need(name in p.known_datasets, f"download.sources.{name}", "unknown dataset")
    for name, spec in p.custom_datasets.items():
        key = f"custom_datasets.{name}"
        need(CUSTOM_NAME.fullmatch(name) is not None, key, "a name of lower-case letters, digits and _, "
             "starting with a letter (it names folders, stages and jobs)")
        need(name not in KNOWN_DATASETS, key, f"{name} is a built-in dataset: choose another name")
        need(name != "cross", key, "cross names the cross-dataset results (metrics/cross/): choose another name")
        spec.check(need, key)
    t, u = p.train, p.tune
    need(u.epochs <= t.epochs, "tune.epochs", f"must lie in 0..train.epochs ({t.epochs}); 0 = all of them")
    need(trains_regression(VARIANTS[u.variant].schedule, u.epochs or t.epochs, t.epochs), "tune.epochs",
         f"{u.epochs} epoch(s) of {u.variant} never train its regression head (lambda1 is 0 throughout); "
         f"let trials run longer (0 = train.epochs)")
    need(u.split < p.split.n_splits, "tune.split", f"must name a split in 0..{p.split.n_splits - 1}")


def _check_crop_fits(p: Params, dataset: str, blame: Blame) -> None:
    """The dataset's training crops fit inside its resized images (own-size ones are checked by train)."""
    size = image_size(p, dataset)
    if size is not None and min(size) < p.train.crop_size:
        blame("augment.size", f"a train.crop_size of {p.train.crop_size} does not fit in {dataset}'s {list(size)} "
                              f"images", "train.crop_size")
