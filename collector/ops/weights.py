"""The request weight a configuration costs each exchange per minute, against its limit.

For every kind the daemon polls, every request of the kind's plan (exchanges/plans.py) is priced
by ccxt itself: the request is started on an offline ccxt instance whose throttle records the
cost ccxt would charge and stops it there, so nothing is sent. Weight per minute = cost ×
requests per poll × polls per minute. With `cache.enabled`, one endpoint asked by two kinds at
the same interval (bybit's tickers feed tickers and funding rates; binance's premiumIndex mark
prices and funding rates) is one request and counted once. The limit is `rate_limit`, the units
per minute the daemon paces each exchange to; above 80 % `--validate-config` warns.

With shards (`shard.count` > 1) the estimate is this shard's: per-symbol requests (open
interest, settlements) cover only the symbols it owns, bulk ones are made by every shard in
full. `fleet_weight` is what `count` shards cost together when they share one IP (one host):
per-symbol requests split, bulk ones multiply with the shards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import ccxt

from collector.config import AppConfig, ExchangeConfig
from collector import ccxt_adapter
from collector.exchanges import market_selection as mk
from collector.exchanges.plans import Part, plan
from collector.scheduler import poll_intervals

WARN_SHARE: Final = 0.8
# Symbols assumed where `symbols` is empty (every linear perpetual): about what each listed in
# 2025; the estimate says it assumed them.
ASSUMED_SYMBOLS: Final[Mapping[str, int]] = {"binanceusdm": 500, "bybit": 500, "okx": 250}
DEFAULT_SYMBOLS: Final = 200
# Per-symbol settlement requests come once per funding interval (8 h on most symbols).
SETTLEMENT_INTERVAL_S: Final = 8 * 3600.0


class _Priced(Exception):
    def __init__(self, cost: float) -> None:
        self.cost = cost


@dataclass(frozen=True, slots=True)
class Line:
    endpoint: str
    kinds: tuple[str, ...]
    cost: float | None  # None: ccxt could not price it offline (counted as 1)
    per_minute: float  # requests per minute
    weight: float  # cost units per minute
    fleet_weight: float = 0.0  # of `count` shards on one IP


@dataclass(slots=True)
class Estimate:
    exchange: str
    limit: int
    symbols: int
    symbols_assumed: bool
    lines: list[Line] = field(default_factory=list)
    shards: int = 1
    all_symbols: int = 0  # of every shard together

    @property
    def weight(self) -> float:
        return sum(line.weight for line in self.lines)

    @property
    def fleet_weight(self) -> float:
        return sum(line.fleet_weight for line in self.lines)

    @property
    def fleet_too_high(self) -> bool:
        return self.shards > 1 and self.fleet_weight > self.limit

    @property
    def share(self) -> float:
        return self.weight / self.limit

    @property
    def too_high(self) -> bool:
        return self.share > WARN_SHARE


def estimate(config: AppConfig) -> list[Estimate]:
    """One estimate per enabled exchange ccxt knows."""
    return [found for name, exchange in config.enabled_exchanges.items()
            if (found := estimate_exchange(name, exchange, config)) is not None]


def estimate_exchange(name: str, config: ExchangeConfig, app: AppConfig) -> Estimate | None:
    exchange_id = mk.ccxt_id(name, config)
    exchange_class = getattr(ccxt, exchange_id, None)
    if exchange_id not in ccxt.exchanges or exchange_class is None:
        return None
    exchange = exchange_class(mk.ccxt_config(exchange_id, config))
    every = len(config.symbols) or ASSUMED_SYMBOLS.get(exchange_id, DEFAULT_SYMBOLS)
    shards = app.shard.count
    symbols = (len(app.shard.owned(name, config.symbols)) if config.symbols
               else round(every / shards))  # assumed symbols: this shard's share
    requests: dict[tuple, tuple[Part, float, float, list[str]]] = {}  # one entry per distinct request
    for kind, interval in poll_intervals(app).items():
        for part in plan(exchange_id, kind, exchange.has):
            key = _request_key(part, kind, interval, app.cache.enabled)
            if key in requests:
                requests[key][3].append(kind)
                continue
            per_minute = _requests_per_minute(part, kind, interval, symbols)
            fleet = (_requests_per_minute(part, kind, interval, every) if _per_symbol(part, kind)
                     else per_minute * shards)
            requests[key] = (part, per_minute, fleet, [kind])
    result = Estimate(name, config.rate_limit, symbols, not config.symbols, shards=shards, all_symbols=every)
    for part, per_minute, fleet, kinds in requests.values():
        price = 1.0 if (found := cost(exchange, part)) is None else found
        result.lines.append(Line(part.endpoint, tuple(kinds), found, per_minute, per_minute * price,
                                 fleet * price))
    return result


def _per_symbol(part: Part, kind: str) -> bool:
    return part.per_symbol or kind == "funding_settlement"


def cost(exchange: Any, part: Part) -> float | None:
    """The weight ccxt charges for the part's request, asked offline; None when unknown."""
    if part.estimate is None:
        return None
    method, params = part.estimate

    def priced(cost: float | None = None) -> None:
        raise _Priced(1.0 if cost is None else float(cost))

    ccxt_adapter.take_throttle(exchange, priced)
    exchange.enableRateLimit = True  # ccxt's option: without it no throttle is asked
    try:
        getattr(exchange, method)(dict(params))
    except _Priced as result:
        return result.cost
    except Exception:  # noqa: BLE001 - any other failure means ccxt could not price it offline
        return None
    return None


