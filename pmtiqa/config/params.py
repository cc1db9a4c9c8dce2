"""The params file as one typed value (Params), and what one dataset's stages see of it (DatasetParams).

A key travels one way: params.yaml -> Params (load.py reads and checks it) -> a dataset's view,
made once by ``Params.for_dataset`` (its overrides applied, ``protocol`` values replaced by the
dataset's own) -> a run's settings (run_settings.py, tuned values in place). A stage takes the view
it is given; nothing applies overrides twice.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from pmtiqa.config.fields import Bounds, Section, build, fail
from pmtiqa.config.sections import (KNOWN_DATASETS, OWN_SIZE, PROTOCOL, AugmentParams, CrossParams, CustomDatasetParams,
                                    DownloadParams, LossParams, ModelParams, ReportParams, RuntimeParams, SplitParams,
                                    TrainParams, TuneParams)
from pmtiqa.data.datasets import module as dataset_module


@dataclass(frozen=True)
class DatasetParams:
    """The sections one dataset's stages read, as that dataset sees them: its overrides applied, and
    every ``protocol`` value replaced by its protocol's (its module in pmtiqa/data/datasets/ holds
    them: the size its images are resized to, or that they keep their own; how a file is decoded;
    what a batch counts)."""

    dataset: str
    runtime: RuntimeParams
    split: SplitParams
    augment: AugmentParams
    model: ModelParams
    loss: LossParams
    train: TrainParams
    tune: TuneParams
    download_source: str | None = None  # download.sources' entry for the dataset
    # its custom_datasets entry, where it is a dataset of one's own ({} for a built-in one)
    custom_datasets: dict[str, CustomDatasetParams] = field(default_factory=dict)
    source: str = ""  # the file these params came from, for messages

    def section(self, name: str) -> dict[str, Any]:
        return dataclasses.asdict(getattr(self, name))

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) the augment stage resizes the images to; None where they keep their own sizes."""
        size = self.augment.size
        return None if size == OWN_SIZE else (int(size[0]), int(size[1]))

    @property
    def made_as(self) -> tuple[tuple[int, int] | None, str]:
        """What the dataset's cache must have been made with: (image_size, augment.decode)."""
        return self.image_size, self.augment.decode


@dataclass(frozen=True)
class Params:
    datasets: list[str]
    variants: list[str]
    runtime: RuntimeParams = field(default_factory=RuntimeParams)
    download: DownloadParams = field(default_factory=DownloadParams)
    split: SplitParams = field(default_factory=SplitParams)
    augment: AugmentParams = field(default_factory=AugmentParams)
    model: ModelParams = field(default_factory=ModelParams)
    loss: LossParams = field(default_factory=LossParams)
    train: TrainParams = field(default_factory=TrainParams)
    tune: TuneParams = field(default_factory=TuneParams)
    report: ReportParams = field(default_factory=ReportParams)
    cross: CrossParams = field(default_factory=CrossParams)
    custom_datasets: dict[str, CustomDatasetParams] = field(default_factory=dict)
    # What a user changes for one dataset's stages: {dataset: {section: {key: value}}}
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""  # the file these params came from, for messages

    @property
    def known_datasets(self) -> tuple[str, ...]:
        """The built-in datasets and those custom_datasets declares."""
        return KNOWN_DATASETS + tuple(self.custom_datasets)

    def section(self, name: str) -> dict[str, Any]:
        return dataclasses.asdict(getattr(self, name))

    def for_dataset(self, dataset: str) -> DatasetParams:
        """What the stages of ``dataset`` see: its overrides applied (each overridden section
        type-checked as a whole), then the protocol's values put in."""
        changes = self.overrides.get(dataset, {})
        sections = {name: _override_section(getattr(self, name), changes[name], self.source,
                                            f"overrides.{dataset}.{name}") if name in changes else getattr(self, name)
                    for name in ("split", "augment", "model", "loss", "train", "tune")}
        custom = {dataset: self.custom_datasets[dataset]} if dataset in self.custom_datasets else {}
        augment, train = _with_protocol(sections.pop("augment"), sections.pop("train"), dataset, custom)
        return DatasetParams(dataset=dataset, runtime=self.runtime, augment=augment, train=train, **sections,
                             download_source=self.download.sources.get(dataset), custom_datasets=custom,
                             source=self.source)


def _override_section(section: Any, values: Any, source: str, key: str) -> Any:
    """A section with some of its keys replaced, type-checked like the section itself; as it is where
    ``values`` is null (its keys all commented out)."""
    if values is None:
        return section
    if not isinstance(values, dict):
        fail(source, key, f"expected a mapping, got {values!r}")
    return build(type(section), {**dataclasses.asdict(section), **values}, source, key)


def _with_protocol(augment: AugmentParams, train: TrainParams, dataset: str,
                   custom: dict) -> tuple[AugmentParams, TrainParams]:
    """``protocol`` values replaced by the dataset's own (its module's IMAGE_SIZE, DECODE and BATCH_UNIT)."""
    facts = dataset_module(dataset, custom)
    if augment.size == PROTOCOL:
        augment = dataclasses.replace(augment, size=list(facts.IMAGE_SIZE) if facts.IMAGE_SIZE else OWN_SIZE)
    if augment.decode == PROTOCOL:
        augment = dataclasses.replace(augment, decode=facts.DECODE)
    if train.batch_unit == PROTOCOL:
        train = dataclasses.replace(train, batch_unit=facts.BATCH_UNIT)
    return augment, train


# The range of every number in params, by key (a tune.<name> range by the setting it searches).
RANGES: dict[str, Bounds] = {
    f"{name}.{f.name}": f.metadata["bounds"]
    for name, cls in typing.get_type_hints(Params).items() if isinstance(cls, type) and issubclass(cls, Section)
    for f in dataclasses.fields(cls) if f.metadata.get("bounds") is not None
}
