"""params.yaml read and checked as a whole, before any work starts.

Each section's own checks sit beside its fields (sections.py); here are the checks across sections
and datasets: the selection, the custom datasets, the overrides' names, and every dataset's view of
the params (its overrides and protocol applied), where a value wrong only beside an override is
blamed on the key that set it.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmtiqa.config.fields import build, fail
from pmtiqa.config.params import DatasetParams, Params
from pmtiqa.config.sections import CUSTOM_NAME, KNOWN_DATASETS, OVERRIDABLE, SECTIONS
from pmtiqa.config.yaml_file import read_yaml
from pmtiqa.method.schedule import trains_regression
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
        view = params.for_dataset(dataset)
        need = blame.need
        for name in OVERRIDABLE:
            getattr(view, name).check(need, name)
        _check_across_sections(view, need)
        # the crops must fit a dataset that runs, or whose own overrides set its size or crops; a shared
        # change need not fit a dataset that is neither
        if dataset in params.datasets or blame.overridden & {"augment.size", "train.crop_size"}:
            _check_crop_fits(view, blame)
    return params


def _check_override_names(params: Params) -> None:
    for dataset, sections in params.overrides.items():
        if dataset not in params.known_datasets:
            fail(params.source, f"overrides.{dataset}", f"unknown dataset (known: {', '.join(params.known_datasets)})")
        for name in sections:
            if name not in OVERRIDABLE:
                fail(params.source, f"overrides.{dataset}.{name}", f"not a section that can be overridden "
                     f"(can: {', '.join(OVERRIDABLE)})")


def _overridden_keys(sections: dict[str, Any]) -> frozenset[str]:
    """The dotted keys that a dataset's overrides set: {"train.epochs", "augment.size", ...}."""
    return frozenset(f"{name}.{key}" for name, values in sections.items() if isinstance(values, dict)
                     for key in values)


def _check(p: Params, blame: Blame) -> None:
    """Every setting of the params as read a value it may take."""
    need = blame.need
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
    _check_across_sections(p, need)


def _check_across_sections(p: Params | DatasetParams, need) -> None:
    """What the train, tune and split sections (as read, or as a dataset sees them) must agree on."""
    t, u = p.train, p.tune
    need(u.epochs <= t.epochs, "tune.epochs", f"must lie in 0..train.epochs ({t.epochs}); 0 = all of them")
    need(trains_regression(VARIANTS[u.variant].schedule, u.epochs or t.epochs, t.epochs), "tune.epochs",
         f"{u.epochs} epoch(s) of {u.variant} never train its regression head (lambda1 is 0 throughout); "
         f"let trials run longer (0 = train.epochs)")
    need(u.split < p.split.n_splits, "tune.split", f"must name a split in 0..{p.split.n_splits - 1}")


def _check_crop_fits(view: DatasetParams, blame: Blame) -> None:
    """The dataset's training crops fit inside its resized images (own-size ones are checked by train)."""
    size, crop = view.image_size, view.train.crop_size
    if size is not None and min(size) < crop:
        blame("augment.size", f"a train.crop_size of {crop} does not fit in {view.dataset}'s {list(size)} images",
              "train.crop_size")


@dataclass(frozen=True)
class Blame:
    """Stops with the ParamsError of a failed check, naming the key at fault. In a dataset's view of
    the params (``dataset`` set) that is the override's own key path where the override set the value;
    a value the override did not set is wrong only beside it, so the message names the dataset."""

    source: str
    dataset: str = ""
    overridden: frozenset[str] = frozenset()

    def need(self, ok: bool, key: str, message: str) -> None:
        """A check: where ``ok`` is false, stop naming ``key``."""
        if not ok:
            self(key, message)

    def __call__(self, key: str, message: str, *also: str) -> typing.NoReturn:
        """``also``: further keys the failed check compared; the first that the override set is named."""
        for candidate in (key, *also):
            if self._set_by_override(candidate):
                fail(self.source, f"overrides.{self.dataset}.{candidate}", message)
        if self.overridden:
            message = f"{message} (for {self.dataset}, with overrides.{self.dataset} applied)"
        fail(self.source, key, message)

    def _set_by_override(self, key: str) -> bool:
        parts = re.sub(r"\[\d+\]", "", key).split(".")  # tune.lr[0] was set by an override of tune.lr
        return any(".".join(parts[:n]) in self.overridden for n in range(2, len(parts) + 1))
