"""params.yaml -> typed, validated dataclasses.

The same file is DVC's params file and Snakemake's config file. It is read with
``yaml.safe_load`` and checked once, before any work starts: an unknown key, a
missing section or a value of the wrong type stops with a message that names
the file and the key path (``train.batch_size``).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pmtiqa.errors import UserError
from pmtiqa.schedule import trains_regression
from pmtiqa.variants import VARIANTS

KNOWN_DATASETS = ("synthetic", "bid", "livec", "live", "csiq", "koniq")
BACKBONES = ("resnet18", "resnet34", "resnet50")
PRECISIONS = ("auto", "bf16", "fp32")
# train.compile: "none" (eager PyTorch) or a torch.compile mode (runtime.Runtime.compiled).
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# The settings of each dataset that `pmtiqa report` reads (the split count its metrics must have, and
# its header). dvc.yaml's report stage and the Snakefile's report rule track these and no other.
REPORT_SETTINGS = ("split.n_splits", "model.backbone", "model.weights", "train.epochs", "train.use_tuned")


class ParamsError(UserError):
    """A params file that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class DownloadParams:
    # Per-dataset override of where `download` fetches from (URL or local path).
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitParams:
    n_splits: int = 10
    test_fraction: float = 0.2
    # share of the 80 % train part held out to select an epoch; 0 (the paper's) = train on all of it
    val_fraction: float = 0.0
    seed: int = 20230103
    subset: float = 1.0  # share of the dataset's groups used at all (quick runs); 1 = every image


@dataclass(frozen=True)
class AugmentParams:
    # Training size (width, height) per dataset; images are resized to it once.
    sizes: dict[str, list[int]] = field(default_factory=dict)
    default_size: list[int] = field(default_factory=lambda: [512, 512])
    # Datasets whose images keep their own sizes (crops are drawn inside each image, unresized).
    native: list[str] = field(default_factory=list)
    workers: int = 0  # 0 = every available core


@dataclass(frozen=True)
class ModelParams:
    backbone: str = "resnet50"
    weights: str = "imagenet"  # "imagenet", "none" or a path to a state dict
    num_classes: int = 10


TARGETS = ("published", "unit")
BATCH_UNITS = ("crops", "images")


@dataclass(frozen=True)
class LossParams:
    gamma: float = 1.0  # weight of the classification term against L1
    # The scale the regression head learns and L1 is measured on: the width of the dataset's
    # published scale (the authors' L1 on raw MOS) or 0..1. It sets the balance of the two tasks.
    target: str = "published"


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 30
    batch_size: int = 12
    lr: float = 1e-4
    lr_step: int = 6  # after epoch t (1-based) the lr is lr * lr_decay ** ((t - 1) // lr_step), as the authors
    lr_decay: float = 0.1
    weight_decay: float = 5e-4
    crop_size: int = 224
    crops_per_image: int = 4
    # What batch_size counts: crops (a sample is one crop) or images (a sample is an image with its
    # crops_per_image crops, as the authors' BID loader)
    batch_unit: str = "crops"
    test_crops: int = 10
    random_test_crops: bool = False  # the authors' habit: test crops redrawn at random every epoch
    reset_optimizer: bool = False  # the authors' habit: Adam rebuilt (its moments reset) every epoch
    precision: str = "auto"  # auto: bf16 where the hardware computes it natively, else fp32
    compile: str = "none"  # "none" (eager) or a torch.compile mode for the training step
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = every available core
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    use_tuned: bool = True  # read runs/tune/<ds>/best.json when it exists

    def without_runtime(self) -> "TrainParams":
        """These settings with device, threads and compile blanked: those decide where and how fast a
        run computes, not what, so no fingerprint (of a split, a study, a Snakemake job) includes them."""
        return dataclasses.replace(self, device="", threads=0, compile="")


@dataclass(frozen=True)
class TuneParams:
    n_trials: int = 20
    epochs: int = 0  # epochs a trial may run, on the real run's schedule; 0 = train.epochs
    split: int = 0
    val_fraction: float = 0.2  # share of the split's train part (by group) that scores a trial
    seed: int = 0
    lr: list[float] = field(default_factory=lambda: [1e-4, 1e-3])
    batch_size: list[int] = field(default_factory=lambda: [9, 13])
    weight_decay: list[float] = field(default_factory=lambda: [5e-4, 5e-4])  # the paper's, fixed
    gamma: list[float] = field(default_factory=lambda: [0.01, 100.0])
    variant: str = "ms_pmt"


@dataclass(frozen=True)
class ReportParams:
    selections: list[str] = field(default_factory=lambda: ["final", "val", "best_test"])
    reference_variant: str = "ms_pmt"


