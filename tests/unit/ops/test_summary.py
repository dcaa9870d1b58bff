"""The one-screen `--validate-config` summary: what the daemon will do, and no secret in it."""

from __future__ import annotations

from pathlib import Path

from collector.config import AppConfig
from collector.ops.summary import config_summary

SECRET = "Summary-S3cret-1"


def configured(**sections) -> AppConfig:
    return AppConfig.model_validate({"exchange_configs": {"binance": {}}, **sections})


def test_the_summary_names_intervals_exchanges_sinks_delivery_resilience_health_and_logging():
    config = configured(ticker_interval=15, exchange_configs={
        "binance": {"symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"]}, "okx": {"enabled": False}})
    lines = config_summary(config, Path("config/x.yaml")).splitlines()
    assert lines[0] == "Configuration OK: config/x.yaml"
    assert lines[1] == ("  intervals   ticker 15s, funding_rate 300s, open_interest 60s (0 = off),"
                        " funding history 7 days (0 = off)")
    assert lines[3].split() == ["binance", "enabled,", "ccxt", "binanceusdm,", "native", "decoder,", "1200",
                                "req/min,", "timeout", "30s,", "symbols:", "BTC/USDT:USDT,", "ETH/USDT:USDT"]
    assert lines[4].startswith("    okx        disabled, ccxt okx,")
    assert "every active linear perpetual" in lines[4]
    sinks = {line.split()[0]: line.split(None, 1)[1] for line in lines[6:10]}
    assert sinks == {"rabbitmq": "disabled", "clickhouse": "disabled", "postgres": "disabled",
                     "sqlite": "enabled, data/collector.db"}
    assert lines[10] == ("  delivery    batch 1000 records or 5s, queue 100000 per sink, spool data/spool"
                         " (max 1024 MiB)")
    assert lines[-3] == "  health      http://127.0.0.1:8080/health"
    assert lines[-2] == "  logging     INFO (auto) to console, file logs/collector.log"
    assert lines[-1] == "  shard       0/1 (unsharded: every symbol)"


def test_a_shard_says_which_of_the_configured_symbols_it_owns_and_its_own_port_and_files():
    symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT", "DOGE/USDT:USDT"]
    config = configured(exchange_configs={"binance": {"symbols": symbols}, "okx": {}},
                        shard={"count": 4, "index": 2})
    text = config_summary(config, Path("p.yaml"))
    assert "  shard       2/4: the symbols rendezvous hashing gives this shard" in text
    # owners pinned in tests/unit/test_shard.py: BTC and DOGE are shard 2's of these
    assert "symbols: owns 2 of 5: BTC/USDT:USDT, DOGE/USDT:USDT" in text
    assert "every active linear perpetual, about 1/4 of them owned" in text
    assert "http://127.0.0.1:8082/health" in text and "data/shard-2/collector.db" in text


def test_no_secret_is_printed_only_whether_it_is_set():
    config = configured(
        exchange_configs={"binance": {"api_key": SECRET, "secret": SECRET,
                                      "ccxt_options": {"headers": {"X-MBX-APIKEY": SECRET},
                                                       "httpsProxy": f"http://u:{SECRET}@proxy:3128"}}},
        rabbitmq={"enabled": True, "password": SECRET},
        clickhouse={"enabled": True, "password": SECRET},
        postgres={"enabled": True, "password": SECRET})
    text = config_summary(config, Path("p.yaml"))
    assert SECRET not in text
    assert "api_key *** (set), secret *** (set)" in text and "password" not in text.splitlines()[3]
    assert "amqp://guest:*** (set)@localhost:5672/ exchange crypto.futures" in text
    assert "http://default@localhost:8123 database crypto_data, password *** (set)" in text
    assert "crypto_user@localhost:5432/crypto_data, password *** (set), pool 10" in text
    assert "http://u:***@proxy:3128" in text


def test_the_rabbitmq_line_names_the_cluster_nodes_the_declared_queues_and_the_unroutable_policy():
    config = configured(rabbitmq={"enabled": True, "hosts": ["mq-1:5672", "mq-2:5672"], "unroutable": "count",
                                  "queues": [{"name": "all", "type": "quorum"}, {"name": "log", "type": "stream"}]})
    text = config_summary(config, Path("p.yaml"))
    assert "@mq-1:5672,mq-2:5672/ exchange crypto.futures; queues all (quorum), log (stream); unroutable count" in text
