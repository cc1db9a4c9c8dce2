"""Finished splits as the stages after training read them back (evaluate, cross, report): each one
belongs where it lies, and the splits of a summary belong together.

A split's folder is runs/train/<dataset>/<variant>/split<k>/, but nothing stops a file from another
folder landing there (a copy by hand, a retrain killed half-way, a stale folder). Each reader
therefore checks what the files say of themselves: run.json names its dataset, variant and split;
model.pt its dataset, variant and crops; the splits of one dataset and variant were trained with the same
settings, inputs and code, but for the split itself; and the variants of one dataset alike, but for
the variant. A mismatch stops with one line naming the file and the setting.
"""
from __future__ import annotations

from pathlib import Path

from pmtiqa.core.errors import UserError
from pmtiqa.core.readers import read_json

# What may differ between the runs of one summary: the split itself and its own image ids.
PER_SPLIT = ("split", "inputs.parts")
PER_VARIANT = ("variant",)  # and, between the variants of one dataset, the variant


def flat(settings: dict, prefix: str = "") -> dict:
    """A run.json's nested settings as {"train.epochs": 30, ...}."""
    out = {}
    for key, value in settings.items():
        out |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
    return out


def read_run(path: Path, rerun: str) -> dict:
    """A run.json as `pmtiqa train` wrote it: an object whose settings are one."""
    run = read_json(path, rerun)
    if not isinstance(run, dict) or not isinstance(run.get("settings"), dict):
        raise UserError(f"{path}: not a run.json written by `pmtiqa train`; {rerun}")
    return run


def run_identity(run: dict) -> dict:
    """A read run.json's settings, inputs and code, flat."""
    return flat(run["settings"]) | flat({"inputs": run.get("inputs", {}), "code": run.get("code", {})})


def without(identity: dict, keys: tuple[str, ...]) -> dict:
    return {k: v for k, v in identity.items() if not any(k == p or k.startswith(p + ".") for p in keys)}


def check_runs(dataset: str, variant: str, runs: list[Path], rerun: str) -> list[dict]:
    """The run.json of each split of dataset/variant (``runs``, split k at k) names that dataset,
    variant and split, and all were trained alike but for the split; each one as read, so that no
    caller reads it again."""
    recorded = [read_run(path, rerun) for path in runs]
    identities = [run_identity(run) for run in recorded]
    for k, (path, identity) in enumerate(zip(runs, identities)):
        for key, wanted in (("dataset", dataset), ("variant", variant), ("split", k)):
            if identity.get(key) != wanted:
                raise UserError(f"{path}: a run of {key} {identity.get(key)!r}, where {wanted!r} is expected; {rerun}")
    for path, identity in zip(runs[1:], identities[1:]):
        check_alike(runs[0], identities[0], path, identity, PER_SPLIT, rerun)
    return recorded


def check_alike(first_path: Path, first: dict, path: Path, other: dict, free: tuple[str, ...], rerun: str) -> None:
    """Stop, naming the first setting that differs, where two runs differ beyond ``free``: a kill or a
    failure in a retrain leaves finished splits of the old settings beside new ones, and one summary
    over both would mix two experiments."""
    first, other = without(first, free), without(other, free)
    for key in sorted(first.keys() | other.keys()):
        if first.get(key) != other.get(key):
            raise UserError(f"{path}: trained with {key} {other.get(key)!r} where {first_path} has "
                            f"{first.get(key)!r}; {rerun}")


def check_variants_alike(first_runs: dict[str, Path], recorded: dict[str, dict], rerun: str) -> None:
    """The variants of one dataset (each one's first split's run.json: its path and what it holds)
    trained alike but for the variant: one header describes them all."""
    names = list(first_runs)
    for v in names[1:]:
        check_alike(first_runs[names[0]], run_identity(recorded[names[0]]), first_runs[v], run_identity(recorded[v]),
                    PER_SPLIT + PER_VARIANT, rerun)


# What model.pt says of itself (save_model), and the setting of run.json that must agree
MODEL_KEYS = {"dataset": "dataset", "variant": "variant", "backbone": "model.backbone",
              "crop_size": "train.crop_size", "test_crops": "train.test_crops"}


def check_model(path: Path, saved: dict, run: dict, rerun: str) -> None:
    """A read model.pt (compute/model_file.read_model) is the model of the run beside it, the run.json
    that check_runs read and held to the folder."""
    identity = run_identity(run)
    for key, setting in MODEL_KEYS.items():
        if setting in identity and saved.get(key) != identity[setting]:
            raise UserError(f"{path}: a model of {key} {saved.get(key)!r}, where its run.json has {setting} "
                            f"{identity[setting]!r}; {rerun}")