@dataclass(frozen=True)
class Params:
    datasets: list[str]
    variants: list[str]
    download: DownloadParams = field(default_factory=DownloadParams)
    split: SplitParams = field(default_factory=SplitParams)
    augment: AugmentParams = field(default_factory=AugmentParams)
    model: ModelParams = field(default_factory=ModelParams)
    loss: LossParams = field(default_factory=LossParams)
    train: TrainParams = field(default_factory=TrainParams)
    tune: TuneParams = field(default_factory=TuneParams)
    report: ReportParams = field(default_factory=ReportParams)
    # Per-dataset settings that differ from the sections above, e.g.
    #   overrides: {synthetic: {model: {backbone: resnet18}, train: {epochs: 8}}}
    # Stage commands that take --dataset see the sections with that dataset's overrides applied.
    overrides: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the file these params came from, for messages

    def section(self, name: str) -> dict[str, Any]:
        return dataclasses.asdict(getattr(self, name))

    def setting(self, dotted: str) -> Any:
        """The value of a dotted key, "train.epochs"."""
        return functools.reduce(getattr, dotted.split("."), self)

    def for_dataset(self, dataset: str) -> "Params":
        """These params as a stage of `dataset` sees them: its overrides applied. Idempotent (the
        overrides stay, and set the same values again), so every engine function applies it itself."""
        changes = self.overrides.get(dataset, {})
        return dataclasses.replace(self, **{
            name: _override_section(getattr(self, name), values, self.source, f"overrides.{dataset}.{name}")
            for name, values in changes.items()
        })


OVERRIDABLE = ("split", "augment", "model", "loss", "train", "tune")


def _override_section(section: Any, values: Any, source: str, key: str) -> Any:
    """A section with some of its keys replaced, type-checked like the section itself."""
    if not isinstance(values, dict):
        _fail(source, key, f"expected a mapping, got {values!r}")
    merged = {**dataclasses.asdict(section), **values}
    return _build(type(section), merged, source, key)


