"""`--validate-config` as an operator runs it: the request-weight estimate and its warning."""

from __future__ import annotations

from tests.e2e.test_cli import cli


def test_validate_config_warns_above_80_percent_of_the_limit_and_still_exits_0(tmp_path):
    path = tmp_path / "busy.yaml"
    path.write_text("ticker_interval: 1.0\nexchange_configs:\n  binance:\n    rate_limit: 2400\n")
    result = cli("--config", str(path), "--validate-config")
    assert result.returncode == 0, result.stderr
    assert "binance    " in result.stdout and "WARNING binance:" in result.stdout
    assert "tickers            ticker" in result.stdout and "cost 40" in result.stdout
