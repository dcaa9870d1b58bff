"""The HTTP face of the simulator: control endpoints, counting, dialect envelopes, pagination."""

import aiohttp
import pytest

from tests.support.simulator import FakeClock, simulator_factory  # noqa: F401 (fixture)


@pytest.fixture
async def client():
    async with aiohttp.ClientSession() as session:
        yield session


async def test_control_endpoint_sets_fault_counts_it_and_reset_clears_it(simulator_factory, client):
    sim = await simulator_factory(symbols=3)
    fault = {"exchange": "okx", "kind": "http_429", "retry_after": 2, "path": "tickers", "count": 1}
    async with client.post(f"{sim.url}/_sim/faults", json=fault) as resp:
        assert resp.status == 200
    async with client.get(f"{sim.url}/api/v5/market/tickers?instType=SWAP") as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "2"
        assert await resp.json() == {"code": "50011", "data": [], "msg": "Too Many Requests"}
    async with client.get(f"{sim.url}/api/v5/market/tickers?instType=SWAP") as resp:
        assert resp.status == 200
    async with client.get(f"{sim.url}/_sim/stats") as resp:
        stats = await resp.json()
    assert stats["requests"]["okx"] == {"/api/v5/market/tickers?instType=SWAP": 2}
    assert stats["faults_fired"]["okx"] == {"http_429": 1}
    assert sim.request_count("okx", path_contains="tickers") == 2
    async with client.post(f"{sim.url}/_sim/reset") as resp:
        assert resp.status == 200
    assert sim.request_count() == 0 and sim.fault_count() == 0


async def test_control_endpoint_rejects_unknown_kind_and_exchange(simulator_factory, client):
    sim = await simulator_factory(symbols=3)
    for bad in ({"exchange": "okx", "kind": "gremlins"}, {"exchange": "kraken", "kind": "http_429"}, {"kind": "reset"}):
        async with client.post(f"{sim.url}/_sim/faults", json=bad) as resp:
            assert resp.status == 400
    assert sim.faults("okx") == []


async def test_control_endpoint_delists_and_shows_state(simulator_factory, client):
    sim = await simulator_factory(symbols=3)
    async with client.post(f"{sim.url}/_sim/delist", json={"exchange": "bybit", "symbol": "ETH/USDT:USDT"}) as resp:
        assert resp.status == 200
    async with client.get(f"{sim.url}/_sim/state?exchange=bybit") as resp:
        state = await resp.json()
    assert sorted(state) == ["BTC/USDT:USDT", "SOL/USDT:USDT"]
    ts = state["BTC/USDT:USDT"]["ts"]
    async with client.get(f"{sim.url}/_sim/served?exchange=bybit&symbol=BTC/USDT:USDT&ts={ts}") as resp:
        assert (await resp.json())["last"] == state["BTC/USDT:USDT"]["last"]


async def test_server_time_endpoints_have_the_exchanges_shapes_and_skew(simulator_factory, client):
    clock = FakeClock(1_730_729_903.941)
    sim = await simulator_factory(symbols=2, clock=clock)
    sim.set_fault("bybit", "clock_skew", skew_ms=3000)
    async with client.get(f"{sim.url}/fapi/v1/time") as resp:
        assert await resp.json() == {"serverTime": 1_730_729_903_941}
    async with client.get(f"{sim.url}/v5/market/time") as resp:
        body = await resp.json()
    assert body["result"] == {"timeSecond": "1730729906", "timeNano": "1730729906941000000"}
    assert body["retCode"] == 0 and body["time"] == 1_730_729_906_941
    async with client.get(f"{sim.url}/api/v5/public/time") as resp:
        assert await resp.json() == {"code": "0", "data": [{"ts": "1730729903941"}], "msg": ""}


