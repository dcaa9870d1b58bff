"""The command line as an operator uses it: a real subprocess each time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.daemon import ENTRY, ROOT, clean_env

SECRET = "s3cr3t-Value-42"


def cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ENTRY), *args], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=60)


def test_validate_production_config_prints_a_summary_with_secrets_masked() -> None:
    env = clean_env(POSTGRES_PASSWORD=SECRET, RABBITMQ_PASSWORD=SECRET, OKX_SECRET=SECRET,
                    CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__BINANCE__API_KEY=SECRET)
    result = cli("--config=./config/production.yaml", "--validate-config", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Configuration OK: config/production.yaml")
    for shown in ("binance", "bybit", "okx", "ticker 15s", "funding_rate 300s", "rabbitmq   enabled",
                  "clickhouse enabled", "postgres   enabled", "sqlite     enabled", "api_key *** (set)"):
        assert shown in out
    assert SECRET not in out + result.stderr


def test_every_problem_is_listed_with_its_code_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "ticker_interval: 0.5\n"
        "exchange_configs:\n  binance:\n    timeout: 500\n    rate_limit: 50\n    secret: " + SECRET + "\n"
        "rabbitmq:\n  port: 70000\n  pasword: " + SECRET + "\n"
    )
    result = cli("--config", str(config), "--validate-config")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"Configuration invalid: {config}: 5 problems"
    assert [line.split(" ", 2)[:2] for line in lines[1:]] == [
        ["CONFIG_003", "ticker_interval:"],
        ["CONFIG_003", "exchange_configs.binance.rate_limit:"],
        ["CONFIG_003", "exchange_configs.binance.timeout:"],
        ["CONFIG_003", "rabbitmq.port:"],
        ["CONFIG_003", "rabbitmq.pasword:"],
    ]
    assert "Traceback" not in result.stderr and SECRET not in result.stdout + result.stderr


def test_yaml_error_and_missing_file_are_config_001(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("exchange_configs:\n  binance: [\n")
    result = cli("--config", str(broken), "--validate-config")
    assert result.returncode == 1 and "CONFIG_001" in result.stderr and "line 3, column 1" in result.stderr
    result = cli("--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert result.stderr.splitlines()[1] == f"CONFIG_001 {tmp_path / 'missing.yaml'}: config file not found"
    assert "Traceback" not in result.stderr


def test_an_invalid_override_names_the_variable() -> None:
    result = cli("--validate-config", env=clean_env(CRYPTO_COLLECTOR_RABBITMQ__PORT="70000"))
    assert result.returncode == 1
    assert "rabbitmq.port [CRYPTO_COLLECTOR_RABBITMQ__PORT (from environment)]" in result.stderr


def test_bad_usage_exits_2_and_version_exits_0() -> None:
    assert cli("--frobnicate").returncode == 2
    version = cli("--version")
    assert version.returncode == 0 and "5.0.0" in version.stdout


def test_default_config_validates_on_a_machine_with_no_servers() -> None:
    result = cli("--validate-config")
    assert result.returncode == 0
    assert "sqlite     enabled" in result.stdout and "postgres   disabled" in result.stdout


def test_an_empty_rabbitmq_host_fails_validation_and_the_start_naming_the_variable(tmp_path: Path) -> None:
    """An empty override used to pass validation and crash the sink at run time with a traceback
    while `--once` still exited 0."""
    env = clean_env(CRYPTO_COLLECTOR_RABBITMQ__ENABLED="true", CRYPTO_COLLECTOR_RABBITMQ__HOST="")
    for args in (("--validate-config",), ("--once",)):
        result = cli(*args, env=env)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        out = result.stdout + result.stderr
        assert ("CONFIG_003 rabbitmq.host [CRYPTO_COLLECTOR_RABBITMQ__HOST (from environment)]: "
                "must be a host name or IP address, not empty") in out, out
        assert "Traceback" not in out
