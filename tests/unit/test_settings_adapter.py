"""The pydantic-settings adapter is written for one range of pydantic-settings: the installed one
is in it and parses the overrides, anything else is refused by version or by what it lacks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector import settings_adapter
from collector.settings_adapter import (
    SUPPORTED_PYDANTIC_SETTINGS, UnsupportedPydanticSettings, check_supported, parse_environment,
)


class Overrides(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRYPTO_COLLECTOR_", env_nested_delimiter="__",
                                      case_sensitive=False, extra="ignore")
    rabbitmq: dict[str, Any] = {}
    ticker_interval: Any = None


def test_the_installed_pydantic_settings_parses_the_names_given_not_the_process_environment(monkeypatch) -> None:
    monkeypatch.setenv("CRYPTO_COLLECTOR_TICKER_INTERVAL", "99")
    parsed = parse_environment(Overrides, {"CRYPTO_COLLECTOR_RABBITMQ__HOST": "mq1",
                                           "crypto_collector_ticker_interval": "15"})
    assert parsed == {"rabbitmq": {"host": "mq1"}, "ticker_interval": "15"}


def test_an_unsupported_pydantic_settings_is_refused_by_name(monkeypatch) -> None:
    monkeypatch.setattr(settings_adapter.metadata, "version", lambda _name: "3.0.0")
    with pytest.raises(UnsupportedPydanticSettings,
                       match=r"pydantic-settings 3\.0\.0 is not supported by collector/settings_adapter\.py"):
        check_supported()
    assert (3, 0) not in SUPPORTED_PYDANTIC_SETTINGS


def test_a_source_without_env_vars_is_refused_by_that_name() -> None:
    with pytest.raises(UnsupportedPydanticSettings, match="EnvSettingsSource lacks env_vars$"):
        check_supported(SimpleNamespace())
