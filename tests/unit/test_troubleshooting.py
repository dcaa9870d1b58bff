"""TROUBLESHOOTING.md stays true to the code: its error codes, config keys, flags, metrics, events."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from collector import metrics
from collector.config import AppConfig
from collector.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "TROUBLESHOOTING.md").read_text()
SOURCES = [*sorted((ROOT / "collector").rglob("*.py")), ROOT / "config_manager.py",
           ROOT / "futures_price_collector_v5.py"]
SOURCE_TEXT = "\n".join(path.read_text() for path in SOURCES)
CODE_SPANS = re.findall(r"`([^`\n]+)`", GUIDE) + re.findall(r"```[a-z]*\n(.*?)```", GUIDE, re.S)


def section(title: str) -> str:
    start = GUIDE.index(f"## {title}\n")
    end = GUIDE.find("\n## ", start + 1)
    return GUIDE[start:end if end != -1 else None]


def reference_codes() -> list[str]:
    return re.findall(r"^\| ([A-Z]+_\d{3}) \|", section("Error code reference"), re.M)


def test_every_error_code_is_explained_once_in_the_reference_table():
    codes = reference_codes()
    assert sorted(codes) == sorted(code.value for code in ErrorCode)
    assert len(codes) == len(set(codes))


def test_every_error_code_the_source_emits_is_an_error_code_member():
    emitted = set(re.findall(r"ErrorCode\.([A-Z_0-9]+)", SOURCE_TEXT))
    assert emitted, "no ErrorCode use found: the scan is broken"
    assert emitted <= set(ErrorCode.__members__), emitted - set(ErrorCode.__members__)


def config_path_problem(path: list[str]) -> str | None:
    """None when `path` (e.g. ['batch_processing', 'spool_dir']) names a field of AppConfig."""
    model: typing.Any = AppConfig
    for depth, part in enumerate(path):
        if isinstance(model, type) and issubclass(model, BaseModel):
            if part not in model.model_fields:
                return f"{'.'.join(path)}: no field {part!r} in {model.__name__}"
            model = model.model_fields[part].annotation
        elif typing.get_origin(model) is dict:
            model = typing.get_args(model)[1]  # a mapping level: exchange_configs.<name>
            if model is typing.Any:
                return None  # free-form below here (ccxt_options)
        else:
            return f"{'.'.join(path)}: {'.'.join(path[:depth])} has no sub-keys"
    return None


def dotted_config_paths() -> set[str]:
    """Dotted names in code spans whose first part is (or is a near-miss of) a config section."""
    sections = list(AppConfig.model_fields)
    found = set()
    for span in CODE_SPANS:
        if re.match(r"[A-Z]+_\d{3} ", span):
            continue  # quoted daemon output, e.g. the unknown-key message for a typo
        for token in re.findall(r"(?<![\w/.-])([a-z_]+(?:\.(?:<[a-z]+>|[a-z_0-9]+))+)", span):
            head = token.split(".")[0]
            if head in sections or difflib.get_close_matches(head, sections, n=1, cutoff=0.85):
                found.add(token)
    return found


def test_every_config_key_named_in_the_guide_exists():
    paths = dotted_config_paths()
    assert {"batch_processing.spool_dir", "health.port", "exchange_configs.<name>.rate_limit"} <= paths
    problems = [problem for path in sorted(paths) if (problem := config_path_problem(path.split(".")))]
    assert problems == []


def test_every_environment_override_in_the_guide_names_a_config_key():
    names = set(re.findall(r"CRYPTO_COLLECTOR_([A-Z][A-Z_]*[A-Z])", GUIDE))
    assert "TICKER_INTERVAL" in names
    problems = [problem for name in sorted(names)
                if (problem := config_path_problem(name.lower().split("__")))]
    assert problems == []


def test_the_config_path_check_rejects_what_does_not_exist():
    assert config_path_problem(["batch_processing", "spool_directory"]) is not None
    assert config_path_problem(["ticker_interval", "seconds"]) is not None
    assert config_path_problem(["exchange_configs", "<name>", "ratelimit"]) is not None
    assert config_path_problem(["exchange_configs", "okx", "ccxt_options", "httpsProxy"]) is None


def cli_flags(*command: str) -> set[str]:
    result = subprocess.run([sys.executable, *command, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"--[a-z][a-z-]*", result.stdout))


@pytest.mark.parametrize("script, help_command", [
    ("futures_price_collector_v5.py", ("futures_price_collector_v5.py",)),
    ("run_tests.py", ("run_tests.py", "--check-deps")),
])
def test_every_flag_the_guide_passes_to_our_scripts_exists(script, help_command):
    known = cli_flags(*help_command) | {"--check-deps"}
    if script == "run_tests.py":  # its own flags (the rest goes to pytest) are in its docstring
        known |= set(re.findall(r"--[a-z][a-z-]*", (ROOT / script).read_text().split('"""')[1]))
    commands = re.findall(rf"{re.escape(script)}((?:[ \t]+(?:\\\n)?[ \t]*[^\s`|&;]+)*)", GUIDE)
    used = {flag for command in commands for flag in re.findall(r"(--[a-z][a-z-]*)", command)}
    assert used, f"no {script} command found in the guide"
    assert used <= known, used - known


def exported_metric_names() -> set[str]:
    names = set()
    for family in metrics.REGISTRY.collect():
        names.add(family.name)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
    return names


def test_every_metric_the_guide_names_is_exported():
    named = set(re.findall(r"\b((?:collector|process)_[a-z_]+)\b", GUIDE))
    named -= {"collector_started", "collector_stopped", "collector_stopping"}  # log events
    assert "collector_records_written_total" in named
    assert named <= exported_metric_names(), named - exported_metric_names()


def test_every_log_event_in_the_events_table_is_logged_by_the_source():
    table = section("Reading the logs")
    events = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", table, re.M):
        events.update(re.findall(r"`([a-z_]+)`", row))
    assert "sink_down" in events
    missing = {event for event in events if f'"{event}"' not in SOURCE_TEXT}
    assert missing == set()
