"""The sections of params.yaml as typed dataclasses, each with its checks beside its fields.

The same file is DVC's params file and Snakemake's config file. A field made with ``setting``
carries its range or choices (fields.py); ``check_more`` holds what a section checks across its own
fields. An unknown key, a missing section, a value of the wrong type, outside its range or not among
its choices stops with one line that names the file and the key path (``train.batch_size``), once,
before any work starts (load.py).

``runtime`` says where and how fast the stages compute, not the method: no stage depends on it, and
it is no part of a run's identity. ``protocol`` stands for a value each dataset's protocol decides
(params.py puts it in, from the dataset's module).
"""
from __future__ import annotations

import dataclasses
import math
import re
import string
from dataclasses import dataclass, field
from typing import Any

from pmtiqa.config.fields import Bounds, Section, setting
from pmtiqa.data.images import DECODINGS
from pmtiqa.method.variants import VARIANTS

KNOWN_DATASETS = ("synthetic", "bid", "livec", "live", "csiq", "koniq")
# runtime.device and predict --device: ASCII digits, no leading zero (torch refuses "cuda:01")
DEVICE_NAME = re.compile(r"auto|cpu|cuda(:(0|[1-9][0-9]{0,3}))?")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
PRECISIONS = ("auto", "bf16", "tf32", "fp32")  # runtime.precision (compute/runtime.py says what each computes)
STEP_MODES = ("auto", "eager", "graph")  # runtime.step: how a training step and a test batch are launched
TARGETS = ("published", "unit")
LEVELS = ("equal", "rounded")  # loss.levels: how a score's quality level is cut (method/losses.py)
PROTOCOL = "protocol"  # a value that means: as the dataset's protocol has it (its module says)
OWN_SIZE = "own"  # augment.size: images keep their own sizes


SIDE = Bounds(32)  # pixels of an image side or a crop: ResNet's five halvings need 32 to leave one cell
FRACTION = Bounds(0, 1, low_open=True, high_open=True)
COUNT = Bounds(0)  # 0 = every available core
# numpy's legacy generator (Optuna's sampler) takes seeds below 2**32; torch takes train.seed * 1000 + split
SEED = Bounds(0, 2**32 - 1)


@dataclass(frozen=True)
class RuntimeParams(Section):
    device: str = "auto"  # auto (cuda when present) | cpu | cuda | cuda:N
    # auto: bf16 where computed natively, else fp32; tf32: fp32 with TF32 matmuls and convolutions on CUDA (fp32 elsewhere)
    precision: str = setting("auto", choices=PRECISIONS)
    compile: str = setting("none", choices=COMPILE_MODES)  # none (eager) or a torch.compile mode
    step: str = setting("auto", choices=STEP_MODES)  # auto: graph on a CUDA device, eager elsewhere
    parallel_splits: int = setting(1, Bounds(1))  # splits `pmtiqa train` trains at once, a process each
    threads: int = setting(0, COUNT)  # torch CPU threads
    workers: int = setting(0, COUNT)  # augment's decoding processes
    # Where `pmtiqa tune` keeps its studies: an SQLAlchemy URL, {dataset} standing for the dataset. Here
    # and not in `tune`: a study's trials are the same wherever they are kept, so moving it reruns
    # nothing (a tune setting would rerun tune, and under Snakemake every training after it).
    tune_storage: str = "sqlite:///runs/tune/{dataset}/study.db"

    def check_more(self, need, name: str) -> None:
        need(DEVICE_NAME.fullmatch(self.device) is not None, f"{name}.device",
             f"expected auto, cpu or cuda[:N], got {self.device!r}")
        problem = storage_url_problem(self.tune_storage)
        need(problem is None, f"{name}.tune_storage", f"{problem}, got {password_masked(self.tune_storage)!r}")


def password_masked(url: str) -> str:
    """``url`` with what lies between 'user:' (after '://', or at the start where the scheme is missing)
    and the host's last '@' masked: a message never shows a password, even of a URL that does not parse."""
    return re.sub(r"((?:^|://)[^/@:]*:)[^/]*@", r"\1***@", url)


STORAGE_URL = re.compile(r"[A-Za-z][A-Za-z0-9]*(\+[A-Za-z0-9_]+)?://.+")  # dialect[+driver]://...


