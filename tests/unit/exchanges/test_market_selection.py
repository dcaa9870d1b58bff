"""Which markets are collected, and the ccxt constructor config the user's options win over."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from collector.config import ExchangeConfig
from collector.errors import ConfigError
from collector.exchanges.market_selection import (
    ccxt_config, check_symbols, deep_merge, is_linear_perpetual, linear_perpetuals, unknown_symbols,
    wanted_symbols,
)


def market(symbol: str, **overrides: object) -> dict:
    base, _, rest = symbol.partition("/")
    quote, _, settle = rest.partition(":")
    fields = {"symbol": symbol, "swap": bool(settle), "linear": settle == quote, "settle": settle or None,
              "quote": quote, "active": True}
    return {**fields, **overrides}


MARKETS = {m["symbol"]: m for m in (
    market("BTC/USDT:USDT"),
    market("ETH/USDT:USDT"),
    market("SOL/USDT:USDT", active=False),  # delisted
    market("BTC/USD:BTC", linear=False),  # inverse, settled in the base coin
    market("BTC/USDT"),  # spot
    market("ETH/USDC:USDT", linear=True),  # marked linear, but settled in another currency than its quote
    market("DOGE/USDT:USDT", active=None),  # ccxt's "unknown": still listed
)}


def test_only_active_linear_perpetuals_settled_in_their_quote_are_collected():
    assert linear_perpetuals(MARKETS) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "DOGE/USDT:USDT"}
    assert not is_linear_perpetual(MARKETS["BTC/USD:BTC"])
    assert not is_linear_perpetual(MARKETS["SOL/USDT:USDT"])


def test_an_empty_symbol_list_means_every_linear_perpetual():
    assert wanted_symbols((), MARKETS) == linear_perpetuals(MARKETS)


def test_configured_symbols_are_collected_while_they_are_listed():
    assert wanted_symbols(("BTC/USDT:USDT", "SOL/USDT:USDT", "NOPE/USDT:USDT"), MARKETS) == {"BTC/USDT:USDT"}


def test_a_configured_symbol_that_is_not_an_active_linear_perpetual_is_unknown():
    configured = ["BTC/USDT:USDT", "BTC/USD:BTC", "SOL/USDT:USDT", "NOPE/USDT:USDT"]
    assert unknown_symbols(configured, MARKETS) == ["BTC/USD:BTC", "SOL/USDT:USDT", "NOPE/USDT:USDT"]


def test_check_symbols_names_every_unknown_symbol_with_examples_as_config_003():
    with pytest.raises(ConfigError) as caught:
        check_symbols("okx", "okx", ["NOPE/USDT:USDT", "BTC/USDT:USDT", "ZZZ/USDT:USDT"], MARKETS)
    assert [code for code, _ in caught.value.problems] == ["CONFIG_003", "CONFIG_003"]
    first, second = (message for _, message in caught.value.problems)
    assert first.startswith("exchange_configs.okx.symbols: unknown symbol 'NOPE/USDT:USDT' on okx")
    assert "e.g. BTC/USDT:USDT, DOGE/USDT:USDT, ETH/USDT:USDT" in first
    assert "'ZZZ/USDT:USDT'" in second
    check_symbols("okx", "okx", ["BTC/USDT:USDT"], MARKETS)  # all known: no error


def test_deep_merge_merges_nested_mappings_and_replaces_everything_else():
    base = {"options": {"defaultType": "swap", "fetchMarkets": {"types": ["linear"]}}, "timeout": 30}
    merged = deep_merge(base, {"options": {"fetchMarkets": {"types": ["swap"]}, "x": 1}, "timeout": 5})
    assert merged == {"options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}, "x": 1},
                      "timeout": 5}
    assert base["options"]["fetchMarkets"] == {"types": ["linear"]}, "the base is not modified"


def test_ccxt_config_carries_rate_limit_timeout_and_the_linear_swap_options():
    built = ccxt_config("binanceusdm", ExchangeConfig(rate_limit=1200, timeout=7.5))
    assert built["enableRateLimit"] is True
    assert built["rateLimit"] == 50.0  # ms per cost unit at 1200 requests per minute
    assert built["timeout"] == 7500
    assert built["options"]["defaultSubType"] == "linear"
    assert "apiKey" not in built and "secret" not in built


def test_ccxt_options_win_over_the_built_config_and_merge_into_its_options():
    config = ExchangeConfig(ccxt_options={"timeout": 1234, "options": {"defaultType": "future"},
                                          "urls": {"api": {"rest": "http://127.0.0.1:9100"}}})
    built = ccxt_config("okx", config)
    assert built["timeout"] == 1234
    assert built["options"] == {"defaultType": "future", "fetchMarkets": {"types": ["swap"]}}
    assert built["urls"] == {"api": {"rest": "http://127.0.0.1:9100"}}


def test_credentials_are_passed_to_ccxt_only_when_set():
    config = ExchangeConfig(api_key=SecretStr("k"), secret=SecretStr("s"), password=SecretStr(""))
    built = ccxt_config("bybit", config)
    assert (built["apiKey"], built["secret"]) == ("k", "s")
    assert "password" not in built
    # bybit's transient 10016 is retried as unavailability, not treated as a bad request
    assert "10016" in built["exceptions"]["exact"]
