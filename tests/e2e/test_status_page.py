"""The operator's view of a running daemon: the HTML status page in a real headless browser, and
`--status` as text, both against the real daemon collecting from the simulator."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.support.browser import headless_page
from tests.support.daemon import ENTRY, clean_env, daemon_config, start_daemon, wait_for_log, write_config
from tests.support.postgres import postgres_config  # noqa: F401 (fixture)
from tests.support.simulator import simulator_factory  # noqa: F401 (fixture)
from tests.support.tcp_proxy import TcpProxy

RED = "rgb(248, 215, 218)"
GREEN = "rgb(230, 244, 234)"
ROW_BACKGROUND = "getComputedStyle(document.querySelector('tr[data-sink=\"{}\"]')).backgroundColor"


def config_through_proxy(tmp_path: Path, sim, postgres, proxy_port: int) -> dict:
    return daemon_config(tmp_path, sim, postgres={
        "enabled": True, "host": "127.0.0.1", "port": proxy_port, "user": postgres.user,
        "database": postgres.database,
    }, database={"timeout": 2.0}, circuit_breaker={"failure_threshold": 2, "recovery_timeout": 1.0})


async def stop(daemon: asyncio.subprocess.Process) -> None:
    if daemon.returncode is None:
        daemon.send_signal(signal.SIGTERM)
        await asyncio.wait_for(daemon.communicate(), timeout=60)


async def status_command(url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ENTRY), "--status", "--url", url, env=clean_env(COLUMNS="200"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, stdout.decode()


async def test_the_page_shows_the_running_daemon_and_turns_a_failing_sink_red(
    tmp_path, simulator_factory, postgres_config  # noqa: F811
):
    sim = await simulator_factory(symbols=5)
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        config = config_through_proxy(tmp_path, sim, postgres_config, proxy.port)
        daemon = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
        try:
            await wait_for_log(tmp_path / "logs" / "collector.log", "collector_started")
            url = f"http://127.0.0.1:{config['health']['port']}/"
            async with headless_page(url, tmp_path) as page:
                await page.wait_for("document.querySelectorAll('tr[data-latest]').length === 3")
                names = await page.evaluate(
                    "[...document.querySelectorAll('tr[data-exchange]')].map(r => r.dataset.exchange)")
                sinks = await page.evaluate("[...document.querySelectorAll('tr[data-sink]')].map(r => r.dataset.sink)")
                assert (names, sinks) == (["binance", "bybit", "okx"], ["postgres", "sqlite"])
                assert await page.evaluate(ROW_BACKGROUND.format("postgres")) != RED
                latest = await page.evaluate("document.querySelector('tr[data-latest=\"okx\"]').innerText")
                assert "/USDT:USDT" in latest and "%" in latest  # symbol, last, funding rate
                await proxy.cut()  # PostgreSQL gone: the open page must say so by itself
                await page.wait_for(f"{ROW_BACKGROUND.format('postgres')} === '{RED}'")
                assert await page.evaluate(ROW_BACKGROUND.format("sqlite")) == GREEN
                cell = await page.evaluate("document.querySelector('tr[data-sink=\"postgres\"]').innerText")
                assert "down" in cell and "DB_001" in cell
        finally:
            await stop(daemon)


async def test_status_prints_the_same_facts_as_text_with_the_contract_exit_codes(
    tmp_path, simulator_factory, postgres_config  # noqa: F811
):
    sim = await simulator_factory(symbols=5)
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        config = config_through_proxy(tmp_path, sim, postgres_config, proxy.port)
        daemon = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
        url = f"http://127.0.0.1:{config['health']['port']}"
        try:
            await wait_for_log(tmp_path / "logs" / "collector.log", "collector_started")
            async with asyncio.timeout(30):
                code, text = await status_command(url)
                while code != 0:  # until the first rounds are collected and written
                    await asyncio.sleep(0.5)
                    code, text = await status_command(url)
            assert text.splitlines()[0].startswith(f"crypto-collector at {url}: OK")
            for name in ("binance", "bybit", "okx", "postgres", "sqlite"):
                assert any(line[2:].startswith(name) for line in text.splitlines()), (name, text)
            await proxy.cut()
            await wait_for_log(tmp_path / "logs" / "collector.log", "sink_down")
            code, text = await status_command(url)
            assert code == 1, text
            postgres_line = next(line for line in text.splitlines() if line[2:].startswith("postgres"))
            assert postgres_line.startswith("! ") and "down" in postgres_line
            assert len(text.splitlines()) <= 40  # one screen
        finally:
            await stop(daemon)
    code, text = await status_command(url)
    assert code == 2
    assert text.startswith(f"crypto-collector at {url}: UNREACHABLE (")
