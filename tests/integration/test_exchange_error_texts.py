"""What /health says about a failing exchange, against the simulator through real ccxt: a timeout
names exchange, operation, host:port and the limit; a recovery replaces the error with its time;
an exchange never reached is not called stale."""

from __future__ import annotations

import asyncio

from collector.config import CacheConfig, CircuitBreakerConfig, ExchangeConfig, PerformanceConfig, RetryConfig
from collector.exchanges.source import ExchangeSource
from collector.ops.health import health_report
from tests.support.simulator import FakeClock, simulator_factory  # noqa: F401 (fixture)


def source(sim, name: str, ccxt_id: str, clock: FakeClock, **options) -> ExchangeSource:
    config = ExchangeConfig(ccxt_id=ccxt_id, timeout=1.0, rate_limit=10000,
                            ccxt_options={**sim.ccxt_options(ccxt_id), **options})
    return ExchangeSource(name, config, performance=PerformanceConfig(), cache=CacheConfig(),
                          retry=RetryConfig(max_attempts=1, base_delay=0.1, max_delay=0.1),
                          circuit_breaker=CircuitBreakerConfig(), semaphore=asyncio.Semaphore(5), clock=clock)


def problems(name: str, status: dict, now: float) -> list[str]:
    snapshot = {"exchanges": {name: status}, "sinks": {}, "intervals": {"ticker": 30.0}}
    return health_report(snapshot, now=now, uptime_s=1.0, process={})[0]["problems"]


async def test_a_timeout_names_exchange_operation_host_port_and_limit_then_recovery_shows_when(
    simulator_factory,  # noqa: F811
):
    sim = await simulator_factory(symbols=3)
    clock = FakeClock()
    async with source(sim, "okx", "okx", clock) as okx:
        sim.set_fault("okx", "timeout", path="tickers")
        await okx.poll("ticker")
        assert okx.status()["last_error"] == (
            f"RequestTimeout: okx ticker poll: no answer from 127.0.0.1:{sim.port} within 1s "
            "(GET /api/v5/market/tickers; exchange_configs.okx.timeout)")
        assert okx.status()["error_code"] == "EXCHANGE_001"
        sim.clear_faults()
        clock.advance(30)
        await okx.poll("ticker")
        status = okx.status()
    assert status["last_error"] is None and status["error_code"] is None
    assert status["recovered_at"] == clock.now
    assert status["recovered_error"].startswith("RequestTimeout: okx ticker poll: no answer from")


async def test_an_exchange_never_reached_is_said_so_and_not_called_stale(simulator_factory):  # noqa: F811
    sim = await simulator_factory(symbols=3)
    clock = FakeClock()
    sim.set_fault("bybit", "http_5xx", status=503)
    async with source(sim, "bybit", "bybit", clock) as bybit:
        for _ in range(4):
            clock.advance(30)
            await bybit.poll("ticker")
            await bybit.poll("funding_rate")
        status = bybit.status()
    assert status["last_success"] is None and status["stale"] is False
    said = problems("bybit", status, clock.now)
    assert any(p.startswith("exchange bybit: never reached since start, ") for p in said), said
    assert not any("stale" in p for p in said)
