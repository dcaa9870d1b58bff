"""The ccxt adapter is written for one range of ccxt: the installed one is in it, and anything
else is refused at an exchange's start, by version or by the internal it lacks."""

from __future__ import annotations

from types import SimpleNamespace

import ccxt.async_support as ccxt_async
import pytest

from collector import ccxt_adapter
from collector.ccxt_adapter import SUPPORTED_CCXT, UnsupportedCcxt, check_supported


def test_the_installed_ccxt_is_one_the_adapter_supports() -> None:
    # Fails loudly on a ccxt upgrade: the rate limiter and the response cache take the place of
    # ccxt's throttle and fetch2; a new minor version is read, tested and added to the range.
    check_supported(ccxt_async.binanceusdm)
    check_supported(ccxt_async.bybit())


def test_an_unsupported_ccxt_is_refused_by_name(monkeypatch) -> None:
    monkeypatch.setattr(ccxt_adapter.metadata, "version", lambda _name: "5.0.1")
    with pytest.raises(UnsupportedCcxt, match=r"ccxt 5\.0\.1 is not supported by collector/ccxt_adapter\.py"):
        check_supported()
    assert (5, 0) not in SUPPORTED_CCXT


def test_an_exchange_without_an_internal_the_adapter_replaces_is_refused_by_that_name() -> None:
    renamed = SimpleNamespace(**{name: getattr(ccxt_async.okx, name)
                                 for name in ("fetch2", "sign", "tokenBucket", "rateLimit")})
    with pytest.raises(UnsupportedCcxt, match="exchange lacks throttle$"):
        check_supported(renamed)


async def test_the_throttle_taken_is_the_one_ccxt_awaits_before_a_request() -> None:
    exchange = ccxt_async.binanceusdm({"enableRateLimit": True})
    costs: list[float] = []

    async def throttle(cost: float | None = None) -> None:
        costs.append(cost)

    async def no_network(*args: object, **kwargs: object) -> dict:
        return {}

    try:
        assert ccxt_adapter.leaky_bucket(exchange)
        ccxt_adapter.take_throttle(exchange, throttle)
        exchange.fetch = no_network  # fetch2 books the weight, then fetches: no network here
        await exchange.fetch2("ticker/price", ["fapiPublic"], "GET", {}, {})
    finally:
        await exchange.close()
    assert costs and costs[0] > 0, "ccxt asked our throttle for the request's weight"
