"""config/simulator.yaml points the daemon at the simulator exactly as Simulator.ccxt_options does,
with the simulator's address named once (`SIMULATOR_URL`)."""

import pathlib

import yaml

from collector.errors import ConfigError
from config_manager import ConfigManager
from exchange_simulator import Simulator

ROOT = pathlib.Path(__file__).parents[3]
CONFIG = ROOT / "config" / "simulator.yaml"


def load(environ: dict[str, str]):
    return ConfigManager(CONFIG, environ=environ, env_file=ROOT / "no.env").load_config()


def test_simulator_yaml_ccxt_options_equal_the_simulators_own():
    config = load({})
    sim = Simulator(port=9100)
    for name, ccxt_id in (("binance", "binanceusdm"), ("bybit", "bybit"), ("okx", "okx")):
        exchange = config.exchange_configs[name]
        assert exchange.ccxt_id == ccxt_id
        assert exchange.ccxt_options == sim.ccxt_options(ccxt_id)
    assert (config.ticker_interval, config.funding_rate_interval) == (5.0, 30.0)
    assert config.health.port == 8080
    assert config.enabled_sinks == ["sqlite"]


def test_one_variable_moves_every_url_to_another_port():
    config = load({"SIMULATOR_URL": "http://127.0.0.1:9200"})
    sim = Simulator(port=9200)
    for name, ccxt_id in (("binance", "binanceusdm"), ("bybit", "bybit"), ("okx", "okx")):
        assert config.exchange_configs[name].ccxt_options == sim.ccxt_options(ccxt_id)


def test_the_address_is_written_once_in_the_file():
    text = CONFIG.read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert body.count("127.0.0.1:9100") == 1
    assert body.count("${SIMULATOR_URL") >= 20


def test_two_different_defaults_for_one_variable_are_a_config_003(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("exchange_configs:\n  okx:\n    ccxt_options:\n      a: ${URL:-http://x}\n"
                    "      b: ${URL:-http://y}\n")
    try:
        ConfigManager(path, environ={}, env_file=tmp_path / "no.env").load_config()
    except ConfigError as err:
        assert err.lines() == ["CONFIG_003 ${URL} has two different defaults in the file: "
                               "'http://x' and 'http://y'; give it one"]
    else:
        raise AssertionError("two defaults were accepted")


def test_an_explicit_empty_default_stays_empty(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"exchange_configs": {"okx": {"ccxt_options": {"a": "${P:-}x", "b": "${P:-}x"}}}}))
    config = ConfigManager(path, environ={}, env_file=tmp_path / "no.env").load_config()
    assert config.exchange_configs["okx"].ccxt_options == {"a": "x", "b": "x"}