def storage_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be runtime.tune_storage, or None. The URL itself is parsed where a study is
    opened (SQLAlchemy, which only the pipeline installs); here its form and placeholders."""
    if not STORAGE_URL.fullmatch(url):
        return "expected an SQLAlchemy URL, dialect[+driver]://..., e.g. postgresql://user@host/db"
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(url)
                  if name is not None]
    except ValueError:
        return "a brace that is not {dataset} (write a literal brace twice: {{ }})"
    names = {name for name, _, _ in fields}
    if any(spec or conversion for _, spec, conversion in fields):
        return "a placeholder is {dataset} alone (no format spec or conversion)"
    if names - {"dataset"}:
        return f"unknown placeholder {{{sorted(names - {'dataset'})[0]}}} (known: {{dataset}})"
    return None


@dataclass(frozen=True)
class DownloadParams(Section):
    sources: dict[str, str] = field(default_factory=dict)  # dataset -> URL, archive or folder

    def check_more(self, need, name: str) -> None:
        for dataset in self.sources:
            need(dataset != "", f"{name}.sources", "a dataset's name is empty")


@dataclass(frozen=True)
class SplitParams(Section):
    n_splits: int = setting(10, Bounds(1, 1000))  # each a run per variant: more only exhausts memory and time
    test_fraction: float = setting(0.2, FRACTION)
    # share of the train part held out to select an epoch; 0 (the paper's) = train on all of it
    val_fraction: float = setting(0.0, Bounds(0, 1, high_open=True))
    seed: int = setting(20230103, SEED)
    subset: float = setting(1.0, Bounds(0, 1, low_open=True))  # share of the groups used at all


@dataclass(frozen=True)
class AugmentParams(Section):
    size: Any = PROTOCOL  # protocol | own | [width, height] the images are resized to once
    # protocol | upright | stored: how a file becomes pixels (data/images.py)
    decode: str = setting(PROTOCOL, choices=(PROTOCOL, *DECODINGS))

    def check_more(self, need, name: str) -> None:
        size = self.size
        need(size in (PROTOCOL, OWN_SIZE) or isinstance(size, list) and len(size) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and SIDE.admits(v) for v in size), f"{name}.size",
             f"expected protocol, own or [width, height] with each side {SIDE}, got {size!r}")


@dataclass(frozen=True)
class ModelParams(Section):
    backbone: str = setting("resnet50", choices=("cnn4", "resnet18", "resnet34", "resnet50"))
    weights: str = "imagenet"  # imagenet | none | a path to a state dict
    num_classes: int = setting(10, Bounds(2, 1000))  # quality levels; a head of 2048 weights each

    def check_more(self, need, name: str) -> None:
        need(self.weights != "", f"{name}.weights", "expected imagenet, none or a path to a state dict")
        need(not (self.backbone == "cnn4" and self.weights == "imagenet"), f"{name}.weights",
             "cnn4 has no ImageNet weights: none, or a path to a state dict")


@dataclass(frozen=True)
class LossParams(Section):
    gamma: float = setting(1.0, Bounds(0))  # weight of the classification term against L1
    # The scale the regression head learns and L1 is measured on: the width of the dataset's
    # published scale (the authors' L1 on raw MOS) or 0..1. It sets the balance of the two tasks.
    target: str = setting("published", choices=TARGETS)
    # The quality levels of the classification task: equal bins of the published scale (eq. 3), or
    # bins centred on its K + 1 multiples of width / K (the authors' round(MOS / 10) on LIVEC and KonIQ).
    levels: str = setting("equal", choices=LEVELS)


@dataclass(frozen=True)
class TrainParams(Section):
    epochs: int = setting(30, Bounds(1))
    batch_size: int = setting(12, Bounds(2))  # batch normalisation cannot train on one sample
    lr: float = setting(1e-4, Bounds(0, 1, low_open=True))  # Adam's step is about lr per weight
    lr_step: int = setting(6, Bounds(1))  # epoch t (1-based) runs at lr * lr_decay ** (max(t - 2, 0) // lr_step)
    lr_decay: float = setting(0.1, Bounds(0, 1, low_open=True))
    weight_decay: float = setting(5e-4, Bounds(0))
    crop_size: int = setting(224, SIDE)
    crops_per_image: int = setting(4, Bounds(1))
    # What batch_size counts: crops, or images (each with its crops_per_image crops, as the authors' BID loader)
    batch_unit: str = setting(PROTOCOL, choices=(PROTOCOL, "crops", "images"))
    test_crops: int = setting(10, Bounds(1))
    random_test_crops: bool = False  # the authors' habit: test crops redrawn at random every epoch
    reset_optimizer: bool = False  # the authors' habit: Adam rebuilt (its moments reset) every epoch
    seed: int = setting(0, SEED)
    use_tuned: bool = True  # read runs/tune/<ds>/best.json when it exists


# What runs/tune/<ds>/best.json may set, and the setting each value replaces.
TUNABLE_SETTINGS = {"lr": "train.lr", "batch_size": "train.batch_size", "weight_decay": "train.weight_decay",
                    "gamma": "loss.gamma"}


def field_bounds(cls: type, name: str) -> Bounds:
    """The range a section's field was declared with."""
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata["bounds"]


