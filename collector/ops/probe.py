"""`run_tests.py --check-deps`: can this machine reach an exchange and load its markets?"""

from __future__ import annotations

import ssl

import aiohttp
import ccxt.async_support as ccxt_async
import certifi
from ccxt.base import errors as ccxt_errors

from collector.config import ExchangeConfig, PerformanceConfig
from collector.errors import ConfigError, ErrorCode
from collector.exchanges import market_selection as mk
from collector.exchanges.kind_state import describe, error_code


async def probe_exchange(name: str, config: ExchangeConfig, performance: PerformanceConfig) -> str:
    """`run_tests.py --check-deps`: load the markets once, for real; what was found, or raise."""
    exchange_id = mk.ccxt_id(name, config)
    exchange_class = getattr(ccxt_async, exchange_id, None)
    if exchange_id not in ccxt_async.exchanges or exchange_class is None:
        raise ConfigError([(ErrorCode.CONFIG_003, f"unknown ccxt exchange {exchange_id!r}")])
    connector = aiohttp.TCPConnector(limit=performance.connection_pool_size,
                                     ssl=ssl.create_default_context(cafile=certifi.where()))
    async with aiohttp.ClientSession(connector=connector) as session:
        exchange = exchange_class({**mk.ccxt_config(exchange_id, config), "session": session})
        try:
            markets = await exchange.load_markets()
        except ccxt_errors.BaseError as err:
            text = describe(err, exchange=name, operation="markets load", timeout=config.timeout)
            raise ConnectionError(f"{error_code(err)} {text}") from None
        finally:
            await exchange.close()
    mk.check_symbols(name, exchange_id, config.symbols, markets)
    return f"{exchange_id}: {len(mk.wanted_symbols(config.symbols, markets))} linear perpetuals"
