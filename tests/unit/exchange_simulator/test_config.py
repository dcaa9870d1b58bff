"""config/simulator.yaml points the daemon at the simulator exactly as Simulator.ccxt_options does."""

import pathlib

import yaml

from exchange_simulator import Simulator

CONFIG = pathlib.Path(__file__).parents[3] / "config" / "simulator.yaml"


def test_simulator_yaml_ccxt_options_equal_the_simulators_own():
    config = yaml.safe_load(CONFIG.read_text())
    sim = Simulator(port=9100)
    for name, ccxt_id in (("binance", "binanceusdm"), ("bybit", "bybit"), ("okx", "okx")):
        exchange = config["exchange_configs"][name]
        assert exchange["ccxt_id"] == ccxt_id
        assert exchange["ccxt_options"] == sim.ccxt_options(ccxt_id)
    assert (config["ticker_interval"], config["funding_rate_interval"]) == (5.0, 30.0)
    assert config["health"]["port"] == 8080
    assert [s for s in ("sqlite", "postgres", "clickhouse", "rabbitmq") if config[s]["enabled"]] == ["sqlite"]


def test_simulator_yaml_validates_against_the_config_contract():
    # Imported here, not skipped: a broken collector.config must fail this test, not hide it.
    from collector.config import AppConfig

    app_config = AppConfig.model_validate(yaml.safe_load(CONFIG.read_text()))
    assert sorted(app_config.exchange_configs) == ["binance", "bybit", "okx"]
    assert app_config.enabled_sinks == ["sqlite"]
    assert app_config.exchange_configs["okx"].ccxt_options == Simulator(port=9100).ccxt_options("okx")
