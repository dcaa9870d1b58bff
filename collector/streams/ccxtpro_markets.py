"""The market tables of a stream's ccxt pro instances: the REST source's own, never copies.

Each connection opens an instance per session; it takes the REST source's tables
(`set_markets_from_exchange`), so opening one makes no request and holds no markets of its own.
After a markets reload the open instances take the new tables too, so the ones they replaced
are freed at once rather than at each connection's next session.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ccxt.pro as ccxt_pro

from collector.config import ExchangeConfig
from collector.exchanges import market_selection as mk
from collector.exchanges.source import ExchangeSource
from collector.streams.connection import Connection


def open_instance(source: ExchangeSource, config: ExchangeConfig) -> Any:
    """A ccxt pro instance of `source`'s exchange sharing its market tables."""
    exchange = getattr(ccxt_pro, source.exchange_id)(mk.ccxt_config(source.exchange_id, config))
    exchange.set_markets_from_exchange(source.exchange)
    return exchange


def share_markets(source: ExchangeSource, connections: Iterable[Connection]) -> bool:
    """The open instances take the REST source's current tables; True when any had older ones."""
    rest = source.exchange
    shared = False
    for connection in connections:
        exchange = connection.exchange
        if exchange is not None and exchange.markets is not rest.markets:
            exchange.set_markets_from_exchange(rest)
            shared = True
    return shared