async def test_bybit_instruments_paginate_with_cursor_until_empty(simulator_factory, client):
    sim = await simulator_factory(symbols=25)
    seen, cursor, pages = [], "", 0
    while True:
        url = f"{sim.url}/v5/market/instruments-info?category=linear&limit=10" + (f"&cursor={cursor}" if cursor else "")
        async with client.get(url) as resp:
            result = (await resp.json())["result"]
        seen += [row["symbol"] for row in result["list"]]
        pages += 1
        cursor = result["nextPageCursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 25
    async with client.get(f"{sim.url}/v5/market/instruments-info?category=linear&status=PreLaunch") as resp:
        assert (await resp.json())["result"] == {"category": "linear", "list": [], "nextPageCursor": ""}


async def test_repeated_requests_in_one_tick_get_identical_bytes(simulator_factory, client):
    clock = FakeClock()
    sim = await simulator_factory(symbols=10, clock=clock)
    bodies = []
    for _ in range(2):
        async with client.get(f"{sim.url}/fapi/v1/premiumIndex") as resp:
            bodies.append(await resp.read())
    clock.advance(1)
    async with client.get(f"{sim.url}/fapi/v1/premiumIndex") as resp:
        bodies.append(await resp.read())
    assert bodies[0] == bodies[1] != bodies[2]


async def test_unknown_symbol_gets_the_exchange_error(simulator_factory, client):
    sim = await simulator_factory(symbols=2)
    async with client.get(f"{sim.url}/fapi/v1/premiumIndex?symbol=NOPEUSDT") as resp:
        assert resp.status == 400 and await resp.json() == {"code": -1121, "msg": "Invalid symbol."}
    async with client.get(f"{sim.url}/api/v5/market/ticker?instId=NOPE-USDT-SWAP") as resp:
        assert (await resp.json())["code"] == "51001"


@pytest.mark.parametrize("symbols", [0, 2001])
def test_symbol_count_outside_1_to_2000_is_refused(symbols):
    from exchange_simulator import Simulator

    with pytest.raises(ValueError):
        Simulator(symbols=symbols)


async def test_control_endpoint_stops_trades_and_a_typo_is_a_400(simulator_factory, client):
    sim = await simulator_factory(symbols=3)
    async with client.post(f"{sim.url}/_sim/trading", json={"exchange": "okx", "trading": False}) as resp:
        assert resp.status == 200
    async with client.post(f"{sim.url}/_sim/trading", json={"exchange": "nope", "trading": False}) as resp:
        assert resp.status == 400
    assert sim.specs("okx") and not sim._states["okx"].trading


async def test_control_endpoint_holds_a_symbol_but_one_field_and_a_typo_is_a_400(simulator_factory, client):
    sim = await simulator_factory(symbols=3)
    hold = {"exchange": "bybit", "symbol": "BTC/USDT:USDT", "moving": "open_interest"}
    async with client.post(f"{sim.url}/_sim/hold", json=hold) as resp:
        assert resp.status == 200
    async with client.post(f"{sim.url}/_sim/hold", json={**hold, "moving": "colour"}) as resp:
        assert resp.status == 400 and "colour" in (await resp.json())["error"]
    assert sim._states["bybit"]._held == {"BTC/USDT:USDT": ("open_interest", True)}


async def test_feed_endpoint_makes_the_market_step_at_the_new_tick_from_then_on(simulator_factory, client):
    clock = FakeClock(1_730_729_900.0)
    sim = await simulator_factory(symbols=2, clock=clock, tick=1.0)
    first = sim.state("bybit")["BTC/USDT:USDT"].ts
    clock.advance(0.3)
    assert sim.state("bybit")["BTC/USDT:USDT"].ts == first  # within the 1 s tick
    async with client.post(f"{sim.url}/_sim/feed", json={"tick": 0.1}) as resp:
        assert resp.status == 200
    clock.advance(0.1)
    assert sim.state("bybit")["BTC/USDT:USDT"].ts > first  # a new 0.1 s tick began
    async with client.get(f"{sim.url}/_sim/stats") as resp:
        assert (await resp.json())["tick"] == {"binanceusdm": 0.1, "bybit": 0.1, "okx": 0.1}
    for bad in ({"tick": 0}, {"tick": "fast"}, {"tick": 0.5, "exchange": "kraken"}, {}):
        async with client.post(f"{sim.url}/_sim/feed", json=bad) as resp:
            assert resp.status == 400, bad
    async with client.post(f"{sim.url}/_sim/feed", json={"tick": 0.5, "exchange": "okx"}) as resp:
        assert resp.status == 200
    assert sim.stats()["tick"] == {"binanceusdm": 0.1, "bybit": 0.1, "okx": 0.5}
