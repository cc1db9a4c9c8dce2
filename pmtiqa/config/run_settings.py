"""What decides a training run's result, in plain sight: its settings (a dataset's view of params.yaml,
tuned values in place), its inputs and its code (pmtiqa/stages.py). run.json and checkpoint.pt
record Settings.identity(); a finished split is reused, and a checkpoint resumed, only where the
recorded identity is equal."""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from pmtiqa.config.fields import convert, fail
from pmtiqa.config.params import RANGES, DatasetParams, Params
from pmtiqa.config.sections import TUNABLE_SETTINGS, LossParams, ModelParams, TrainParams
from pmtiqa.core.errors import UserError
from pmtiqa.core.readers import read_json
from pmtiqa.method.variants import get_variant


@dataclass(frozen=True)
class Settings:
    """Everything that decides a split's result: its settings (tuned values in place), its inputs and
    its code."""

    dataset: str
    variant: str
    split: int
    model: ModelParams
    loss: LossParams
    train: TrainParams
    inputs: dict = field(default_factory=dict)  # what the run reads (DeviceData.inputs)
    code: dict = field(default_factory=dict)  # the train stage's code identity (stages.code_identity)

    def identity(self) -> dict:
        """The settings, inputs and code as plain JSON values, as run.json and checkpoint.pt record
        them: a finished split is reused, and a checkpoint resumed, only where the recorded identity
        is equal. use_tuned only says where lr and the like came from; their values are in train."""
        settings = {"dataset": self.dataset, "variant": self.variant, "split": self.split,
                    "model": dataclasses.asdict(self.model), "loss": dataclasses.asdict(self.loss),
                    "train": {k: v for k, v in dataclasses.asdict(self.train).items() if k != "use_tuned"}}
        return json.loads(json.dumps({"settings": settings, "inputs": self.inputs, "code": self.code}))


def what_differs(recorded: object, wanted: dict) -> str:
    """In words, what of a recorded identity differs from the wanted one: its settings, its inputs,
    or its code (naming the modules that changed); "" where nothing does."""
    recorded = recorded if isinstance(recorded, dict) else {}
    differs = [part for part in wanted if recorded.get(part) != wanted[part]]
    words = [f"other {part}" for part in differs if part != "code"]
    if "code" in differs:
        old, new = (dict(identity.get("modules") or {}) for identity in (recorded.get("code") or {}, wanted["code"]))
        changed = sorted(m for m in old.keys() | new.keys() if old.get(m) != new.get(m))
        words.append(f"other code ({', '.join(changed)})" if changed else "other code")
    return ", ".join(words)


def tuned_values(params: DatasetParams, path: Path) -> dict:
    """The tuned hyperparameters of best.json (tune's answer), when present and allowed."""
    if not params.train.use_tuned or not path.is_file():
        return {}
    rerun = "run `pmtiqa tune` for this dataset again"
    best = read_json(path, rerun)
    if not isinstance(best, dict) or "params" not in best:
        raise UserError(f"{path}: not a best.json written by `pmtiqa tune`; {rerun}")
    return check_tuned(best["params"], str(path))  # a hand-edited value is held to its setting's range


def apply_tuned(train: TrainParams, loss: LossParams, values: dict) -> tuple[TrainParams, LossParams]:
    """train and loss with tuned values in place: gamma is the loss's, the others train's."""
    return (dataclasses.replace(train, **{k: v for k, v in values.items() if k != "gamma"}),
            dataclasses.replace(loss, gamma=values.get("gamma", loss.gamma)))


def settings_for(params: DatasetParams, variant: str, split: int, inputs: dict, tuned: dict,
                 code: dict | None = None) -> Settings:
    """The settings of one split of the dataset ``params`` are the view of, ``tuned`` values in place."""
    train, loss = apply_tuned(params.train, params.loss, tuned)
    return Settings(params.dataset, get_variant(variant).name, split, params.model, loss, train, inputs, code or {})


def check_tuned(values: dict, source: str) -> dict:
    """The values of a runs/tune/<ds>/best.json ``params`` mapping, typed and checked like the settings
    they replace (RANGES, TUNABLE_SETTINGS): the file may be edited by hand. A ParamsError names
    ``source`` and the key (``params.lr``) of a value that is not a tunable setting's or is out of range."""
    if not isinstance(values, dict):
        fail(source, "params", f"expected a mapping of tuned values, got {type(values).__name__}")
    checked = {}
    for name, value in values.items():
        key = f"params.{name}"
        if name not in TUNABLE_SETTINGS:
            fail(source, key, f"not a tunable setting (tunable: {', '.join(TUNABLE_SETTINGS)})")
        setting_key = TUNABLE_SETTINGS[name]
        section, field_name = setting_key.split(".")
        tp = typing.get_type_hints(typing.get_type_hints(Params)[section])[field_name]
        checked[name] = convert(tp, value, source, key)
        if not RANGES[setting_key].admits(checked[name]):
            fail(source, key, f"must be {RANGES[setting_key]} (as {setting_key}), got {value!r}")
    return checked
