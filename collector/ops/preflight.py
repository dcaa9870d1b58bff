"""What a valid config can still fail or work badly on, checked before anything starts.

`problems(config)`: what start-up would fail on — a `ccxt_id` ccxt does not know, a log file,
spool directory or SQLite file that cannot be created or written. `--validate-config` and the
daemon's start both run it, so systemd's `ExecStartPre=` fails exactly when the start would.
`warnings(config)`: what will run but badly (CONFIG_004), e.g. intervals the rate limit cannot
serve. Nothing is created: a missing directory is judged by its nearest existing ancestor.
"""

from __future__ import annotations

import difflib
import tempfile
from pathlib import Path

from collector.config import AppConfig, ExchangeConfig
from collector.errors import ErrorCode

Problem = tuple[ErrorCode, str]

# The ccxt endpoint each bulk call of ours uses, to read its cost from ccxt's own tables.
_BULK_ENDPOINTS = {
    "binanceusdm": {"ticker": ("fapiPublic", "ticker/24hr"), "funding_rate": ("fapiPublic", "premiumIndex")},
    "bybit": {"ticker": ("public", "v5/market/tickers"), "funding_rate": ("public", "v5/market/tickers")},
    "okx": {"ticker": ("public", "market/tickers"), "funding_rate": ("public", "public/funding-rate")},
}


def problems(config: AppConfig) -> list[Problem]:
    found = [problem for name, exchange in config.exchange_configs.items()
             if (problem := _ccxt_id_problem(name, exchange))]
    paths = []
    if config.logging.file:
        paths.append(("logging.file_path", config.logging.file_path, False))
    paths.append(("batch_processing.spool_dir", config.batch_processing.spool_dir, True))
    if config.sqlite.enabled:
        paths.append(("sqlite.path", config.sqlite.path, False))
    for field, path, is_dir in paths:
        reason = directory_problem(path) if is_dir else file_problem(path)
        if reason:
            found.append((ErrorCode.CONFIG_003, f"{field}: {path}: {reason}"))
    return found


def warnings(config: AppConfig) -> list[Problem]:
    found = [warning for name, exchange in config.enabled_exchanges.items()
             for warning in _exchange_warnings(name, exchange, config)]
    if not config.logging.console and not config.logging.file:
        found.append((ErrorCode.CONFIG_004,
                      "logging: console and file are both false: the daemon will log nowhere"))
    return found


def _ccxt_id_problem(name: str, exchange: ExchangeConfig) -> Problem | None:
    import ccxt

    if exchange.ccxt_id in ccxt.exchanges:
        return None
    close = difflib.get_close_matches(exchange.ccxt_id, ccxt.exchanges, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else \
        "see python -c \"import ccxt; print(ccxt.exchanges)\""
    return (ErrorCode.CONFIG_003,
            f"exchange_configs.{name}.ccxt_id: unknown ccxt exchange {exchange.ccxt_id!r} ({hint})")


def directory_problem(path: Path) -> str | None:
    """Why `path` cannot be used as a directory we write files into (None when it can)."""
    if path.exists():
        if not path.is_dir():
            return "exists and is not a directory"
        return _not_writable(path)
    return _not_creatable(path)


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be created or appended to, with sidecar files beside it (None: it can)."""
    if path.exists():
        if path.is_dir():
            return "is a directory, not a file"
        try:
            with open(path, "ab"):
                pass
        except OSError as err:
            return f"cannot be written: {err.strerror}"
        return _not_writable(path.parent)  # SQLite's -wal/-shm and rotated logs go beside it
    return _not_creatable(path)


def _not_creatable(path: Path) -> str | None:
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot be created: {ancestor} is a regular file, not a directory"
    reason = _not_writable(ancestor)
    return f"cannot be created: {reason}" if reason else None


def _not_writable(directory: Path) -> str | None:
    # Try it: permission bits, read-only mounts and a root user all answer truthfully this way.
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".collector-write-test-"):
            pass
    except OSError as err:
        return f"directory {directory} is not writable ({err.strerror or err})"
    return None


def _exchange_warnings(name: str, exchange: ExchangeConfig, config: AppConfig) -> list[Problem]:
    found = []
    needed = _units_per_minute(exchange.ccxt_id, config)
    if needed is not None and needed > exchange.rate_limit:
        found.append((ErrorCode.CONFIG_004,
                      f"exchange_configs.{name}.rate_limit: {exchange.rate_limit}/min cannot serve "
                      f"ticker_interval {config.ticker_interval:g}s and funding_rate_interval "
                      f"{config.funding_rate_interval:g}s: the bulk calls cost {needed:.0f}/min in ccxt's "
                      "request weights; polls will wait and skip ticks (SCHED_001); raise rate_limit "
                      "within the exchange's limit or the intervals"))
    keys = [field for field in ("api_key", "secret") if getattr(exchange, field).get_secret_value()]
    if len(keys) == 1:
        missing = "secret" if keys == ["api_key"] else "api_key"
        found.append((ErrorCode.CONFIG_004,
                      f"exchange_configs.{name}.{missing}: empty while {keys[0]} is set; ccxt will fail "
                      "authentication (EXCHANGE_002); set both, or neither for public data"))
    return found


def _units_per_minute(ccxt_id: str, config: AppConfig) -> float | None:
    """ccxt cost units per minute of our bulk calls, for the exchanges we know the endpoints of."""
    endpoints = _BULK_ENDPOINTS.get(ccxt_id)
    if endpoints is None:
        return None
    import ccxt

    exchange = getattr(ccxt, ccxt_id)()
    intervals = {"ticker": config.ticker_interval, "funding_rate": config.funding_rate_interval}
    total = 0.0
    for kind, (api, path) in endpoints.items():
        entry = exchange.api[api]["get"][path]
        cost = exchange.calculate_rate_limiter_cost(api, "GET", path, {}, entry)
        total += float(cost) * 60.0 / intervals[kind]
    return total

