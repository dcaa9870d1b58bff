"""The `parquet:` section: its constraints, and where `--validate-config` shows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from collector.config import AppConfig
from collector.ops.summary import config_summary


def configured(**sections) -> AppConfig:
    return AppConfig.model_validate({"exchange_configs": {"binance": {}}, **sections})


def test_the_archive_is_off_by_default_with_the_contracts_defaults():
    parquet = configured().parquet
    assert (parquet.enabled, parquet.path, parquet.roll_interval, parquet.max_part_records,
            parquet.compression, parquet.compact_after) == (False, Path("data/archive"), 3600.0, 1_000_000,
                                                            "zstd", 7200.0)


@pytest.mark.parametrize("values", [{"roll_interval": 59.0}, {"roll_interval": 86401.0},
                                    {"compression": "lz4"}, {"max_part_records": 0},
                                    {"compact_after": -1.0}, {"paht": "./x"}])
def test_values_outside_the_contract_are_refused(values):
    with pytest.raises(ValidationError):
        configured(parquet=values)


def test_the_archive_alone_is_an_enabled_sink():
    config = configured(sqlite={"enabled": False}, parquet={"enabled": True})
    assert config.enabled_sinks == ["parquet"]


def test_the_summary_shows_the_archive_when_it_is_on():
    text = config_summary(configured(parquet={"enabled": True, "compression": "snappy"}), Path("c.yaml"))
    assert ("    parquet    enabled, data/archive, roll 3600s or 1000000 records, snappy,"
            " compact 7200s after a day (0 = never)") in text.splitlines()
    assert "parquet" not in config_summary(configured(), Path("c.yaml"))
