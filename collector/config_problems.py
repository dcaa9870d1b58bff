"""How a configuration problem is told: a pydantic error as one line with its code, the field's
full path, where the value came from (file or variable), the constraint and the given value
(masked for a secret), a suggestion for a mistyped key; and the keys a YAML file writes twice."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, get_args

import yaml

from collector.config import AppConfig, NestedValueError
from collector.errors import ErrorCode
from collector.masking import SECRET_KEYS, mask_value


def duplicate_keys(text: str) -> list[str]:
    """Every key written twice in one mapping, at any level, naming both lines.

    YAML itself keeps the last one silently: a pasted `exchange_configs:` block below an existing
    one would replace every exchange above it.
    """
    found: list[tuple[int, str]] = []
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    pending: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())] if root is not None else []
    visited: set[int] = set()
    while pending:
        node, path = pending.pop()
        if id(node) in visited:
            continue  # an alias of a node already walked
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend((item, (*path, str(i))) for i, item in enumerate(node.value))
        if not isinstance(node, yaml.MappingNode):
            continue
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or key == "<<":
                continue
            line = key_node.start_mark.line + 1
            if key in first_line:
                found.append((line, f"duplicate key '{dotted((*path, key))}' at line {line} (first at "
                                    f"line {first_line[key]}); YAML would keep only the last one: merge the two"))
            else:
                first_line[key] = line
            pending.append((value_node, (*path, key)))
    return [message for _, message in sorted(found)]


def describe(error: Any, sources: Mapping[str, str]) -> tuple[ErrorCode, str]:
    loc = tuple(str(part) for part in error["loc"])
    given = error.get("input")
    message = error["msg"].removeprefix("Value error, ")
    nested = (error.get("ctx") or {}).get("error")
    if isinstance(nested, NestedValueError):  # inside a mapping: the path goes on to the leaf
        loc, given, message = (*loc, *nested.where), nested.given, nested.message
    path = dotted(loc)
    origin = _origin(loc, sources)
    where = f"{path} {origin}" if origin else path
    kind = error["type"]
    if kind == "missing":
        return ErrorCode.CONFIG_002, f"{where}: required field is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return ErrorCode.CONFIG_003, f"{where}: unknown key{suggestion(loc[-1], allowed)}"
    if not loc:  # a check across sections: its message names the fields; the input is the whole file
        return ErrorCode.CONFIG_003, message
    shown = mask_value(given) if any(part in SECRET_KEYS for part in loc) else short_repr(given)
    return ErrorCode.CONFIG_003, f"{where}: {message} (given: {shown})"


def _origin(loc: tuple[str, ...], sources: Mapping[str, str]) -> str:
    for end in range(len(loc), 0, -1):
        found = sources.get(".".join(loc[:end]).lower())
        if found:
            return f"[{found}]"
    return ""


def _allowed_keys(loc: tuple[str, ...]) -> list[str]:
    model: Any = AppConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            # A mapping level (exchange_configs.<name>): step into its value type.
            args = get_args(model)
            model = args[-1] if args else None
            continue
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def suggestion(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) if path else "(top level)"


def short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
