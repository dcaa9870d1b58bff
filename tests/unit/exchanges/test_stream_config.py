"""The streaming keys of exchange_configs.<name>: defaults, constraints, and the one-variable
switch of config/simulator.yaml."""

from __future__ import annotations

from pathlib import Path

from collector.errors import ErrorCode
from config_manager import ConfigManager
from tests.unit.test_config_loading import MINIMAL, load, problems

ROOT = Path(__file__).resolve().parents[3]


def test_exchanges_poll_by_default_with_the_contract_stream_defaults(tmp_path: Path) -> None:
    binance = load(tmp_path, MINIMAL).exchange_configs["binance"]
    assert (binance.mode, binance.stream_interval, binance.stream_stale_after) == ("poll", 1.0, 10.0)


def test_a_bad_mode_or_interval_is_one_coded_problem_each(tmp_path: Path) -> None:
    text = ("exchange_configs:\n  binance:\n    mode: websocket\n    stream_interval: -1\n"
            "    stream_stale_after: 0\n")
    lines = problems(tmp_path, text)
    assert len(lines) == 3 and all(line.startswith(str(ErrorCode.CONFIG_003)) for line in lines)
    joined = "\n".join(lines)
    for path in ("mode", "stream_interval", "stream_stale_after"):
        assert f"exchange_configs.binance.{path}" in joined


def test_one_environment_variable_switches_the_simulator_demo_to_streaming() -> None:
    environ = {"CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__BINANCE__MODE": "stream"}
    config = ConfigManager(ROOT / "config/simulator.yaml", environ=environ, env_file=ROOT / "no.env").load_config()
    assert {n: c.mode for n, c in config.exchange_configs.items()} == {"binance": "stream", "bybit": "poll", "okx": "poll"}
    assert config.exchange_configs["binance"].ccxt_options["urls"]["api"]["ws"] == {"linear": "http://127.0.0.1:9100/fstream/ws"}  # aiohttp opens websockets on http:// too
