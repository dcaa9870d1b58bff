"""The template unit `crypto-collector@<shard>.service` and `crypto-collector.target`: N shards on one host."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config_manager import ConfigManager
from tests.unit.deploy.test_systemd_unit import COMMAND, UNIT, VENV_PYTHON, parse_unit

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "deploy" / "systemd" / "crypto-collector@.service"
TARGET = ROOT / "deploy" / "systemd" / "crypto-collector.target"


def service(text: str) -> dict[str, list[str]]:
    return parse_unit(text)["Service"]


def instance_environment(index: int) -> dict[str, str]:
    """The Environment= lines of instance `index`, as systemd expands %i."""
    lines = service(TEMPLATE.read_text())["Environment"]
    return dict(line.replace("%i", str(index)).split("=", 1) for line in lines)


def test_each_instance_runs_the_production_command_as_the_shard_its_name_gives():
    template = service(TEMPLATE.read_text())
    assert template["ExecStart"] == [COMMAND]
    assert template["ExecStartPre"] == [COMMAND + " --validate-config"]
    assert instance_environment(3)["CRYPTO_COLLECTOR_SHARD__INDEX"] == "3"


def test_the_template_keeps_every_setting_of_the_single_unit_but_its_name_and_shard():
    single, template = service(UNIT.read_text()), service(TEMPLATE.read_text())
    assert {k: v for k, v in template.items() if k not in ("Environment", "SyslogIdentifier")} == \
        {k: v for k, v in single.items() if k != "SyslogIdentifier"}
    assert parse_unit(TEMPLATE.read_text())["Install"] == {"WantedBy": ["crypto-collector.target"]}
    assert parse_unit(TEMPLATE.read_text())["Unit"]["PartOf"] == ["crypto-collector.target"]


@pytest.mark.parametrize("index", [0, 3])
def test_two_instances_on_one_host_get_their_own_journal_sqlite_file_and_health_port(index, tmp_path):
    environ = {**instance_environment(index), "CRYPTO_COLLECTOR_SHARD__COUNT": "4"}
    config = ConfigManager(ROOT / "config" / "production.yaml", environ=environ,
                           env_file=tmp_path / ".env").load_config()
    assert config.shard.label == f"{index}/4"
    assert str(config.batch_processing.spool_dir) == f"/opt/crypto_collector/data/shard-{index}/spool"
    assert str(config.sqlite.path) == f"/opt/crypto_collector/data/shard-{index}/collector.db"
    assert config.health.port == 8080 + index


def needs_systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is not installed (.ci/run installs the systemd package)")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")


def verify(tmp_path: Path, template_text: str) -> subprocess.CompletedProcess[str]:
    # verify insists that the ExecStart binary exists: point it at this interpreter in a copy;
    # an instance is verified as a copy named like one.
    (tmp_path / "crypto-collector@2.service").write_text(template_text.replace(VENV_PYTHON, sys.executable))
    shutil.copy(TARGET, tmp_path / TARGET.name)
    return subprocess.run(["systemd-analyze", "verify", str(tmp_path / "crypto-collector@2.service"),
                           str(tmp_path / TARGET.name)], capture_output=True, text=True, timeout=60)


def test_systemd_analyze_verify_finds_no_problem_in_the_template_nor_the_target(tmp_path):
    needs_systemd_analyze()
    result = verify(tmp_path, TEMPLATE.read_text())
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "crypto-collector" in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


def test_systemd_analyze_verify_would_catch_a_mistyped_directive_in_the_template(tmp_path):
    needs_systemd_analyze()
    result = verify(tmp_path, TEMPLATE.read_text().replace("PartOf=", "PartsOf="))
    assert "Unknown key" in result.stderr and "PartsOf" in result.stderr


def test_the_installer_installs_the_template_and_target_without_enabling_them():
    result = subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--dry-run"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert result.returncode == 0, result.stderr
    assert re.search(r"install -m 0644 .*/crypto-collector@\.service .*/crypto-collector\.target "
                     r"/etc/systemd/system/$", result.stdout, re.M), result.stdout
    assert "enable crypto-collector@" not in result.stdout and "enable crypto-collector.target" not in result.stdout
