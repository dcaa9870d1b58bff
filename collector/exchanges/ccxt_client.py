"""The ccxt instance of one exchange source, and the plans of requests it polls with.

`open_exchange` builds the async instance on a connection pool of our own size (ccxt takes our
aiohttp session), with our rate limiter in place of ccxt's leaky bucket (which forgets idle time,
see resilience/ratelimit.py; a rolling window chosen through ccxt_options is left to ccxt). An
id ccxt does not know is CONFIG_003; a ccxt whose internals we replace changed is refused before
anything opens (ccxt_adapter.py). `kind_plans` gives each kind its requests (plans.py), decoded
by collector/venues/ where `decoder: native` and the venue has a module (native_plans.py).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import certifi

from collector import ccxt_adapter
from collector.config import ExchangeConfig
from collector.errors import ConfigError, ErrorCode
from collector.exchanges import market_selection as mk
from collector.exchanges.native_plans import OPEN_INTEREST_JOIN, native_plan
from collector.exchanges.plans import Part, plan
from collector.resilience.ratelimit import RateLimiter

# Open interest polled per symbol joins the tickers as one more part of their merge.
CCXT_OPEN_INTEREST_JOIN = Part("open_interest", "fetch_open_interest", reads="open_interest",
                               fills=("open_interest",))


def open_exchange(name: str, exchange_id: str, config: ExchangeConfig,
                  pool_size: int) -> tuple[Any, aiohttp.ClientSession]:
    """(the ccxt instance, the session it sends with); the caller closes both."""
    exchange_class = getattr(ccxt_async, exchange_id, None)
    if exchange_id not in ccxt_async.exchanges or exchange_class is None:
        raise ConfigError([(ErrorCode.CONFIG_003,
                            f"exchange_configs.{name}.ccxt_id: unknown ccxt exchange {exchange_id!r}")])
    ccxt_adapter.check_supported(exchange_class)  # before anything is opened
    connector = aiohttp.TCPConnector(limit=pool_size, ssl=ssl.create_default_context(cafile=certifi.where()))
    session = aiohttp.ClientSession(connector=connector)
    options = mk.ccxt_config(exchange_id, config)
    options["session"] = session  # ours, so the connection pool size is ours too
    exchange = exchange_class(options)
    if ccxt_adapter.leaky_bucket(exchange):
        ccxt_adapter.take_throttle(exchange, RateLimiter(name, ccxt_adapter.requests_per_second(exchange)))
    return exchange, session


def kind_plans(exchange_id: str, has: dict[str, Any], kinds: Iterable[str], *, native: bool,
               settlements: bool) -> tuple[dict[str, tuple[Part, ...]], Part]:
    """(kind -> its parts, the part that joins polled open interest to the tickers), for the
    ccxt id the source was configured with and what its instance `has`."""
    make = native_plan if native else plan  # native: the same requests, their rows decoded by venues/
    plans = {kind: make(exchange_id, kind, has) for kind in kinds}
    join = CCXT_OPEN_INTEREST_JOIN
    if native and plans["open_interest"] and plans["open_interest"][0].decode:
        join = OPEN_INTEREST_JOIN
    if not settlements:
        plans["funding_settlement"] = ()
    return plans, join
