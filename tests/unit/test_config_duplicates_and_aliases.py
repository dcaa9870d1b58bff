"""A config cannot be silently wrong: duplicate keys, and the guide's `performance.batch_size`."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.errors import ConfigError
from config_manager import ConfigManager


def load(tmp_path: Path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return ConfigManager(path, environ={}, env_file=tmp_path / "no.env").load_config()


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.lines()


def test_a_pasted_second_exchange_configs_block_is_config_001_naming_both_lines(tmp_path):
    text = ("exchange_configs:\n  bybit: {}\n  okx: {}\nticker_interval: 15\n"
            "exchange_configs:\n  binance:\n    rate_limit: 800\n")
    lines = problems(tmp_path, text)
    assert len(lines) == 1
    assert lines[0].startswith("CONFIG_001 ")
    assert "duplicate key 'exchange_configs' at line 5 (first at line 1)" in lines[0]


def test_duplicate_keys_deep_down_are_each_reported_with_their_path(tmp_path):
    text = ("exchange_configs:\n  okx:\n    timeout: 5\n    timeout: 6\n"
            "sqlite:\n  path: a.db\n  enabled: true\n  path: b.db\n")
    lines = problems(tmp_path, text)
    assert [line.split(": ", 1)[1].split(";")[0] for line in lines] == [
        "duplicate key 'exchange_configs.okx.timeout' at line 4 (first at line 3)",
        "duplicate key 'sqlite.path' at line 8 (first at line 6)",
    ]


def test_the_same_key_in_two_different_mappings_is_no_duplicate(tmp_path):
    config = load(tmp_path, "exchange_configs:\n  okx: {timeout: 5}\n  bybit: {timeout: 5}\n")
    assert config.exchange_configs["okx"].timeout == config.exchange_configs["bybit"].timeout == 5


def test_performance_batch_size_as_the_guide_writes_it_sets_the_writers_batch_size(tmp_path):
    config = load(tmp_path, "exchange_configs:\n  okx: {}\nperformance:\n  batch_size: 100\n")
    assert config.batch_processing.batch_size == 100


def test_both_batch_sizes_equal_is_accepted(tmp_path):
    config = load(tmp_path, "exchange_configs:\n  okx: {}\nperformance: {batch_size: 300}\n"
                            "batch_processing: {batch_size: 300}\n")
    assert config.batch_processing.batch_size == 300


def test_both_batch_sizes_different_is_config_003_naming_both(tmp_path):
    lines = problems(tmp_path, "exchange_configs:\n  okx: {}\nperformance: {batch_size: 100}\n"
                               "batch_processing: {batch_size: 2000}\n")
    assert lines == ["CONFIG_003 performance.batch_size (100) and batch_processing.batch_size (2000) "
                     "differ; keep only batch_processing.batch_size"]


def test_performance_batch_size_keeps_the_batch_size_constraint(tmp_path):
    lines = problems(tmp_path, "exchange_configs:\n  okx: {}\nperformance: {batch_size: 0}\n")
    assert lines[0].startswith("CONFIG_003 performance.batch_size: Input should be greater than or equal to 1")
