"""The guides as an operator uses them: every command and YAML fragment of the original
troubleshooting guide (tests/fixtures/original_troubleshooting_guide.md, the one this project was
built from) works on this project as written or gets a clear, coded answer; every YAML fragment
of our TROUBLESHOOTING.md validates."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from collector.errors import ConfigError
from config_manager import ConfigManager
from tests.support.daemon import ROOT, clean_env

ORIGINAL = (ROOT / "tests" / "fixtures" / "original_troubleshooting_guide.md").read_text()
OURS = (ROOT / "TROUBLESHOOTING.md").read_text()
DEFAULT = ROOT / "config" / "default.yaml"
CODED = re.compile(r"^CONFIG_00[1-4] ")
# The one fragment of the original that is no YAML: shell commands inside its ```yaml fence.
NOT_YAML = "sudo fallocate -l 2G /swapfile"


def fences(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def load(tmp_path: Path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return ConfigManager(path, environ={}, env_file=tmp_path / "no.env").load_config()


MINIMAL = {"exchange_configs": {"binance": {}, "bybit": {}, "okx": {}}}
BATCH_CONFLICT = "CONFIG_003 performance.batch_size (100) and batch_processing.batch_size (1000) differ"


def merged(fragment: dict, base: dict | None = None) -> str:
    def merge(base: dict, extra: dict) -> dict:
        out = copy.deepcopy(base)
        for key, value in extra.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out
    return yaml.safe_dump(merge(yaml.safe_load(DEFAULT.read_text()) if base is None else base, fragment))


def outcome(tmp_path: Path, text: str) -> list[str]:
    """[] when the config loads, else its coded problem lines."""
    try:
        load(tmp_path, text)
    except ConfigError as err:
        return err.lines()
    return []


ORIGINAL_YAML = fences(ORIGINAL, "yaml")


@pytest.mark.parametrize("fragment", ORIGINAL_YAML, ids=[f"fragment{i}" for i in range(len(ORIGINAL_YAML))])
def test_each_yaml_fragment_of_the_original_guide_works_merged_into_a_config(tmp_path, fragment):
    if NOT_YAML in fragment:
        lines = outcome(tmp_path, fragment)
        assert len(lines) == 1 and lines[0].startswith("CONFIG_001 ") and "invalid YAML at line" in lines[0]
        return
    data = yaml.safe_load(fragment)
    assert outcome(tmp_path, merged(data, MINIMAL)) == []
    # config/default.yaml sets the canonical batch_processing.batch_size itself: the guide's
    # performance.batch_size then gets the coded answer naming both keys, never a silent pick.
    lines = outcome(tmp_path, merged(data))
    assert lines == [] or [line.split(";")[0] for line in lines] == [BATCH_CONFLICT]


@pytest.mark.parametrize("fragment", ORIGINAL_YAML, ids=[f"fragment{i}" for i in range(len(ORIGINAL_YAML))])
def test_each_yaml_fragment_pasted_below_a_config_loads_or_names_the_duplicate_lines(tmp_path, fragment):
    base = DEFAULT.read_text()
    lines = outcome(tmp_path, base + "\n" + fragment)
    sections = set(yaml.safe_load(base)) & set(re.findall(r"^([a-z_]+):", fragment, re.M))
    if NOT_YAML in fragment:
        assert len(lines) == 1 and lines[0].startswith("CONFIG_001 ")
    elif sections:  # YAML would silently keep the pasted block only: refused, both lines named
        assert lines and all(line.startswith("CONFIG_001 ") and "duplicate key" in line for line in lines)
        assert {re.search(r"duplicate key '([a-z_]+)'", line).group(1) for line in lines} == sections
    else:
        assert lines == []


def test_the_guides_performance_batch_size_reaches_the_writers(tmp_path):
    [memory] = [f for f in ORIGINAL_YAML if "batch_size: 100" in f and NOT_YAML not in f]
    assert load(tmp_path, merged(yaml.safe_load(memory), MINIMAL)).batch_processing.batch_size == 100


def run(command: list[str], cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)


def python_c_blocks() -> list[str]:
    return [m.strip() for m in re.findall(r'python3? -c "\n?(.*?)"\n', ORIGINAL, re.S)]


def test_the_original_guides_python_snippets_run(tmp_path):
    snippets = python_c_blocks()
    assert len(snippets) == 4  # psutil figures, yaml syntax (twice), the ConfigManager check
    for snippet in snippets:
        result = run([sys.executable, "-c", snippet.replace('\\"', '"')])
        assert result.returncode == 0, (snippet, result.stderr)
        assert "Traceback" not in result.stderr


def test_the_original_guides_validate_command_works_as_written():
    commands = set(re.findall(r"^python (futures_price_collector_v5\.py [^\n]+)$", ORIGINAL, re.M))
    assert commands == {"futures_price_collector_v5.py --config=./config/production.yaml --validate-config"}
    result = run([sys.executable, *commands.pop().split()])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Configuration OK: config/production.yaml")


def test_the_original_guides_check_deps_gives_one_coded_or_ok_line_per_check():
    assert re.search(r"^python run_tests\.py --check-deps$", ORIGINAL, re.M)
    result = run([sys.executable, "run_tests.py", "--check-deps"])
    assert "Traceback" not in result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(("OK ", "FAIL "))]
    assert rows and result.stdout.splitlines()[-1].endswith(" FAIL")
    # Without internet the exchanges fail: each says why with its code.
    for line in rows:
        if line.startswith("FAIL ") and line[6:].startswith("exchange "):
            assert re.search(r"\bEXCHANGE_00\d\b", line), line


def test_the_original_guides_profiling_script_runs_the_daemons_main(tmp_path):
    [script] = [block for block in fences(ORIGINAL, "python") if "cProfile" in block]
    path = tmp_path / "profile_collector.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n{script}")
    # Run where it may write its collector_profile.prof: the scratch directory, not the checkout.
    result = run([sys.executable, str(path), f"--config={ROOT / 'config' / 'production.yaml'}", "--validate-config"],
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Configuration OK" in result.stdout and "cumulative" in result.stdout


@pytest.mark.parametrize("fragment", fences(OURS, "yaml"))
def test_every_yaml_fragment_of_our_guide_validates(tmp_path, fragment):
    data = yaml.safe_load(fragment)
    if fragment.startswith("# prometheus.yml"):  # Prometheus' own config, not the daemon's
        assert [job["job_name"] for job in data["scrape_configs"]] == ["crypto-collector"]
        return
    assert outcome(tmp_path, merged(data)) == []