def _search_range(default: list, setting_key: str) -> Any:
    """A tune.<name> field: [low, high], each end held to the range of the setting it searches."""
    section, name = setting_key.split(".")
    return setting(default, field_bounds({"train": TrainParams, "loss": LossParams}[section], name))


@dataclass(frozen=True)
class TuneParams(Section):
    n_trials: int = setting(20, Bounds(1))
    epochs: int = setting(0, Bounds(0))  # epochs a trial may run, on the real schedule; 0 = train.epochs
    split: int = setting(0, Bounds(0))
    val_fraction: float = setting(0.2, FRACTION)  # share of the split's train part that scores a trial
    seed: int = setting(0, SEED)
    lr: list[float] = _search_range([1e-4, 1e-3], "train.lr")
    batch_size: list[int] = _search_range([9, 13], "train.batch_size")
    weight_decay: list[float] = _search_range([5e-4, 5e-4], "train.weight_decay")  # the paper's, fixed
    gamma: list[float] = _search_range([0.01, 100.0], "loss.gamma")
    variant: str = setting("ms_pmt", choices=tuple(VARIANTS))

    def check_more(self, need, name: str) -> None:
        for tunable in TUNABLE_SETTINGS:
            key, low_high, bounds = f"{name}.{tunable}", getattr(self, tunable), field_bounds(type(self), tunable)
            need(len(low_high) == 2 and low_high[0] <= low_high[1], key, f"expected [low, high], got {low_high}")
            need(all(bounds.admits(v) for v in low_high), key, f"low and high must each be {bounds}, got {low_high}")
            # batch_size is drawn uniformly, the others on a log scale, which has no 0
            need(tunable == "batch_size" or low_high[0] > 0 or low_high[0] == low_high[1], key,
                 f"searched on a log scale: low must be above 0, got {low_high}")


@dataclass(frozen=True)
class ReportParams(Section):
    selections: list[str] = field(default_factory=lambda: ["final", "val", "best_test"])
    reference_variant: str = setting("ms_pmt", choices=tuple(VARIANTS))  # tested against every other one

    def check_more(self, need, name: str) -> None:
        need(len(self.selections) > 0, f"{name}.selections", "empty: name at least one of final, val, best_test")
        for i, sel in enumerate(self.selections):
            need(sel in ("final", "val", "best_test"), f"{name}.selections[{i}]", f"unknown selection {sel!r}")
            need(sel not in self.selections[:i], f"{name}.selections[{i}]", f"{sel!r} named twice")


@dataclass(frozen=True)
class CrossParams(Section):
    datasets: list[str] = field(default_factory=list)  # tested on; [] = the selected datasets
    variants: list[str] = field(default_factory=lambda: ["baseline", "ms_pmt"])  # whose models are tested


CUSTOM_NAME = re.compile(r"[a-z][a-z0-9_]*")  # a path part, a Snakemake wildcard and a DVC stage name


@dataclass(frozen=True)
class CustomDatasetParams(Section):
    """A dataset of one's own: a folder of images and a CSV with a row per image (data/datasets/custom.py)."""

    images: str = ""  # the folder the CSV's image paths are relative to
    labels: str = ""  # the CSV
    image_column: str = "image"
    score_column: str = "mos"
    group_column: str = ""  # images of one group never fall on both sides of a split; "" = each image its own
    higher_is_better: bool = True
    range: list[float] = field(default_factory=list)  # [low, high] of the published scale
    size: Any = field(default_factory=lambda: [512, 512])  # own | [width, height]: the protocol's resize

    def check_more(self, need, name: str) -> None:
        for key in ("images", "labels", "image_column", "score_column"):
            need(getattr(self, key) != "", f"{name}.{key}", "missing")
        low_high = self.range
        # a finite width too: scores are (mos - low) / (high - low), all 0 where it overflows
        need(len(low_high) == 2 and low_high[0] < low_high[1] and math.isfinite(low_high[1] - low_high[0]),
             f"{name}.range", f"expected [low, high] of the published scale, low below high, both finite and "
                              f"their difference too, got {low_high}")
        size = self.size
        need(size == OWN_SIZE or isinstance(size, list) and len(size) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and SIDE.admits(v) for v in size), f"{name}.size",
             f"expected own or [width, height] with each side {SIDE}, got {size!r}")


OVERRIDABLE = ("split", "augment", "model", "loss", "train", "tune")
SECTIONS = ("runtime", "download", "split", "augment", "model", "loss", "train", "tune", "report", "cross")