def _request_key(part: Part, kind: str, interval: float, cache: bool) -> tuple:
    if cache and part.estimate is not None and not part.per_symbol:
        method, params = part.estimate
        return (method, tuple(sorted(params.items())), interval)
    return (part.endpoint, kind)


def _requests_per_minute(part: Part, kind: str, interval: float, symbols: int) -> float:
    """Requests per minute of one part: per poll, or per symbol and poll."""
    if kind == "funding_settlement":
        return symbols * 60.0 / SETTLEMENT_INTERVAL_S  # steady state: one per settlement
    return (symbols if part.per_symbol else 1) * 60.0 / interval


def summary_lines(estimates: list[Estimate]) -> list[str]:
    """The `--validate-config` lines: per exchange its weight per minute against its limit, each
    endpoint's share, and a warning above 80 %."""
    lines = ["  request weight per minute (estimated with ccxt's costs)"]
    for found in estimates:
        assumed = " (assumed: symbols is every linear perpetual)" if found.symbols_assumed else ""
        lines.append(f"    {found.exchange:<10} {found.weight:,.0f} of {found.limit:,} ({found.share:.0%}),"
                     f" {found.symbols} symbols{assumed}")
        for line in found.lines:
            price = f"{line.cost:g}" if line.cost is not None else "1 (unknown to ccxt offline)"
            lines.append(f"      {line.endpoint:<18} {'+'.join(line.kinds):<28} cost {price},"
                         f" {line.per_minute:,.2f}/min = {line.weight:,.1f}")
        if found.shards > 1:
            lines.append(f"      {found.shards} shards on one IP: {found.fleet_weight:,.0f} of {found.limit:,}"
                         f" ({found.fleet_weight / found.limit:.0%}) for {found.all_symbols} symbols"
                         " (bulk requests made by every shard, per-symbol ones split)")
        if found.fleet_too_high:
            lines.append(f"    WARNING {found.exchange}: {found.shards} shards on one IP need"
                         f" {found.fleet_weight:,.0f}/min, above rate_limit {found.limit}/min: put the"
                         " shards on separate IPs, or give each rate_limit / shard.count")
        if found.too_high:
            lines.append(f"    WARNING {found.exchange}: {found.share:.0%} of rate_limit"
                         f" {found.limit}/min (over {WARN_SHARE:.0%}): raise the intervals or"
                         f" rate_limit (within the exchange's own limit), or list fewer symbols")
    return lines
