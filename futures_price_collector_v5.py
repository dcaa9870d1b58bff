#!/usr/bin/env python3
"""Crypto Futures Price Collector v5: the command line.

    python futures_price_collector_v5.py [--config PATH] [--validate-config] [--once] [--version]
    python futures_price_collector_v5.py --status [--url URL]   a running daemon's status as text
    python futures_price_collector_v5.py --export --kind K [--exchange E] [--symbol S] --since D
        [--until D] --format csv|parquet --out FILE   a range from the archive (or SQLite) to a file
    python futures_price_collector_v5.py --status --url A --url B ...   one table of a fleet of shards

Exit codes: 0 normal stop (SIGTERM, or --once done), 1 error (config included), 2 bad usage,
130 interrupted by SIGINT (after the same graceful flush); a second SIGINT/SIGTERM during the
stop forces the exit: 130/143, what the sinks had not confirmed stays in the journal.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import collector
from collector.config import AppConfig
from collector.errors import ConfigError

DEFAULT_CONFIG = Path("config/default.yaml")
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SIGINT = 0, 1, 2, 130


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="futures_price_collector_v5.py",
        description="Collects crypto futures tickers and funding rates and delivers them to sinks.")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="YAML config file (default: %(default)s)")
    parser.add_argument("--validate-config", action="store_true",
                        help="validate the config, print a summary and exit (0 valid, 1 not)")
    parser.add_argument("--online", action="store_true",
                        help="with --validate-config: also connect to every enabled sink and check what "
                             "start would (credentials, queues' arguments, tables' columns); exit 1 on any FAIL")
    parser.add_argument("--once", action="store_true",
                        help="collect one round from every exchange, flush every sink and exit")
    parser.add_argument("--status", action="store_true",
                        help="print a running daemon's status as a table and exit "
                             "(0 ok, 1 degraded, 2 failing or unreachable)")
    parser.add_argument("--url", action="append",
                        help="with --status: the daemon's health address (default: health.host and "
                             "health.port of --config); repeated: one fleet table of every shard")
    parser.add_argument("--version", action="version", version=_version())
    export = parser.add_argument_group("export", "a range of records from the archive (or SQLite) to a file")
    export.add_argument("--export", action="store_true", help="write --kind records --since .. --until to --out")
    export.add_argument("--kind", help="ticker | funding_rate | funding_settlement")
    export.add_argument("--exchange", help="only this exchange (its config name)")
    export.add_argument("--symbol", help="only this unified symbol, e.g. BTC/USDT:USDT")
    export.add_argument("--since", help="UTC date or date-time, included")
    export.add_argument("--until", help="UTC date or date-time, excluded (default: now)")
    export.add_argument("--format", help="csv | parquet")
    export.add_argument("--out", type=Path, help="the file to write")
    return parser.parse_args(argv)


def _version() -> str:
    import ccxt
    return f"crypto-futures-price-collector {collector.__version__} (ccxt {ccxt.__version__})"


def load(path: Path) -> AppConfig | None:
    """The validated config, or None after printing every problem to stderr."""
    from collector.ops import preflight
    from config_manager import ConfigManager
    try:
        config = ConfigManager(path).load_config()
        # What start-up would fail on (ccxt ids, paths): fail here too, before anything starts.
        found = preflight.problems(config)
        if found:
            raise ConfigError(found)
        return config
    except ConfigError as err:
        count = len(err.problems)
        print(f"Configuration invalid: {path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        for line in err.lines():
            print(line, file=sys.stderr)
        return None


async def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, load the config and run the daemon; returns the exit code."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:  # argparse: --help/--version (0) or bad usage (2)
        return int(exit_.code or 0)
    if args.status:
        return show_status(args)
    if args.online and not args.validate_config:
        print("--online goes with --validate-config", file=sys.stderr)
        return EXIT_USAGE
    config = load(args.config)
    if config is None:
        return EXIT_ERROR
    if args.export:
        return export_range(args, config)
    if args.validate_config:
        from collector.ops import preflight
        from collector.ops.summary import config_summary
        print(config_summary(config, args.config))
        for code, message in preflight.warnings(config):
            print(f"{code} warning: {message}")
        return await check_online(config) if args.online else EXIT_OK
    return await run_daemon(config, once=args.once)


async def check_online(config: AppConfig) -> int:
    """One OK/FAIL line per enabled sink; 0 only when every one is OK."""
    from collector.config import LoggingConfig
    from collector.logging import configure_logging, shutdown_logging
    from collector.ops.online import online_checks
    # The lines are the output; the sinks' own log lines would only interleave with them.
    configure_logging(LoggingConfig(file=False, format="console"), level="CRITICAL", stream=sys.stderr)
    try:
        checks = await online_checks(config, timeout=config.database.connect_timeout + 5.0)
    finally:
        shutdown_logging()
    for check in checks:
        print(check.line())
    return EXIT_OK if all(check.ok for check in checks) else EXIT_ERROR


def export_range(args: argparse.Namespace, config: AppConfig) -> int:
    from collector.ops import export
    try:
        request = export.request_from(args.kind, args.since, args.until, args.format, args.out,
                                      args.exchange, args.symbol)
    except export.ExportError as err:
        print(f"futures_price_collector_v5.py: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return export.run(config, request)


def show_status(args: argparse.Namespace) -> int:
    from collector.ops.status_text import EXIT_UNREACHABLE, status
    if args.url and len(args.url) > 1:
        from collector.ops.status_fleet import fleet_status
        text, code = fleet_status(args.url)
        print(text)
        return code
    url = args.url[0] if args.url else None
    if url is None:
        from config_manager import ConfigManager
        try:
            health = ConfigManager(args.config).load_config().health
        except ConfigError as err:
            print(f"cannot find the daemon's address in {args.config} (give --url):", file=sys.stderr)
            for line in err.lines():
                print(line, file=sys.stderr)
            return EXIT_UNREACHABLE
        url = f"http://{health.host}:{health.port}"
    text, code = status(url)
    print(text)
    return code


async def run_daemon(config: AppConfig, *, once: bool = False) -> int:
    from collector.app import Daemon
    from collector.logging import configure_logging, reopen_log_files, shutdown_logging
    from collector.stopping import StopSignals, exit_when_forced

    try:
        configure_logging(config.logging, level=config.log_level)
    except OSError as err:
        print(f"LOG_001 logging.file_path {config.logging.file_path}: cannot open the log file: "
              f"{err.strerror or err}; fix the path or set logging.file: false", file=sys.stderr)
        return EXIT_ERROR
    log = __import__("structlog").get_logger("collector.main")
    from collector.ops import preflight
    for code, message in preflight.warnings(config):
        log.warning("config_warning", error_code=code, warning=message)
    loop = asyncio.get_running_loop()
    signals = StopSignals(loop)  # the first stops gracefully, a second forces the exit
    signals.install()
    loop.add_signal_handler(signal.SIGHUP, reopen_log_files)
    daemon = Daemon(config, settle_heap=True)
    forcing = asyncio.create_task(exit_when_forced(signals, daemon, before_exit=shutdown_logging),
                                  name="stop:forced")
    try:
        code = await daemon.run(signals.stop, once=once)
    finally:
        forcing.cancel()
        signals.remove()
        loop.remove_signal_handler(signal.SIGHUP)
        shutdown_logging()
    if code == EXIT_OK and signals.first == signal.SIGINT:
        return EXIT_SIGINT
    return code


if __name__ == "__main__":
    from collector.runner import exit_process, run
    exit_process(run(main()))
