"""ConfigManager: layers, expansion, and every class of configuration problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from collector.errors import ConfigError
from config_manager import ConfigManager

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = "exchange_configs:\n  binance: {}\n"


def load(tmp_path: Path, text: str, *, environ: dict[str, str] | None = None, dotenv: str | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    env_file = tmp_path / ".env"
    if dotenv is not None:
        env_file.write_text(dotenv)
    return ConfigManager(path, environ=environ or {}, env_file=env_file).load_config()


def problems(tmp_path: Path, text: str, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, **kwargs)
    return caught.value.lines()


@pytest.mark.parametrize("name", ["default", "production", "debug"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = ConfigManager(ROOT / "config" / f"{name}.yaml", environ={}, env_file=ROOT / "no.env").load_config()
    assert set(config.enabled_exchanges) == {"binance", "bybit", "okx"}


def test_default_config_runs_on_sqlite_alone_with_contract_defaults() -> None:
    config = ConfigManager(ROOT / "config/default.yaml", environ={}, env_file=ROOT / "no.env").load_config()
    assert config.enabled_sinks == ["sqlite"]
    assert config.exchange_configs["binance"].ccxt_id == "binanceusdm"
    assert (config.health.host, config.health.port) == ("127.0.0.1", 8080)


def test_production_config_enables_every_sink() -> None:
    config = ConfigManager(ROOT / "config/production.yaml", environ={}, env_file=ROOT / "no.env").load_config()
    assert config.enabled_sinks == ["rabbitmq", "clickhouse", "postgres", "sqlite"]


def test_ccxt_id_defaults_from_the_exchange_name(tmp_path: Path) -> None:
    config = load(tmp_path, "exchange_configs:\n  binance: {}\n  bybit: {}\n  kraken: {}\n")
    assert {n: c.ccxt_id for n, c in config.exchange_configs.items()} == {
        "binance": "binanceusdm", "bybit": "bybit", "kraken": "kraken"}


def test_missing_file_is_config_001(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ConfigManager(tmp_path / "nope.yaml", environ={}).load_config()
    assert caught.value.lines() == [f"CONFIG_001 {tmp_path / 'nope.yaml'}: config file not found"]


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "exchange_configs:\n  binance: {enabled: true\nticker_interval: 5\n")
    assert line.startswith("CONFIG_001 ")
    assert "line 3, column 16" in line


def test_missing_required_field_is_config_002_with_its_path(tmp_path: Path) -> None:
    assert problems(tmp_path, "ticker_interval: 10\n") == [
        "CONFIG_002 exchange_configs: required field is missing"]


def test_every_out_of_range_value_is_reported_not_only_the_first(tmp_path: Path) -> None:
    lines = problems(tmp_path, (
        "ticker_interval: 0.5\n"
        "exchange_configs:\n  binance:\n    timeout: 500\n    rate_limit: 50\n"
        "rabbitmq:\n  port: 70000\n"
    ))
    assert lines == [
        "CONFIG_003 ticker_interval: Input should be greater than or equal to 1 (given: 0.5)",
        "CONFIG_003 exchange_configs.binance.rate_limit: Input should be greater than or equal to 100 (given: 50)",
        "CONFIG_003 exchange_configs.binance.timeout: Input should be less than or equal to 300 (given: 500)",
        "CONFIG_003 rabbitmq.port: Input should be less than or equal to 65535 (given: 70000)",
    ]


def test_wrong_type_is_config_003_with_the_value(tmp_path: Path) -> None:
    [line] = problems(tmp_path, MINIMAL + "batch_processing:\n  batch_size: lots\n")
    assert line.startswith("CONFIG_003 batch_processing.batch_size: Input should be a valid integer")
    assert "(given: 'lots')" in line


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    # ("hots" is as near to rabbitmq.hosts as to host since the cluster's node list came)
    assert problems(tmp_path, MINIMAL + "rabbitmq:\n  hst: mq\n") == [
        "CONFIG_003 rabbitmq.hst: unknown key (did you mean 'host'?)"]


def test_rabbitmq_hosts_queues_and_unroutable_are_checked_with_their_paths(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + (
        "rabbitmq:\n  hosts: ['rabbit-1:5672', 'rabbit-2']\n  unroutable: drop\n"
        "  queues:\n    - {name: all, type: lazy}\n    - {name: log, type: stream}\n    - {name: log}\n"))
    text = "\n".join(found)
    assert "rabbitmq.hosts" in text and "'rabbit-2' must be host:port" in text
    assert "rabbitmq.unroutable" in text and "rabbitmq.queues.0.type" in text
    [twice] = problems(tmp_path, MINIMAL + "rabbitmq:\n  queues: [{name: log, type: stream}, {name: log}]\n")
    assert twice.startswith("CONFIG_003 rabbitmq.queues") and "declared twice: log" in twice


def test_rabbitmq_nodes_are_the_hosts_in_order_or_host_and_port() -> None:
    from collector.config import RabbitMQConfig
    assert RabbitMQConfig(host="mq", port=5673).nodes == (("mq", 5673),)
    assert RabbitMQConfig(hosts=("a:5672", "b:5673")).nodes == (("a", 5672), ("b", 5673))


def test_a_secret_given_wrongly_is_masked(tmp_path: Path) -> None:
    [line] = problems(tmp_path, MINIMAL + "postgres:\n  password: [hunter2]\n")
    assert line.startswith("CONFIG_003 postgres.password:")
    assert "hunter2" not in line and "***" in line


def test_env_overrides_win_over_dotenv_over_yaml_over_default(tmp_path: Path) -> None:
    text = MINIMAL + "ticker_interval: 20\nfunding_rate_interval: 200\n"
    assert load(tmp_path, MINIMAL).ticker_interval == 30.0
    assert load(tmp_path, text).ticker_interval == 20.0
    dotenv = "CRYPTO_COLLECTOR_TICKER_INTERVAL=15\nCRYPTO_COLLECTOR_FUNDING_RATE_INTERVAL=150\n"
    config = load(tmp_path, text, dotenv=dotenv)
    assert (config.ticker_interval, config.funding_rate_interval) == (15.0, 150.0)
    config = load(tmp_path, text, dotenv=dotenv, environ={"CRYPTO_COLLECTOR_TICKER_INTERVAL": "12"})
    assert (config.ticker_interval, config.funding_rate_interval) == (12.0, 150.0)


def test_nested_overrides_are_case_insensitive_and_reach_exchange_secrets(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL, environ={
        "CRYPTO_COLLECTOR_RABBITMQ__HOST": "mq.internal",
        "crypto_collector_rabbitmq__port": "5673",
        "CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__BINANCE__API_KEY": "key-123",
        "CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__BINANCE__SYMBOLS": '["BTC/USDT:USDT"]',
    })
    assert (config.rabbitmq.host, config.rabbitmq.port) == ("mq.internal", 5673)
    binance = config.exchange_configs["binance"]
    assert binance.api_key == SecretStr("key-123")
    assert binance.symbols == ("BTC/USDT:USDT",)
    assert binance.ccxt_id == "binanceusdm"  # the rest of the YAML section is kept


def test_an_override_that_fails_validation_names_the_variable(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL, environ={"CRYPTO_COLLECTOR_HEALTH__PORT": "0"}) == [
        "CONFIG_003 health.port [CRYPTO_COLLECTOR_HEALTH__PORT (from environment)]: "
        "Input should be greater than or equal to 1 (given: '0')"]


def test_an_override_of_no_field_is_an_error(tmp_path: Path) -> None:
    [line] = problems(tmp_path, MINIMAL, dotenv="CRYPTO_COLLECTOR_TICKR_INTERVAL=5\n")
    assert line == ("CONFIG_003 CRYPTO_COLLECTOR_TICKR_INTERVAL (from .env): no config field 'tickr_interval' "
                    "to override (did you mean 'ticker_interval'?)")


def test_expansion_with_defaults_and_types(tmp_path: Path) -> None:
    text = MINIMAL + (
        "rabbitmq:\n  host: ${MQ_HOST}\n  port: ${MQ_PORT:-5673}\n  password: ${MQ_PASSWORD:-guest}\n"
        "  virtual_host: /${VHOST:-prod}\n  exchange: literal$$dollar\n"
    )
    config = load(tmp_path, text, environ={"MQ_HOST": "mq1"}, dotenv="VHOST=staging\nMQ_HOST=from-dotenv\n")
    assert config.rabbitmq.host == "mq1"  # the environment wins over .env
    assert config.rabbitmq.port == 5673
    assert config.rabbitmq.password.get_secret_value() == "guest"
    assert config.rabbitmq.virtual_host == "/staging"
    assert config.rabbitmq.exchange == "literal$dollar"


def test_an_unset_variable_without_default_is_config_002(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + "postgres:\n  password: ${PG_PASSWORD}\n") == [
        "CONFIG_002 postgres.password: environment variable PG_PASSWORD is not set and has no default "
        "(write ${PG_PASSWORD:-default} to give one)"]


def test_no_enabled_sink_or_exchange_is_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, "exchange_configs:\n  binance: {enabled: false}\nsqlite: {enabled: false}\n")
    assert lines[0].startswith("CONFIG_003 exchange_configs: no exchange is enabled")


HOST_FIELDS = ["health.host", "rabbitmq.host", "clickhouse.host", "postgres.host"]


@pytest.mark.parametrize("field", HOST_FIELDS)
@pytest.mark.parametrize("given", ["", " ", "mq1:5672", "amqp://mq1", "mq1/vhost", "mq 1"])
def test_an_empty_or_malformed_host_is_config_003_naming_the_variable(tmp_path: Path, field: str, given: str) -> None:
    section, key = field.split(".")
    variable = f"CRYPTO_COLLECTOR_{section.upper()}__{key.upper()}"
    lines = problems(tmp_path, MINIMAL, environ={variable: given})
    assert len(lines) == 1
    assert lines[0].startswith(f"CONFIG_003 {field} [{variable} (from environment)]: must be ")
    assert "Traceback" not in lines[0]


@pytest.mark.parametrize("given", ["localhost", "10.0.0.7", "mq-1.internal", "::1", "[::1]", "0.0.0.0"])
def test_host_names_and_addresses_are_accepted(tmp_path: Path, given: str) -> None:
    config = load(tmp_path, MINIMAL, environ={"CRYPTO_COLLECTOR_RABBITMQ__HOST": given})
    assert config.rabbitmq.host == given


@pytest.mark.parametrize("field", ["sqlite.path", "batch_processing.spool_dir", "logging.file_path"])
def test_an_empty_path_is_config_003_not_the_working_directory(tmp_path: Path, field: str) -> None:
    section, key = field.split(".")
    lines = problems(tmp_path, f"{MINIMAL}{section}:\n  {key}: ''\n")
    assert lines == [f"CONFIG_003 {field}: must be a file or directory path, not empty (given: '')"]


def test_an_empty_virtual_host_is_config_003(tmp_path: Path) -> None:
    lines = problems(tmp_path, f"{MINIMAL}rabbitmq:\n  virtual_host: ''\n")
    assert len(lines) == 1 and lines[0].startswith("CONFIG_003 rabbitmq.virtual_host: ")


@pytest.mark.parametrize("given", ["", "/fapi/v1", "127.0.0.1:9100/fapi/v1", "ftp://host/x", " http://h/x"])
def test_an_endpoint_url_that_is_no_url_is_config_003_naming_its_key(tmp_path: Path, given: str) -> None:
    text = ("exchange_configs:\n  binance:\n    ccxt_options:\n      urls:\n        api:\n"
            f"          fapiPublic: 'http://127.0.0.1:9100/fapi/v1'\n          fapiPublicV2: '{given}'\n")
    lines = problems(tmp_path, text)
    assert lines == ["CONFIG_003 exchange_configs.binance.ccxt_options.urls.api.fapiPublicV2: "
                     f"must be an http(s):// or ws(s):// URL with a host (given: {given!r})"]


def test_an_unset_simulator_url_with_an_empty_default_names_the_endpoint(tmp_path: Path) -> None:
    text = ("exchange_configs:\n  okx:\n    ccxt_options:\n      urls:\n        api:\n"
            "          rest: ${SIMULATOR_URL:-}\n          ws: ${SIMULATOR_URL}/ws/v5\n")
    lines = problems(tmp_path, text)
    assert lines[0].startswith("CONFIG_003 exchange_configs.okx.ccxt_options.urls.api.rest: must be an http(s)")


@pytest.mark.parametrize("given", ['["amqp://mq1:5672"]', '[" :5672"]', '["mq 1:5672"]'])
def test_a_malformed_host_in_rabbitmq_hosts_is_config_003(tmp_path: Path, given: str) -> None:
    lines = problems(tmp_path, MINIMAL, environ={"CRYPTO_COLLECTOR_RABBITMQ__HOSTS": given})
    assert len(lines) == 1 and lines[0].startswith("CONFIG_003 rabbitmq.hosts ")
    assert "must be" in lines[0]


def test_rabbitmq_hosts_and_queues_from_the_environment_as_json(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL, environ={
        "CRYPTO_COLLECTOR_RABBITMQ__HOSTS": '["mq1:5672", "mq2:5673"]',
        "CRYPTO_COLLECTOR_RABBITMQ__QUEUES": '[{"name": "ticks", "type": "stream"}]'})
    assert config.rabbitmq.nodes == (("mq1", 5672), ("mq2", 5673))
    assert [(q.name, q.type) for q in config.rabbitmq.queues] == [("ticks", "stream")]
