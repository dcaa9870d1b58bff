"""Raw fields of exchanges beyond binance, bybit and okx that ccxt's unified ticker leaves empty.

Per ccxt id: record field -> key of the exchange's own row (`info`), read only where ccxt's
unified value is None. Each entry was read off a recorded payload (tests/fixtures/exchanges/).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

OTHER_TICKER_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {}
