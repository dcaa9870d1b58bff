"""`--validate-config`'s request-weight estimate: ccxt's own costs, per endpoint and interval, a
request shared by two kinds counted once when the cache can serve it, a warning above 80 %."""

from __future__ import annotations

import pytest

from collector.config import AppConfig
from collector.ops.weights import estimate, summary_lines

TWO = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def config(**settings) -> AppConfig:
    exchanges = settings.pop("exchange_configs", {"binance": {"symbols": TWO}})
    return AppConfig(exchange_configs=exchanges, **settings)


def lines(found) -> dict:
    return {line.endpoint: (line.kinds, line.cost, line.per_minute, line.weight) for line in found.lines}


def test_binance_weights_are_ccxts_costs_times_requests_per_minute():
    [binance] = estimate(config(ticker_interval=30.0, funding_rate_interval=300.0,
                                open_interest_interval=60.0, funding_history_days=0))
    assert lines(binance) == {
        "tickers": (("ticker",), 40.0, 2.0, 80.0),  # all-symbol ticker/24hr
        "bids_asks": (("ticker",), 5.0, 2.0, 10.0),
        "mark_prices": (("ticker",), 1.0, 2.0, 2.0),
        "funding_rates": (("funding_rate",), 1.0, 0.2, 0.2),
        "funding_intervals": (("funding_rate",), 1.0, 0.2, 0.2),
        "open_interest": (("open_interest",), 1.0, 2.0, 2.0),  # per symbol: 2 symbols a minute
    }
    assert binance.weight == 94.4 and binance.limit == 1200 and not binance.too_high


def test_a_request_two_kinds_share_at_one_interval_counts_once_with_the_cache_on():
    bybit = {"bybit": {"symbols": TWO}}
    shared = dict(exchange_configs=bybit, ticker_interval=60.0, funding_rate_interval=60.0,
                  funding_history_days=0)
    [cached] = estimate(config(**shared))
    [uncached] = estimate(config(**shared, cache={"enabled": False}))
    [apart] = estimate(config(**{**shared, "funding_rate_interval": 300.0}))
    assert lines(cached) == {"tickers": (("ticker", "funding_rate"), 5.0, 1.0, 5.0)}
    assert uncached.weight == 10.0 and len(uncached.lines) == 2
    assert apart.weight == 5.0 + 1.0


def test_a_shard_pays_the_bulk_requests_in_full_and_only_its_share_of_the_per_symbol_ones(tmp_path):
    symbols = [f"COIN{i}/USDT:USDT" for i in range(60)]
    base = {"exchange_configs": {"binance": {"symbols": symbols}}}
    one = AppConfig.model_validate(base)
    sharded = AppConfig.model_validate({**base, "shard": {"count": 3, "index": 1}})
    [whole], [part] = estimate(one), estimate(sharded)
    owned = len(sharded.shard.owned("binance", symbols))
    assert part.symbols == owned < 60
    bulk = {line.endpoint: line.weight for line in whole.lines if line.endpoint != "open_interest"}
    per_symbol = {line.endpoint: line.weight for line in part.lines}
    assert {e: per_symbol[e] for e in bulk if e != "funding_history"} == {e: w for e, w in bulk.items()
                                                                         if e != "funding_history"}
    open_interest = next(line for line in part.lines if line.endpoint == "open_interest")
    assert open_interest.weight == pytest.approx(owned * 60 / sharded.open_interest_interval)
    # three shards on one IP: every bulk request three times, each symbol's requests once
    whole_bulk = sum(w for e, w in bulk.items() if e != "funding_history")
    assert part.fleet_weight == pytest.approx(whole.weight + 2 * whole_bulk)
    assert "3 shards on one IP" in "\n".join(summary_lines([part]))
