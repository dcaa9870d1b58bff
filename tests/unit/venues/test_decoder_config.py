"""`exchange_configs.<name>.decoder`: native where a venue module exists (binanceusdm, bybit,
okx; their default), ccxt everywhere else; native elsewhere is one CONFIG_003 naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.errors import ConfigError
from config_manager import ConfigManager


def load(tmp_path: Path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return ConfigManager(path, environ={}, env_file=tmp_path / "no.env").load_config()


def test_the_three_native_venues_default_to_native_and_every_other_exchange_to_ccxt(tmp_path: Path) -> None:
    config = load(tmp_path, "exchange_configs:\n  binance: {}\n  bybit: {}\n  okx: {}\n  gate: {}\n"
                            "  okx_ref: {ccxt_id: okx, decoder: ccxt}\n")
    decoders = {name: (cfg.ccxt_id, cfg.decoder) for name, cfg in config.exchange_configs.items()}
    assert decoders == {"binance": ("binanceusdm", "native"), "bybit": ("bybit", "native"),
                        "okx": ("okx", "native"), "gate": ("gate", "ccxt"), "okx_ref": ("okx", "ccxt")}


def test_native_on_an_exchange_without_a_venue_module_is_config_003_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "exchange_configs:\n  binance: {}\n  gate:\n    decoder: native\n")
    [(code, message)] = caught.value.problems
    assert code.value == "CONFIG_003"
    assert message.startswith("exchange_configs.gate.decoder: native exists only for ccxt ids "
                              "binanceusdm, bybit, okx")


def test_a_decoder_that_is_neither_is_config_003(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "exchange_configs:\n  binance:\n    decoder: fast\n")
    [(code, message)] = caught.value.problems
    assert code.value == "CONFIG_003" and message.startswith("exchange_configs.binance.decoder")


def test_the_config_names_exactly_the_venues_with_a_native_plan() -> None:
    from collector.config import NATIVE_DECODER_IDS
    from collector.exchanges.native_plans import NATIVE_PLANS
    assert sorted(NATIVE_DECODER_IDS) == sorted(NATIVE_PLANS)
