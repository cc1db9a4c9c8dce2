"""model.pt: what a trained split hands to `pmtiqa predict`, written by save_model and read back by
read_model (checked key by key before any of it is used) and model_from (the network it holds).

It holds the kept epoch's weights and what scoring an image needs: the variant and backbone, the
dataset's published scale, the crops, the regression head's target scale, and the size images
are resized to (None where the training images kept their own sizes; max_image_size then bounds
the size an image is scored at), and how its training images were decoded (``decode``, which
predict repeats; absent in an older model.pt: upright).
"""
from __future__ import annotations

import io
import math
import pickle
import warnings
from pathlib import Path

import torch

from pmtiqa.core.atomic import atomic_path
from pmtiqa.core.errors import UserError
from pmtiqa.data.images import DECODINGS, UPRIGHT
from pmtiqa.method.model import STAGE_CHANNELS, build_model
from pmtiqa.method.variants import VARIANTS

NOT_A_MODEL = "not a model.pt written by `pmtiqa train`"
# What predict reads of a model.pt; save_model writes these and a few more.
CHECKPOINT_KEYS = ("state_dict", "variant", "backbone", "num_classes", "score_bounds", "crop_size",
                   "test_crops", "image_size")


def read_model(checkpoint: Path) -> dict:
    """The dict a model.pt holds, checked before any of it is used."""
    if not checkpoint.is_file():
        raise UserError(f"{checkpoint}: no such model file (train one with `pmtiqa train`)")
    if checkpoint.stat().st_size == 0:
        raise UserError(f"{checkpoint}: an empty file, {NOT_A_MODEL}")
    saved = load_tensors(checkpoint, NOT_A_MODEL)
    check_model(checkpoint, saved)
    saved.setdefault("decode", UPRIGHT)  # a model.pt of an older pmtiqa: its images were decoded upright
    return saved


def load_tensors(path: Path, not_what: str, fix: str = "") -> object:
    """What a torch file holds, read weights_only: a crafted pickle runs no code, and is refused. A file
    that cannot be loaded is one line naming it, saying it is ``not_what`` and ending with ``fix``; one
    that cannot be read at all stays an OSError, which the command line names."""
    fix = f"; {fix}" if fix else ""
    try:
        with warnings.catch_warnings():  # torch warns of a pickle protocol it did not write: noise here
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except pickle.UnpicklingError:
        # torch's own message advises weights_only=False, which would run any code the file holds
        raise UserError(f"{path}: {not_what}: damaged, or holds objects other than tensors and "
                        f"plain values (refused unread: loading those could run code){fix}") from None
    except Exception as err:  # torch raises RuntimeError, EOFError, KeyError, ... for a damaged file
        raise UserError(f"{path}: {not_what}: truncated or damaged ({type(err).__name__}){fix}") from None


def save_tensors(content: dict, path: Path) -> None:
    """torch.save into memory, then the bytes to ``path``: a write that fails (a full disk) is an
    OSError naming the file, where torch's own writer, given a path or a file that writes short,
    gives a RuntimeError ("enforce fail at inline_container.cc") that says neither."""
    buffer = io.BytesIO()
    torch.save(content, buffer)
    try:
        with open(path, "wb") as file:
            file.write(buffer.getbuffer())
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from None


