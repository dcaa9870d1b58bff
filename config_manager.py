"""Loads the configuration in layers and validates it into `collector.config.AppConfig`.

    YAML file → ${VAR} / ${VAR:-default} expansion inside values → `.env` (python-dotenv; the
    real environment wins) → CRYPTO_COLLECTOR_<SECTION>__<FIELD> overrides (pydantic-settings'
    own parser) → pydantic validation.

Every problem is collected, not just the first, and raised as one `ConfigError` whose lines
carry a code (CONFIG_001/002/003), the full field path, the constraint and the given value —
masked where the field is a secret — and, for an override, the variable's name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_origin

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.config import AppConfig
from collector.config_problems import describe, dotted, duplicate_keys, suggestion
from collector.errors import ConfigError, ErrorCode
from collector.settings_adapter import parse_environment
from collector.shard import hostname

ENV_PREFIX = "CRYPTO_COLLECTOR_"
_EXPANSION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Problems = list[tuple[ErrorCode, str]]


class ConfigManager:
    def __init__(self, path: str | os.PathLike[str] = "config/default.yaml", *,
                 environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path)
        self._environ = os.environ if environ is None else environ
        # `.env` sits in the working directory the daemon is started from (systemd: WorkingDirectory).
        self.env_file = Path(env_file) if env_file is not None else Path.cwd() / ".env"

    def load_config(self) -> AppConfig:
        """The validated AppConfig, or ConfigError listing every problem found."""
        data = self._read_yaml()
        dotenv = self._read_dotenv()
        environ = {**dotenv, **self._environ}
        problems: Problems = []
        data = _expand(data, environ, _file_defaults(data, problems), (), problems)
        overrides, sources = self._overrides(dotenv, problems)
        data = _deep_merge(data, overrides)
        try:
            config = AppConfig.model_validate(data, context={"hostname": environ.get("HOSTNAME") or hostname()})
        except ValidationError as err:
            problems.extend(describe(error, sources) for error in err.errors())
            config = None
        if problems:
            raise ConfigError(problems)
        assert config is not None
        return config

    def _read_yaml(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise _fail(ErrorCode.CONFIG_001, f"{self.path}: config file not found") from None
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or str(err)
            raise _fail(ErrorCode.CONFIG_001, f"{self.path}: cannot read config file: {reason}") from None
        try:
            duplicates = duplicate_keys(text)
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
            raise _fail(ErrorCode.CONFIG_001, f"{self.path}: invalid YAML at {where}: {err.problem or err}") from None
        except yaml.YAMLError as err:
            raise _fail(ErrorCode.CONFIG_001, f"{self.path}: invalid YAML: {err}") from None
        if duplicates:
            raise ConfigError([(ErrorCode.CONFIG_001, f"{self.path}: {duplicate}") for duplicate in duplicates])
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise _fail(ErrorCode.CONFIG_001,
                        f"{self.path}: the top level must be a mapping of keys, got {type(data).__name__}")
        return data

    def _read_dotenv(self) -> dict[str, str]:
        if not self.env_file.is_file():
            return {}
        return {key: value for key, value in dotenv_values(self.env_file).items() if value is not None}

    def _overrides(self, dotenv: Mapping[str, str], problems: Problems) -> tuple[dict[str, Any], dict[str, str]]:
        """Overrides from .env then the environment (which wins), and where each path came from."""
        settings_cls = _settings_class()
        layers = []
        for names in (dotenv, self._environ):
            layers.append(_json_leaves(parse_environment(settings_cls, names)))
        sources: dict[str, str] = {}
        for origin, names in ((".env", dotenv), ("environment", self._environ)):
            for name in names:
                if not name.upper().startswith(ENV_PREFIX):
                    continue
                path = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
                if path[0] not in AppConfig.model_fields:
                    problems.append((ErrorCode.CONFIG_003,
                                     f"{name} (from {origin}): no config field '{path[0]}' to override"
                                     f"{suggestion(path[0], AppConfig.model_fields)}"))
                    continue
                sources[".".join(path)] = f"{name} (from {origin})"
        return _deep_merge(layers[0], layers[1]), sources


def _json_leaves(value: Any) -> Any:
    """A variable's value written as a JSON list or mapping (`CRYPTO_COLLECTOR_RABBITMQ__HOSTS=
    '["mq1:5672"]'`) becomes one, at any depth; anything else stays the text it was."""
    if isinstance(value, dict):
        return {key: _json_leaves(item) for key, item in value.items()}
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _settings_class() -> type[BaseSettings]:
    """A BaseSettings mirror of AppConfig: sections and mappings exploded on `__`, scalars raw,
    so that all type checking happens once, in AppConfig."""
    fields: dict[str, Any] = {}
    for name, field in AppConfig.model_fields.items():
        annotation = field.annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        is_mapping = get_origin(annotation) is dict
        fields[name] = (dict[str, Any], {}) if nested or is_mapping else (Any, None)
    model = create_model("EnvOverrides", __base__=BaseSettings, **fields)
    model.model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False, extra="ignore",
    )
    return model


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [value] if isinstance(value, str) else []


def _file_defaults(data: Any, problems: Problems) -> dict[str, str]:
    """`${VAR:-default}` written once gives its default to every plain `${VAR}` of the file, so
    an address used in many values is named in one place (config/simulator.yaml)."""
    defaults: dict[str, str] = {}
    for text in _strings(data):
        for match in _EXPANSION.finditer(text):
            name, default = match.group(1), match.group(2)
            if name is None or default is None:
                continue
            if defaults.setdefault(name, default) != default:
                problems.append((ErrorCode.CONFIG_003, f"${{{name}}} has two different defaults in the file: "
                                 f"{defaults[name]!r} and {default!r}; give it one"))
    return defaults


def _expand(value: Any, environ: Mapping[str, str], defaults: Mapping[str, str], path: tuple[str, ...],
            problems: Problems) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, environ, defaults, (*path, str(key)), problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, environ, defaults, (*path, str(i)), problems) for i, item in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if default is None:
            default = defaults.get(name)
        if name in environ and (environ[name] != "" or default is None):
            return environ[name]
        if default is not None:
            return default
        problems.append((ErrorCode.CONFIG_002,
                         f"{dotted(path)}: environment variable {name} is not set and has no default "
                         f"(write ${{{name}:-default}} to give one)"))
        return ""

    expanded = _EXPANSION.sub(substitute, value)
    # A whole-value reference like `port: ${PORT}` gets the type YAML would give the text.
    if _EXPANSION.fullmatch(value) and expanded != "":
        try:
            parsed = yaml.safe_load(expanded)
        except yaml.YAMLError:
            return expanded
        if isinstance(parsed, (int, float, bool)):
            return parsed
    return expanded


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        match = next((k for k in merged if isinstance(k, str) and k.lower() == key.lower()), key)
        if isinstance(value, Mapping) and isinstance(merged.get(match), Mapping):
            merged[match] = _deep_merge(dict(merged[match]), value)
        else:
            merged[match] = value
    return merged


def _fail(code: ErrorCode, message: str) -> ConfigError:
    return ConfigError([(code, message)])
