"""YAML mappings -> typed dataclasses, stopping on the first bad value with one line that names the
file and the key path (``train.batch_size``).

PyYAML's safe loader, but a key given twice in one mapping is refused (YAML keeps the last one
silently). Values are converted by the dataclass field's annotation: ``1e-4`` (a string to YAML)
is the number it means, a boolean is never taken for a string (YAML 1.1 reads ``off`` as false),
and no float may be NaN or infinite.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from pmtiqa.errors import UserError


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