def check_model(checkpoint: Path, saved: object) -> None:
    """Name what a loaded model.pt lacks before any of it is used."""
    if not isinstance(saved, dict):
        raise UserError(f"{checkpoint}: holds a {type(saved).__name__}, {NOT_A_MODEL} (which holds a dict)")
    missing = [key for key in CHECKPOINT_KEYS if key not in saved]
    if missing:
        raise UserError(f"{checkpoint}: lacks {', '.join(missing)}; {NOT_A_MODEL}")
    if saved["variant"] not in VARIANTS:
        raise UserError(f"{checkpoint}: variant {saved['variant']!r} is unknown (known: {', '.join(VARIANTS)})")
    if saved["backbone"] not in STAGE_CHANNELS:
        raise UserError(f"{checkpoint}: backbone {saved['backbone']!r} is unknown "
                        f"(known: {', '.join(STAGE_CHANNELS)})")
    if not isinstance(saved["state_dict"], dict):
        raise UserError(f"{checkpoint}: state_dict is a {type(saved['state_dict']).__name__}, not a dict of weights")
    broken = next((name for name, value in saved["state_dict"].items() if isinstance(value, torch.Tensor)
                   and value.is_floating_point() and not torch.isfinite(value).all()), None)
    if broken is not None:  # every score it gave would be NaN
        raise UserError(f"{checkpoint}: weight {broken} holds NaN or infinite values; train this split again")
    bounds = saved.get("score_bounds")
    if not (isinstance(bounds, (list, tuple)) and len(bounds) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bounds[:2])
            and bounds[0] < bounds[1] and isinstance(bounds[2], bool)):
        raise UserError(f"{checkpoint}: score_bounds is {bounds!r}, not [low, high, higher_is_better]")
    for key in ("crop_size", "test_crops", "num_classes"):
        if not is_positive_int(saved[key]):
            raise UserError(f"{checkpoint}: {key} is {saved[key]!r}, not a positive whole number")
    scale = saved.get("target_scale", 1.0)  # absent: written before loss.target, when every head learnt 0..1
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise UserError(f"{checkpoint}: target_scale is {scale!r}, not a positive number (the regression head's "
                        f"output per unit of score)")
    if saved.get("decode", UPRIGHT) not in DECODINGS:  # absent: written before augment.decode, upright
        raise UserError(f"{checkpoint}: decode is {saved['decode']!r}, not one of {', '.join(DECODINGS)}")
    image_sizes = {"image_size": saved["image_size"]} if saved["image_size"] is not None else \
        {"max_image_size": saved.get("max_image_size")}  # an image kept at its own size is shrunk to fit these
    for key, value in image_sizes.items():
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_positive_int, value))):
            raise UserError(f"{checkpoint}: {key} is {value!r}, not a (width, height) in pixels")


def is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def model_from(checkpoint: Path, saved: dict, device: torch.device) -> torch.nn.Module:
    """The network a checked model.pt holds, on ``device``, for inference."""
    model = build_model(saved["variant"], saved["backbone"], "none", saved["num_classes"])
    if any(str(k).startswith("features.reduce.") and str(k).endswith(".bias") for k in saved["state_dict"]):
        raise UserError(f"{checkpoint}: written by an older pmtiqa, whose MS taps had a bias (the authors' "
                        f"have none); train it again with `pmtiqa train`")
    try:
        model.load_state_dict(saved["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as err:  # keys or shapes of another network
        raise UserError(f"{checkpoint}: its weights do not fit a {saved['variant']} network on "
                        f"{saved['backbone']} ({first_detail(err)})") from None
    return model.to(device, memory_format=torch.channels_last).eval()


def first_detail(err: Exception) -> str:
    """The first line that says what is wrong: load_state_dict's message is a heading, then a line each."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(err).__name__)
    return detail if len(detail) <= 200 else detail[:200] + "..."


def save_model(path: Path, state_dict: dict, *, variant: str, backbone: str, num_classes: int, dataset: str,
               score_bounds: list, crop_size: int, test_crops: int, target_scale: float,
               image_size: list[int] | None, max_image_size: list[int], epoch: int, decode: str) -> None:
    """Write model.pt atomically: a reader never sees half of one. ``decode``: how the training images
    were decoded (data/images.py), which predict repeats."""
    with atomic_path(path) as tmp:
        save_tensors({"state_dict": state_dict, "variant": variant, "backbone": backbone, "num_classes": num_classes,
                    "dataset": dataset, "score_bounds": score_bounds, "crop_size": crop_size,
                    "test_crops": test_crops, "target_scale": target_scale, "image_size": image_size,
                    "max_image_size": max_image_size, "epoch": epoch, "decode": decode}, tmp)
