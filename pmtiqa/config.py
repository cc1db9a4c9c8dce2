"""params.yaml -> typed, validated dataclasses.

The same file is DVC's params file and Snakemake's config file. It is read with
``yaml.safe_load`` (a key given twice refused) and checked once, before any work
starts: an unknown key, a missing section, a value of the wrong type or outside
its range (RANGES) stops with one line that names the file and the key path
(``train.batch_size``; ``overrides.bid.train.batch_size`` where an override set
it). check_tuned holds runs/tune/<ds>/best.json to the same ranges.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
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
DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")  # train.device and predict --device
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# The settings of each dataset that `pmtiqa report` reads (the split count its metrics must have, and
# its header). dvc.yaml's report stage and the Snakefile's report rule track these and no other.
REPORT_SETTINGS = ("split.n_splits", "model.backbone", "model.weights", "train.epochs", "train.use_tuned")


@dataclass(frozen=True)
class Bounds:
    """The values a number may take: low..high, each end included unless marked open."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"above {self.low}" if self.low_open else f"at least {self.low}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


SIDE = Bounds(32)  # pixels of an image side or a crop: ResNet's five halvings need 32 to leave one cell
FRACTION = Bounds(0, 1, low_open=True, high_open=True)
# numpy's legacy generator (np.random.seed, Optuna's sampler) takes seeds below 2**32; torch takes
# train.seed * 1000 + split and crops.test_crop_generator's 1_000_003 * seed, both below 2**64.
SEED = Bounds(0, 2**32 - 1)
# The range of every number in params, by key; a tune.<name> search range is held to the range of
# the setting it replaces (each of its ends), and so is runs/tune/<ds>/best.json (check_tuned).
# Every float is finite besides (_convert).
RANGES: dict[str, Bounds] = {
    "split.n_splits": Bounds(1),
    "split.test_fraction": FRACTION,
    "split.val_fraction": Bounds(0, 1, high_open=True),  # 0 = no validation part
    "split.seed": SEED,
    "split.subset": Bounds(0, 1, low_open=True),
    "augment.workers": Bounds(0),  # 0 = every available core
    "model.num_classes": Bounds(2),
    "loss.gamma": Bounds(0),
    "train.epochs": Bounds(1),
    "train.batch_size": Bounds(2),  # batch normalisation cannot train on one sample
    "train.lr": Bounds(0, 1, low_open=True),  # Adam's step is about lr per weight: above 1 it only diverges
    "train.lr_step": Bounds(1),
    "train.lr_decay": Bounds(0, 1, low_open=True),
    "train.weight_decay": Bounds(0),
    "train.crop_size": SIDE,
    "train.crops_per_image": Bounds(1),
    "train.test_crops": Bounds(1),
    "train.seed": SEED,
    "train.threads": Bounds(0),  # 0 = every available core
    "tune.n_trials": Bounds(1),
    "tune.epochs": Bounds(0),  # 0 = train.epochs; at most train.epochs (_check_values)
    "tune.split": Bounds(0),  # below split.n_splits (_check_values)
    "tune.val_fraction": FRACTION,
    "tune.seed": SEED,
}
# What runs/tune/<ds>/best.json may set, and the setting each value replaces.
TUNABLE_SETTINGS = {"lr": "train.lr", "batch_size": "train.batch_size", "weight_decay": "train.weight_decay",
                    "gamma": "loss.gamma"}
RANGES.update({f"tune.{name}": RANGES[setting] for name, setting in TUNABLE_SETTINGS.items()})


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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except IsADirectoryError:
        raise ParamsError(f"{path}: is a folder, not a params file") from None
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: not UTF-8 text (byte {err.start} cannot be decoded)") from None
    except OSError as err:
        raise ParamsError(f"{path}: cannot read the params file: {err.strerror or err}") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {_yaml_problem(err)}") from None
    return params_from_dict(raw, source=str(path))


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping: YAML keeps the last one silently,
    so a second `train:` section would replace the first without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be followed by keys it sets
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error in one line: PyYAML's own text spans several, with a quote of the input."""
    mark, problem = getattr(err, "problem_mark", None), getattr(err, "problem", None)
    if problem and mark:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(err).split())


def params_from_dict(raw: Any, source: str = "<params>") -> Params:
    params = _build(Params, raw, source, "")
    params = dataclasses.replace(params, source=source)
    _check_values(params, _Blame(source))
    _check_override_names(params)
    # A dataset's stages see the sections with its overrides applied: check that view as well.
    for dataset in sorted({*params.datasets, *params.augment.sizes, *params.overrides}):
        seen = params.for_dataset(dataset)
        blame = _Blame(source, dataset, _overridden_keys(params.overrides.get(dataset, {})))
        _check_values(seen, blame)
        _check_crop_fits(seen, dataset, blame)
    return params


