"""--validate-config fails on what start-up fails on, and warns on what will work badly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collector.ops import preflight
from collector.config import AppConfig
from collector.errors import ErrorCode
from config_manager import ConfigManager

ROOT = Path(__file__).resolve().parents[3]


def config(tmp_path: Path, **sections) -> AppConfig:
    data = {
        "exchange_configs": {"binance": {}},
        "logging": {"file_path": str(tmp_path / "logs" / "collector.log")},
        "batch_processing": {"spool_dir": str(tmp_path / "data" / "spool")},
        "sqlite": {"path": str(tmp_path / "data" / "collector.db")},
    }
    data.update(sections)
    return AppConfig.model_validate(data)


def test_a_config_with_creatable_paths_and_known_ids_has_no_problem_and_creates_nothing(tmp_path):
    assert preflight.problems(config(tmp_path)) == []
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_ccxt_id_names_the_nearest_ccxt_ids(tmp_path):
    found = preflight.problems(config(tmp_path, exchange_configs={"binance": {"ccxt_id": "binanceusdmx"}}))
    assert found == [(ErrorCode.CONFIG_003,
                      "exchange_configs.binance.ccxt_id: unknown ccxt exchange 'binanceusdmx' "
                      "(did you mean 'binanceusdm', 'binanceus', 'binance'?)")]


def test_paths_under_a_regular_file_are_each_a_problem(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    found = preflight.problems(config(
        tmp_path, logging={"file_path": str(blocker / "logs" / "c.log")},
        batch_processing={"spool_dir": str(blocker / "spool")}, sqlite={"path": str(blocker / "c.db")}))
    assert [message.split(":")[0] for _, message in found] == [
        "logging.file_path", "batch_processing.spool_dir", "sqlite.path"]
    assert all(f"{blocker} is a regular file, not a directory" in message for _, message in found)


def test_a_directory_where_a_file_belongs_and_a_file_where_a_directory_belongs(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "spool").write_text("")
    found = dict((message.split(":")[0], message) for _, message in preflight.problems(config(
        tmp_path, sqlite={"path": str(tmp_path / "db")}, batch_processing={"spool_dir": str(tmp_path / "spool")})))
    assert found["sqlite.path"].endswith("is a directory, not a file")
    assert found["batch_processing.spool_dir"].endswith("exists and is not a directory")


def test_a_directory_nobody_may_write_is_a_problem(tmp_path):
    # /proc refuses new files even to root, so this holds whoever runs the tests.
    found = preflight.problems(config(tmp_path, logging={"file_path": "/proc/collector/collector.log"}))
    assert len(found) == 1
    assert found[0][1].startswith("logging.file_path: /proc/collector/collector.log: cannot be created: "
                                  "directory /proc is not writable")


def test_a_disabled_log_file_or_sqlite_sink_is_not_checked(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    assert preflight.problems(config(
        tmp_path, logging={"file": False, "file_path": str(blocker / "x.log")},
        sqlite={"enabled": False, "path": str(blocker / "x.db")}, postgres={"enabled": True})) == []


def test_intervals_the_rate_limit_cannot_serve_are_a_config_004_warning(tmp_path):
    warned = preflight.warnings(config(tmp_path, ticker_interval=1.0))
    assert [(code, message.split(":")[0]) for code, message in warned] == [
        (ErrorCode.CONFIG_004, "exchange_configs.binance.rate_limit")]
    assert "cost 2400/min" in warned[0][1]  # binance's bulk ticker call weighs 40, once a second
    assert preflight.warnings(config(tmp_path, ticker_interval=1.0,
                                     exchange_configs={"binance": {"rate_limit": 2500}})) == []


def test_half_a_credential_pair_is_a_warning_naming_the_missing_half(tmp_path):
    warned = preflight.warnings(config(tmp_path, exchange_configs={"okx": {"api_key": "k3y"}}))
    assert [message.split(":")[0] for _, message in warned] == ["exchange_configs.okx.secret"]
    assert "k3y" not in warned[0][1]


@pytest.mark.parametrize("name", ["default", "production", "debug", "simulator"])
def test_the_shipped_configs_raise_no_warning(name):
    shipped = ConfigManager(ROOT / "config" / f"{name}.yaml", environ={}, env_file=ROOT / "no.env").load_config()
    assert preflight.warnings(shipped) == []


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "futures_price_collector_v5.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_validate_and_start_fail_alike_with_one_coded_line_each_and_no_traceback(tmp_path):
    (tmp_path / "afile").write_text("")
    path = tmp_path / "config.yaml"
    path.write_text("exchange_configs:\n  binance: {ccxt_id: binanceusdmx}\n"
                    "logging: {file_path: afile/logs/c.log}\nsqlite: {path: ./data/c.db}\n")
    validated = cli("--config", str(path), "--validate-config", cwd=tmp_path)
    started = cli("--config", str(path), cwd=tmp_path)
    assert validated.returncode == started.returncode == 1
    assert validated.stderr == started.stderr
    lines = validated.stderr.splitlines()
    assert lines[1:] == [
        "CONFIG_003 exchange_configs.binance.ccxt_id: unknown ccxt exchange 'binanceusdmx' "
        "(did you mean 'binanceusdm', 'binanceus', 'binance'?)",
        "CONFIG_003 logging.file_path: afile/logs/c.log: cannot be created: afile is a regular file, "
        "not a directory",
    ]
    assert "Traceback" not in validated.stderr + started.stderr


def test_validate_prints_warnings_after_the_summary_and_still_exits_0(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("ticker_interval: 1\nexchange_configs:\n  binance: {}\n")
    result = cli("--config", str(path), "--validate-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("CONFIG_004 warning: exchange_configs.binance.rate_limit: ")
