"""The systemd unit and the installer: what an operator relies on when deploying the daemon."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UNIT = ROOT / "deploy" / "systemd" / "crypto-collector.service"
INSTALL = ROOT / "deploy" / "install.sh"
VENV_PYTHON = "/opt/crypto_collector/.venv/bin/python"
COMMAND = f"{VENV_PYTHON} futures_price_collector_v5.py --config=./config/production.yaml"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections → key → every value given (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, str]:
    sections = parse_unit(UNIT.read_text())
    assert set(sections) == {"Unit", "Service", "Install"}
    return {key: values[-1] for key, values in sections["Service"].items()}


def test_the_service_runs_the_daemon_as_its_own_user_from_opt(service):
    assert service["User"] == "crypto_collector"
    assert service["Group"] == "crypto_collector"
    assert service["WorkingDirectory"] == "/opt/crypto_collector"
    assert service["ExecStart"] == COMMAND
    assert service["EnvironmentFile"] == "-/opt/crypto_collector/.env"
    assert service["SyslogIdentifier"] == "crypto-collector"


def test_a_bad_config_stops_the_start_before_the_daemon_runs(service):
    assert service["ExecStartPre"] == COMMAND + " --validate-config"


def test_systemd_waits_for_ready_and_watches_the_event_loop(service):
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert 10 <= int(service["WatchdogSec"]) <= 300


def test_a_crash_restarts_and_a_stop_leaves_time_for_the_final_flush(service):
    assert service["Restart"] == "on-failure"
    assert int(service["RestartSec"]) > 0
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) >= 60
    assert int(service["LimitNOFILE"]) >= 65536


def test_the_service_is_hardened_and_may_write_only_logs_and_data(service):
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectControlGroups", "RestrictSUIDSGID", "LockPersonality"):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"].split() == ["/opt/crypto_collector/logs", "/opt/crypto_collector/data"]
    assert service["RestrictAddressFamilies"].split() == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert service["SystemCallArchitectures"] == "native"
    assert service["CapabilityBoundingSet"] == ""


def test_the_production_config_writes_only_inside_the_writable_paths(service, tmp_path):
    from config_manager import ConfigManager

    config = ConfigManager(ROOT / "config" / "production.yaml", environ={},
                           env_file=tmp_path / "no.env").load_config()
    writable = [Path(p) for p in service["ReadWritePaths"].split()]
    for relative in (config.sqlite.path, config.batch_processing.spool_dir, config.logging.file_path):
        absolute = Path(service["WorkingDirectory"]) / relative
        assert any(absolute.resolve().is_relative_to(w) for w in writable), relative


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_no_problem_in_the_unit(tmp_path):
    # verify insists that the ExecStart binary exists; point it at this interpreter in a copy.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(VENV_PYTHON, sys.executable))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_would_catch_a_mistyped_directive(tmp_path):
    """Guards the test above: verify's complaints are seen, not lost."""
    unit = tmp_path / UNIT.name
    text = UNIT.read_text().replace(VENV_PYTHON, sys.executable)
    unit.write_text(text.replace("ProtectHome=yes", "ProtectHom=yes"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)
    assert "Unknown key" in result.stderr and "ProtectHom" in result.stderr


def run_install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def test_the_installer_is_valid_bash_that_stops_on_the_first_error():
    assert subprocess.run(["bash", "-n", str(INSTALL)], capture_output=True).returncode == 0
    assert "set -euo pipefail" in INSTALL.read_text()
    assert os.access(INSTALL, os.X_OK)


def test_install_dry_run_prints_every_step_in_order_and_changes_nothing():
    existed_before = Path("/opt/crypto_collector").exists()
    unit_before = Path("/etc/systemd/system/crypto-collector.service").exists()
    result = run_install("--dry-run")
    assert result.returncode == 0, result.stderr
    plan = result.stdout
    steps = [r"useradd --system .* crypto_collector$|system user crypto_collector exists",
             r"install -d .* /opt/crypto_collector /opt/crypto_collector/config$",
             r"install -d -m 0750 -o crypto_collector .* /opt/crypto_collector/logs /opt/crypto_collector/data$",
             r"tar -C .* \| tar -C /opt/crypto_collector ",
             r"-m venv /opt/crypto_collector/\.venv$|venv /opt/crypto_collector/\.venv exists",
             r"/opt/crypto_collector/\.venv/bin/python -m pip install .*-r /opt/crypto_collector/requirements\.txt$",
             r"install -m 0644 .*/deploy/systemd/crypto-collector\.service /etc/systemd/system/crypto-collector\.service$",
             r"^\+ systemctl daemon-reload$",
             r"^\+ systemctl enable crypto-collector\.service$"]
    positions = [match.start() if (match := re.search(step, plan, re.M)) else -1 for step in steps]
    assert -1 not in positions, dict(zip(steps, positions))
    assert positions == sorted(positions), plan
    assert Path("/opt/crypto_collector").exists() == existed_before
    assert Path("/etc/systemd/system/crypto-collector.service").exists() == unit_before


def test_install_keeps_the_operators_config_and_env_when_run_again():
    plan = run_install("--dry-run").stdout
    assert "config/production.yaml" in plan and ".env" in plan
    assert "kept if present" in plan


def test_install_rejects_an_unknown_option_with_usage_and_exit_2():
    result = run_install("--frobnicate")
    assert result.returncode == 2
    assert "usage:" in result.stderr.lower()