def fingerprint(*sections: Any) -> str:
    """A short, stable hash of param sections (dataclasses or plain data)."""
    plain = [dataclasses.asdict(s) if dataclasses.is_dataclass(s) else s for s in sections]
    blob = json.dumps(plain, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return params_from_dict(raw, source=str(path))


def params_from_dict(raw: Any, source: str = "<params>") -> Params:
    params = _build(Params, raw, source, "")
    params = dataclasses.replace(params, source=source)
    _check_values(params)
    for dataset, sections in params.overrides.items():
        if dataset not in KNOWN_DATASETS:
            _fail(source, f"overrides.{dataset}", f"unknown dataset (known: {', '.join(KNOWN_DATASETS)})")
        if not isinstance(sections, dict):
            _fail(source, f"overrides.{dataset}", f"expected a mapping of sections, got {sections!r}")
        for name in sections:
            if name not in OVERRIDABLE:
                _fail(source, f"overrides.{dataset}.{name}", f"not a section that can be overridden "
                      f"(can: {', '.join(OVERRIDABLE)})")
        try:
            _check_values(params.for_dataset(dataset))
        except ParamsError as err:  # a value can be wrong only beside the override: say whose
            raise ParamsError(f"{err} (for {dataset}, with overrides.{dataset} applied)") from None
    for dataset in {*params.datasets, *params.augment.sizes}:
        seen = params.for_dataset(dataset)
        if image_size(seen, dataset) and min(image_size(seen, dataset)) < seen.train.crop_size:
            _fail(source, f"augment.sizes.{dataset}", f"{list(image_size(seen, dataset))} is smaller than the "
                  f"train.crop_size {seen.train.crop_size} that {dataset} trains with")
    return params


def _fail(source: str, key: str, message: str) -> typing.NoReturn:
    raise ParamsError(f"{source}: {key or '<top level>'}: {message}")


def _build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    if not isinstance(raw, dict):
        _fail(source, prefix, f"expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        _fail(source, _join(prefix, str(unknown[0])), f"unknown key (known: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                _fail(source, key, "missing")
            continue
        values[name] = _convert(hints[name], raw[name], source, key)
    return cls(**values)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, {} if value is None else value, source, key)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _convert(next(a for a in typing.get_args(tp) if a is not type(None)), value, source, key)
    if origin is list:
        if not isinstance(value, list):
            _fail(source, key, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            _fail(source, key, f"expected a mapping, got {value!r}")
        _, item = typing.get_args(tp)
        return {str(k): _convert(item, v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            _fail(source, key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(source, key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        # YAML reads 1e-4 (no dot) as a string; accept it as the number it means.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(source, key, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool):  # YAML 1.1 reads off, no, on, yes as booleans
            _fail(source, key, f"expected a string, got the boolean {value!r} (YAML reads off/no/on/yes "
                               f"as booleans: quote the word)")
        if not isinstance(value, str):
            _fail(source, key, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported params type {tp} at {key}")


def _check_values(p: Params) -> None:
    s = p.source

    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            _fail(s, key, message)

    for i, name in enumerate(p.datasets):
        need(name in KNOWN_DATASETS, f"datasets[{i}]", f"unknown dataset {name!r} (known: {', '.join(KNOWN_DATASETS)})")
    for i, name in enumerate(p.variants):
        need(name in VARIANTS, f"variants[{i}]", f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")
    for name in p.download.sources:
        need(name in KNOWN_DATASETS, f"download.sources.{name}", "unknown dataset")
    need(p.split.n_splits >= 1, "split.n_splits", "must be at least 1")
    need(0 < p.split.test_fraction < 1, "split.test_fraction", "must lie strictly between 0 and 1")
    need(0 <= p.split.val_fraction < 1, "split.val_fraction", "must lie in [0, 1)")
    need(0 < p.split.subset <= 1, "split.subset", "must lie in (0, 1]")
    for name, size in {**p.augment.sizes, "default_size": p.augment.default_size}.items():
        key = "augment.default_size" if name == "default_size" else f"augment.sizes.{name}"
        need(len(size) == 2 and all(v >= 32 for v in size), key, f"expected [width, height], each >= 32, got {size}")
        if name != "default_size":
            need(name in KNOWN_DATASETS, key, "unknown dataset")
    for i, name in enumerate(p.augment.native):
        need(name in KNOWN_DATASETS, f"augment.native[{i}]", f"unknown dataset {name!r}")
        need(name not in p.augment.sizes, f"augment.native[{i}]", f"{name} also has a size under augment.sizes: "
                                                                 f"keep one")
    need(p.augment.workers >= 0, "augment.workers", "must be >= 0")
    need(p.model.backbone in BACKBONES, "model.backbone", f"unknown backbone {p.model.backbone!r} (known: {', '.join(BACKBONES)})")
    need(p.model.num_classes >= 2, "model.num_classes", "must be at least 2")
    need(p.loss.gamma >= 0, "loss.gamma", "must be >= 0")
    need(p.loss.target in TARGETS, "loss.target", f"expected one of {', '.join(TARGETS)}")
    t = p.train
    for key in ("epochs", "batch_size", "lr_step", "crops_per_image", "test_crops"):
        need(getattr(t, key) >= 1, f"train.{key}", "must be at least 1")
    need(t.crop_size >= 32, "train.crop_size", "must be at least 32")
    need(t.lr > 0, "train.lr", "must be > 0")
    need(0 < t.lr_decay <= 1, "train.lr_decay", "must lie in (0, 1]")
    need(t.weight_decay >= 0, "train.weight_decay", "must be >= 0")
    need(t.batch_unit in BATCH_UNITS, "train.batch_unit", f"expected one of {', '.join(BATCH_UNITS)}")
    need(t.precision in PRECISIONS, "train.precision", f"expected one of {', '.join(PRECISIONS)}")
    need(t.compile in COMPILE_MODES, "train.compile", f"expected one of {', '.join(COMPILE_MODES)}")
    need(t.threads >= 0, "train.threads", "must be >= 0")
    need(t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda"), "train.device",
         "expected auto, cpu or cuda[:N]")
    u = p.tune
    need(u.n_trials >= 1, "tune.n_trials", "must be at least 1")
    need(0 <= u.epochs <= t.epochs, "tune.epochs", f"must lie in 0..train.epochs ({t.epochs}); 0 = all of them")
    need(0 < u.val_fraction < 1, "tune.val_fraction", "must lie strictly between 0 and 1")
    need(u.variant in VARIANTS, "tune.variant", f"unknown variant {u.variant!r}")
    need(trains_regression(VARIANTS[u.variant].schedule, u.epochs or t.epochs, t.epochs), "tune.epochs",
         f"{u.epochs} epoch(s) of {u.variant} never train its regression head (lambda1 is 0 throughout); "
         f"let trials run longer (0 = train.epochs)")
    need(0 <= u.split < p.split.n_splits, "tune.split", f"must name a split in 0..{p.split.n_splits - 1}")
    for key in ("lr", "batch_size", "weight_decay", "gamma"):
        lo_hi = getattr(u, key)
        need(len(lo_hi) == 2 and lo_hi[0] <= lo_hi[1], f"tune.{key}", f"expected [low, high], got {lo_hi}")
        need(key == "batch_size" or lo_hi[0] > 0, f"tune.{key}", f"searched on a log scale: low must be above 0, "
                                                              f"got {lo_hi}")
    for i, sel in enumerate(p.report.selections):
        need(sel in ("final", "val", "best_test"), f"report.selections[{i}]", f"unknown selection {sel!r}")
    need(p.report.reference_variant in VARIANTS, "report.reference_variant", "unknown variant")


def image_size(params: Params, dataset: str) -> tuple[int, int] | None:
    """(width, height) that the augment stage resizes this dataset's images to; None where they keep
    their own sizes (augment.native)."""
    if dataset in params.augment.native:
        return None
    w, h = params.augment.sizes.get(dataset, params.augment.default_size)
    return int(w), int(h)
