"""Mappings read from YAML -> typed, checked dataclasses, stopping on the first bad value with one
line that names the file and the key path (``train.batch_size``).

Values are converted by the dataclass field's annotation: ``1e-4`` (a string to YAML) is the number
it means, a boolean is never taken for a string (YAML 1.1 reads ``off`` as false), and no float may
be NaN or infinite. A field made with ``setting`` carries the range (Bounds) or the choices its
value must lie in, which ``Section.check`` holds it to.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pmtiqa.core.errors import UserError

FLOAT_MAX = sys.float_info.max
INT_MAX = 10**18 - 1  # within a 64-bit integer


class ParamsError(UserError):
    """A params file that cannot be used; the message names the file and key."""


def fail(source: str, key: str, message: str) -> typing.NoReturn:
    raise ParamsError(f"{source}: {key or '<top level>'}: {message}")


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
        if value is None:  # a mapping whose keys are all commented out: empty, as a section so left keeps its defaults
            value = {}
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
        if not -INT_MAX <= value <= INT_MAX:  # torch and numpy take 64-bit integers: beyond, a traceback
            fail(source, key, f"expected an integer of at most 18 digits, got one of {len(str(abs(value)))}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(source, key, f"expected a number, got {value!r}")
        if isinstance(value, int) and not -FLOAT_MAX <= value <= FLOAT_MAX:  # no float holds it
            fail(source, key, f"expected a finite number, got an integer of {len(str(abs(value)))} digits")
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
