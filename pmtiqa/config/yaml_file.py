"""A params file as YAML: PyYAML's safe loader, but a key given twice in one mapping is refused
(YAML keeps the last one silently), and every failure is one ParamsError naming the file."""
from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml

from pmtiqa.config.fields import ParamsError


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
