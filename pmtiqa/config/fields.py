"""YAML mappings -> typed, checked dataclasses, stopping on the first bad value with one line that
names the file and the key path (``train.batch_size``).

PyYAML's safe loader, but a key given twice in one mapping is refused (YAML keeps the last one
silently). Values are converted by the dataclass field's annotation: ``1e-4`` (a string to YAML)
is the number it means, a boolean is never taken for a string (YAML 1.1 reads ``off`` as false),
and no float may be NaN or infinite. A field made with ``setting`` carries the range (Bounds) or the
choices its value must lie in, which ``Section.check`` holds it to; Blame names the key at fault.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pmtiqa.core.errors import UserError


class ParamsError(UserError):
    """A params file that cannot be used; the message names the file and key."""


def fail(source: str, key: str, message: str) -> typing.NoReturn:
    raise ParamsError(f"{source}: {key or '<top level>'}: {message}")


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path``; a ParamsError that names the file where it cannot be read."""
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
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {_yaml_problem(err)}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be followed by keys it sets
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                raise yaml.constructor.ConstructorError(None, None, f"a key that is a {type(key).__name__}",
                                                        key_node.start_mark)
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


def build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    """An instance of the dataclass ``cls`` from the mapping ``raw``: unknown keys refused, absent
    ones at their defaults (those without one are missing)."""
    if not isinstance(raw, dict):
        fail(source, prefix, f"expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "source"}
    unknown = sorted(set(raw) - set(fields), key=str)
    if unknown:
        fail(source, join(prefix, str(unknown[0])), f"unknown key (known: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        key = join(prefix, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                fail(source, key, "missing")
            continue
        values[name] = convert(hints[name], raw[name], source, key)
    return cls(**values)


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def convert(tp: Any, value: Any, source: str, key: str) -> Any:
    """``value`` as the type ``tp`` declares, or a ParamsError naming ``key``."""
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, {} if value is None else value, source, key)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return convert(next(a for a in typing.get_args(tp) if a is not type(None)), value, source, key)
    if origin is list:
        if not isinstance(value, list):
            fail(source, key, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [convert(item, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            fail(source, key, f"expected a mapping, got {value!r}")
        _, item = typing.get_args(tp)
        return {str(k): convert(item, v, source, f"{key}.{k}") for k, v in value.items()}
    return _scalar(tp, value, source, key)


def _scalar(tp: type, value: Any, source: str, key: str) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            fail(source, key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(source, key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(source, key, f"expected a number, got {value!r}")
        if not math.isfinite(value):  # YAML's .inf and .nan: numbers no setting means
            fail(source, key, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool):
            fail(source, key, f"expected a string, got the boolean {value!r} (YAML reads off/no/on/yes "
                              f"as booleans: quote the word)")
        if not isinstance(value, str):
            fail(source, key, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported params type {tp} at {key}")


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


def setting(default: Any, bounds: Bounds | None = None, choices: tuple = ()) -> Any:
    """A field with the range or the choices its value must lie in (checked by ``Section.check``)."""
    metadata = {"bounds": bounds, "choices": choices}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


class Section:
    """A params section: every field within its bounds and choices, then the section's own checks."""

    def check(self, need: typing.Callable[[bool, str, str], None], name: str) -> None:
        for f in dataclasses.fields(self):
            value, key = getattr(self, f.name), f"{name}.{f.name}"
            bounds, choices = f.metadata.get("bounds"), f.metadata.get("choices")
            if bounds is not None and not isinstance(value, list):
                need(bounds.admits(value), key, f"must be {bounds}, got {value!r}")
            if choices:
                need(value in choices, key, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        self.check_more(need, name)

    def check_more(self, need, name: str) -> None:
        pass


@dataclass(frozen=True)
class Blame:
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
                fail(self.source, f"overrides.{self.dataset}.{candidate}", message)
        if self.overridden:
            message = f"{message} (for {self.dataset}, with overrides.{self.dataset} applied)"
        fail(self.source, key, message)

    def _set_by_override(self, key: str) -> bool:
        parts = re.sub(r"\[\d+\]", "", key).split(".")  # tune.lr[0] was set by an override of tune.lr
        return any(".".join(parts[:n]) in self.overridden for n in range(2, len(parts) + 1))
