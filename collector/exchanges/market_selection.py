"""What a source collects: the ccxt constructor config, and which markets are linear perpetuals.

Pure functions over plain dicts (ccxt's `markets` mapping and our ExchangeConfig).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ccxt.base import errors as ccxt_errors

from collector.config import DEFAULT_CCXT_IDS, ExchangeConfig
from collector.errors import ConfigError, ErrorCode

# Options so ccxt loads only the linear perpetual swap markets (fewer requests, smaller markets).
LINEAR_SWAP_OPTIONS: Final[Mapping[str, dict[str, Any]]] = {
    "binanceusdm": {"defaultType": "swap", "defaultSubType": "linear",
                    "fetchMarkets": {"types": ["linear"]}},
    "bybit": {"defaultType": "swap", "defaultSubType": "linear",
              "fetchMarkets": {"types": ["linear"]}},
    "okx": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}},
}
_GENERIC_OPTIONS: Final = {"defaultType": "swap", "defaultSubType": "linear"}
# Exchange error codes ccxt classifies as permanent (ExchangeError) that are transient, so they
# are retried and count as the exchange being unavailable (EXCHANGE_001), not a bad request.
ERROR_OVERRIDES: Final[Mapping[str, dict[str, Any]]] = {
    # bybit 10016 "Internal System Error" / "System error. Please try again later." (HTTP 5xx)
    "bybit": {"exact": {"10016": ccxt_errors.ExchangeNotAvailable}},
}


def ccxt_id(name: str, config: ExchangeConfig) -> str:
    return config.ccxt_id or DEFAULT_CCXT_IDS.get(name, name)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def ccxt_config(exchange_id: str, config: ExchangeConfig) -> dict[str, Any]:
    """The ccxt constructor config: rate limit, timeout, linear-swap options, error codes to retry,
    credentials, and the user's `ccxt_options` deep-merged last so they win (urls, proxies,
    options)."""
    built: dict[str, Any] = {
        "enableRateLimit": True,
        # ccxt's rateLimit is milliseconds between requests of cost 1.
        "rateLimit": 60_000 / config.rate_limit,
        "timeout": int(config.timeout * 1000),
        "options": copy.deepcopy(LINEAR_SWAP_OPTIONS.get(exchange_id, _GENERIC_OPTIONS)),
    }
    if exchange_id in ERROR_OVERRIDES:
        built["exceptions"] = copy.deepcopy(ERROR_OVERRIDES[exchange_id])  # merged into ccxt's
    for key, secret in (("apiKey", config.api_key), ("secret", config.secret),
                        ("password", config.password)):
        if secret.get_secret_value():
            built[key] = secret.get_secret_value()
    return deep_merge(built, config.ccxt_options)


def is_linear_perpetual(market: Mapping[str, Any]) -> bool:
    """A swap, linear, settled in its quote currency, and not marked inactive."""
    return bool(
        market.get("swap")
        and market.get("linear")
        and market.get("settle") == market.get("quote")
        and market.get("active") is not False
    )


def linear_perpetuals(markets: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    return frozenset(symbol for symbol, market in markets.items() if is_linear_perpetual(market))


def unknown_symbols(configured: Iterable[str], markets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Configured symbols that are not an active linear perpetual of these markets."""
    return [s for s in configured if s not in markets or not is_linear_perpetual(markets[s])]


def check_symbols(name: str, exchange_id: str, configured: Iterable[str],
                  markets: Mapping[str, Mapping[str, Any]]) -> None:
    """ConfigError (CONFIG_003) naming every configured symbol the exchange does not list."""
    unknown = unknown_symbols(configured, markets)
    if unknown:
        raise ConfigError([
            (ErrorCode.CONFIG_003,
             f"exchange_configs.{name}.symbols: unknown symbol {symbol!r} on {exchange_id} "
             f"(not an active linear perpetual; e.g. {_examples(markets)})")
            for symbol in unknown
        ])


def wanted_symbols(configured: Iterable[str], markets: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The symbols to collect: the configured ones still listed, or every linear perpetual."""
    configured = tuple(configured)
    listed = linear_perpetuals(markets)
    return listed.intersection(configured) if configured else listed


def _examples(markets: Mapping[str, Mapping[str, Any]], count: int = 3) -> str:
    examples = sorted(linear_perpetuals(markets))[:count]
    return ", ".join(examples) if examples else "none listed"