def _check_override_names(params: Params) -> None:
    for dataset, sections in params.overrides.items():
        if dataset not in KNOWN_DATASETS:
            _fail(params.source, f"overrides.{dataset}", f"unknown dataset (known: {', '.join(KNOWN_DATASETS)})")
        if not isinstance(sections, dict):
            _fail(params.source, f"overrides.{dataset}", f"expected a mapping of sections, got {sections!r}")
        for name in sections:
            if name not in OVERRIDABLE:
                _fail(params.source, f"overrides.{dataset}.{name}", f"not a section that can be overridden "
                      f"(can: {', '.join(OVERRIDABLE)})")


def _overridden_keys(sections: dict[str, Any]) -> frozenset[str]:
    """The dotted keys that a dataset's overrides set: {"train.epochs", "augment.sizes", ...}."""
    return frozenset(f"{name}.{key}" for name, values in sections.items() for key in values)


@dataclass(frozen=True)
class _Blame:
    """Stops with the ParamsError of a failed check, naming the key at fault. In a dataset's view of
    the params (``dataset`` set) that is the override's own key path where the override set the value;
    a value the override did not set is wrong only beside it, so the message names the dataset."""

    source: str
    dataset: str = ""
    overridden: frozenset[str] = frozenset()

    def __call__(self, key: str, message: str, *also: str) -> typing.NoReturn:
        """``also``: further keys the failed check compared; the first that the override set is named."""
        for candidate in (key, *also):
            if self._set_by_override(candidate):
                _fail(self.source, f"overrides.{self.dataset}.{candidate}", message)
        if self.overridden:
            message = f"{message} (for {self.dataset}, with overrides.{self.dataset} applied)"
        _fail(self.source, key, message)

    def _set_by_override(self, key: str) -> bool:
        # tune.lr[0] and augment.sizes.bid were set by an override that set tune.lr or augment.sizes
        parts = re.sub(r"\[\d+\]", "", key).split(".")
        return any(".".join(parts[:n]) in self.overridden for n in range(2, len(parts) + 1))


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
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(source, key, f"expected a number, got {value!r}")
        # YAML's .inf and .nan (JSON's Infinity and NaN) are numbers that no setting means
        if not math.isfinite(value):
            _fail(source, key, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool):  # YAML 1.1 reads off, no, on, yes as booleans
            _fail(source, key, f"expected a string, got the boolean {value!r} (YAML reads off/no/on/yes "
                               f"as booleans: quote the word)")
        if not isinstance(value, str):
            _fail(source, key, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported params type {tp} at {key}")


def _check_values(p: Params, blame: _Blame) -> None:
    """Every setting of p (the params as read, or a dataset's view of them) a value it may take."""
    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            blame(key, message)

    for i, name in enumerate(p.datasets):
        need(name in KNOWN_DATASETS, f"datasets[{i}]", f"unknown dataset {name!r} (known: {', '.join(KNOWN_DATASETS)})")
        need(name not in p.datasets[:i], f"datasets[{i}]", f"{name} is listed twice")
    for i, name in enumerate(p.variants):
        need(name in VARIANTS, f"variants[{i}]", f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")
        need(name not in p.variants[:i], f"variants[{i}]", f"{name} is listed twice")
    for name in p.download.sources:
        need(name in KNOWN_DATASETS, f"download.sources.{name}", "unknown dataset")
    _check_ranges(p, blame)
    for name, size in {**p.augment.sizes, "default_size": p.augment.default_size}.items():
        key = "augment.default_size" if name == "default_size" else f"augment.sizes.{name}"
        need(len(size) == 2 and all(SIDE.admits(v) for v in size), key,
             f"expected [width, height], each {SIDE}, got {size}")
        if name != "default_size":
            need(name in KNOWN_DATASETS, key, "unknown dataset")
    for i, name in enumerate(p.augment.native):
        need(name in KNOWN_DATASETS, f"augment.native[{i}]", f"unknown dataset {name!r}")
        need(name not in p.augment.sizes, f"augment.native[{i}]", f"{name} also has a size under augment.sizes: "
                                                                 f"keep one")
    need(p.model.backbone in BACKBONES, "model.backbone", f"unknown backbone {p.model.backbone!r} (known: {', '.join(BACKBONES)})")
    need(p.model.weights != "", "model.weights", "expected imagenet, none or a path to a state dict")
    need(p.loss.target in TARGETS, "loss.target", f"expected one of {', '.join(TARGETS)}")
    t = p.train
    need(t.batch_unit in BATCH_UNITS, "train.batch_unit", f"expected one of {', '.join(BATCH_UNITS)}")
    need(t.precision in PRECISIONS, "train.precision", f"expected one of {', '.join(PRECISIONS)}")
    need(t.compile in COMPILE_MODES, "train.compile", f"expected one of {', '.join(COMPILE_MODES)}")
    need(DEVICE_NAME.fullmatch(t.device) is not None, "train.device",
         f"expected auto, cpu or cuda[:N], got {t.device!r}")
    u = p.tune
    need(u.epochs <= t.epochs, "tune.epochs", f"must lie in 0..train.epochs ({t.epochs}); 0 = all of them")
    need(u.variant in VARIANTS, "tune.variant", f"unknown variant {u.variant!r}")
    need(trains_regression(VARIANTS[u.variant].schedule, u.epochs or t.epochs, t.epochs), "tune.epochs",
         f"{u.epochs} epoch(s) of {u.variant} never train its regression head (lambda1 is 0 throughout); "
         f"let trials run longer (0 = train.epochs)")
    need(u.split < p.split.n_splits, "tune.split", f"must name a split in 0..{p.split.n_splits - 1}")
    for name in TUNABLE_SETTINGS:
        _check_search_range(name, getattr(u, name), blame)
    for i, sel in enumerate(p.report.selections):
        need(sel in ("final", "val", "best_test"), f"report.selections[{i}]", f"unknown selection {sel!r}")
    need(p.report.reference_variant in VARIANTS, "report.reference_variant", "unknown variant")


def _check_ranges(p: Params, blame: _Blame) -> None:
    """Every number of RANGES within its bounds (the tune search ranges have their own check)."""
    for key, bounds in RANGES.items():
        value = p.setting(key)
        if not isinstance(value, list) and not bounds.admits(value):
            blame(key, f"must be {bounds}, got {value!r}")


def _check_search_range(name: str, low_high: list, blame: _Blame) -> None:
    """tune.<name>: [low, high], each end a value the setting it searches may take."""
    key, bounds = f"tune.{name}", RANGES[f"tune.{name}"]
    if len(low_high) != 2 or low_high[0] > low_high[1]:
        blame(key, f"expected [low, high], got {low_high}")
    if not all(bounds.admits(v) for v in low_high):
        blame(key, f"low and high must each be {bounds}, got {low_high}")
    # tune.suggest draws batch_size uniformly and the others on a log scale, which has no 0
    if name != "batch_size" and low_high[0] <= 0:
        blame(key, f"searched on a log scale: low must be above 0, got {low_high}")


def _check_crop_fits(p: Params, dataset: str, blame: _Blame) -> None:
    """The dataset's training crops fit inside its resized images (native ones are checked by train)."""
    size = image_size(p, dataset)
    if size is not None and min(size) < p.train.crop_size:
        size_key = f"augment.sizes.{dataset}" if dataset in p.augment.sizes else "augment.default_size"
        blame(size_key, f"a train.crop_size of {p.train.crop_size} does not fit in {dataset}'s {list(size)} images "
                        f"({size_key})", "train.crop_size")


def check_tuned(values: dict, source: str) -> dict:
    """The values of a runs/tune/<ds>/best.json ``params`` mapping, typed and checked like the settings
    they replace (RANGES, TUNABLE_SETTINGS): the file may be edited by hand. A ParamsError names
    ``source`` and the key (``params.lr``) of a value that is not a tunable setting's or is out of range."""
    if not isinstance(values, dict):
        _fail(source, "params", f"expected a mapping of tuned values, got {type(values).__name__}")
    checked = {}
    for name, value in values.items():
        key = f"params.{name}"
        if name not in TUNABLE_SETTINGS:
            _fail(source, key, f"not a tunable setting (tunable: {', '.join(TUNABLE_SETTINGS)})")
        setting = TUNABLE_SETTINGS[name]
        checked[name] = _convert(_setting_type(setting), value, source, key)
        if not RANGES[setting].admits(checked[name]):
            _fail(source, key, f"must be {RANGES[setting]} (as {setting}), got {value!r}")
    return checked


def _setting_type(key: str) -> Any:
    """The declared type of a dotted setting, "train.lr" -> float."""
    section, name = key.split(".")
    return typing.get_type_hints(typing.get_type_hints(Params)[section])[name]


def image_size(params: Params, dataset: str) -> tuple[int, int] | None:
    """(width, height) that the augment stage resizes this dataset's images to; None where they keep
    their own sizes (augment.native)."""
    if dataset in params.augment.native:
        return None
    w, h = params.augment.sizes.get(dataset, params.augment.default_size)
    return int(w), int(h)
