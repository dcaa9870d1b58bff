"""Performance baseline of the real daemon against the exchange simulator, measured from outside.

    python -m benchmarks.baseline [--symbols 200] [--seconds 60] [--ticker-interval 5] [--archive]

Starts `python -m exchange_simulator` (3 exchanges x N symbols) and the daemon
(`futures_price_collector_v5.py --config <temp config>`: SQLite sink, health server, log file,
all in a temp directory), then reports start-up to the first record written, RSS, CPU, record
rates and per-exchange response times (psutil on the daemon's pid, its /health and /metrics),
and stops the daemon with SIGTERM (it must exit 0).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.engine import free_port, simulator_process
from exchange_simulator import binanceusdm, bybit, okx

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "futures_price_collector_v5.py"
EXCHANGES = {"binance": ("binanceusdm", binanceusdm), "bybit": ("bybit", bybit), "okx": ("okx", okx)}
RATE_LIMIT = 2400  # requests/minute, as config/simulator.yaml: binance's bulk ticker (cost 40) fits every 1 s
SAMPLE_EVERY_S = 0.5
STARTUP_TIMEOUT_S = 120.0


def daemon_config(workdir: Path, sim_url: str, health_port: int, args: argparse.Namespace) -> dict[str, Any]:
    exchanges = {name: {"ccxt_id": ccxt_id, "rate_limit": RATE_LIMIT, "timeout": 10.0,
                        "ccxt_options": dialect.ccxt_options(sim_url)}
                 for name, (ccxt_id, dialect) in EXCHANGES.items()}
    return {
        "ticker_interval": args.ticker_interval,
        "funding_rate_interval": args.funding_interval,
        "exchange_configs": exchanges,
        "batch_processing": {"spool_dir": str(workdir / "spool")},
        "logging": {"console": False, "format": "json", "file_path": str(workdir / "logs" / "collector.log")},
        "health": {"enabled": True, "host": "127.0.0.1", "port": health_port},
        "sqlite": {"enabled": True, "path": str(workdir / "collector.db")},
        # --archive: the Parquet archive on too (its RSS cost is this run's beside one without).
        "parquet": {"enabled": args.archive, "path": str(workdir / "archive")},
    }


def daemon_env() -> dict[str, str]:
    """This environment without overrides of the config and without a systemd notify socket."""
    skip = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}
    return {k: v for k, v in os.environ.items() if k not in skip and not k.startswith("CRYPTO_COLLECTOR_")}


def http_get(url: str) -> bytes | None:
    """The body (also of a 503 /health), or None while the server is not listening."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        return err.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample on /metrics as (name, labels, value)."""
    body = http_get(url)
    if body is None:
        raise RuntimeError(f"{url} did not answer")
    return [(s.name, s.labels, s.value)
            for family in text_string_to_metric_families(body.decode()) for s in family.samples]


def total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(value for sample, have, value in samples
               if sample == name and all(have.get(k) == v for k, v in labels.items()))


class Daemon:
    """The daemon subprocess, with psutil samples of its RSS and CPU."""

    def __init__(self, config_path: Path, workdir: Path) -> None:
        self.stderr_path = workdir / "daemon.stderr"
        with self.stderr_path.open("wb") as stderr:
            self.started = time.monotonic()
            self.popen = subprocess.Popen([sys.executable, str(ENTRY), "--config", str(config_path)],
                                          cwd=workdir, env=daemon_env(), stdout=subprocess.DEVNULL, stderr=stderr)
        self.process = psutil.Process(self.popen.pid)
        self.rss: list[tuple[float, int]] = []
        self.children_rss: list[tuple[float, int]] = []  # the archive writer process (--archive)

    def children_cpu_seconds(self) -> float:
        return sum(sum(child.cpu_times()[:2]) for child in self._children())

    def _children(self) -> list[psutil.Process]:
        return self.process.children(recursive=True)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def sample(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"the daemon exited with {self.popen.returncode}: {self.stderr_tail()}")
        self.rss.append((time.monotonic(), self.process.memory_info().rss))
        try:
            children = sum(child.memory_info().rss for child in self._children())
        except psutil.NoSuchProcess:
            return  # one ended between the listing and the reading: the next sample has it
        self.children_rss.append((time.monotonic(), children))

    def stderr_tail(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-2000:]

    def stop(self) -> tuple[int, float]:
        """SIGTERM, then the exit code and how long the graceful stop took."""
        asked = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(90)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        return code, time.monotonic() - asked


def wait_first_write(daemon: Daemon, health_url: str) -> float:
    """Seconds from process start until /health shows a flush by the SQLite sink."""
    while time.monotonic() - daemon.started < STARTUP_TIMEOUT_S:
        daemon.sample()
        body = http_get(health_url)
        if body and (json.loads(body).get("sinks", {}).get("sqlite") or {}).get("last_flush"):
            return time.monotonic() - daemon.started
        time.sleep(0.1)
    raise RuntimeError(f"no record written within {STARTUP_TIMEOUT_S:.0f} s: {daemon.stderr_tail()}")


def writer_process_rows(daemon: Daemon, second_half: float, cpu: float) -> list[tuple[str, str, str]]:
    """The archive writer process's figures (a child of the daemon with --archive); none without."""
    steady = [rss for t, rss in daemon.children_rss if t >= second_half]
    if not any(steady):
        return []
    mb = 1_048_576
    return [("archive writer process: steady RSS (median, 2nd half)", f"{statistics.median(steady) / mb:.1f}", "MB"),
            ("archive writer process: peak RSS", f"{max(rss for _, rss in daemon.children_rss) / mb:.1f}", "MB"),
            ("archive writer process: CPU s (whole run)", f"{cpu:.2f}", "s")]


def measure(args: argparse.Namespace, workdir: Path, sim_url: str) -> int:
    health_port = free_port()
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(daemon_config(workdir, sim_url, health_port, args), sort_keys=False))
    base = f"http://127.0.0.1:{health_port}"
    daemon = Daemon(config_path, workdir)
    try:
        startup_s = wait_first_write(daemon, base + "/health")
        before, cpu0, t0 = scrape(base + "/metrics"), daemon.cpu_seconds(), time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            time.sleep(SAMPLE_EVERY_S)
            daemon.sample()
        after, cpu1, t1 = scrape(base + "/metrics"), daemon.cpu_seconds(), time.monotonic()
        children_cpu = daemon.children_cpu_seconds()
    except BaseException:
        daemon.stop()
        raise
    code, stop_s = daemon.stop()

    wall, cpu = t1 - t0, cpu1 - cpu0
    collected = total(after, "collector_records_collected_total") - total(before, "collector_records_collected_total")
    written = (total(after, "collector_records_written_total", sink="sqlite")
               - total(before, "collector_records_written_total", sink="sqlite"))
    unchanged = (total(after, "collector_records_skipped_total", reason="unchanged")
                 - total(before, "collector_records_skipped_total", reason="unchanged"))
    steady = [rss for t, rss in daemon.rss if t >= t0 + wall / 2]
    mb = 1_048_576
    rows = [
        ("start-up to first record written", f"{startup_s:.2f}", "s"),
        ("CPU during start-up", f"{cpu0:.2f}", "s"),
        ("steady RSS (median, 2nd half)", f"{statistics.median(steady) / mb:.1f}", "MB"),
        ("peak RSS (sampled every 0.5 s)", f"{max(rss for _, rss in daemon.rss) / mb:.1f}", "MB"),
        ("CPU share (daemon CPU s / wall s)", f"{cpu / wall * 100:.1f}", "%"),
        ("CPU s per 10,000 records", f"{cpu / collected * 10_000 if collected else float('nan'):.3f}", "s"),
        ("records collected/s", f"{collected / wall:.1f}", "/s"),
        ("unchanged (not re-emitted)/s", f"{unchanged / wall:.1f}", "/s"),
        ("records written/s (sqlite)", f"{written / wall:.1f}", "/s"),
        ("SIGTERM to exit", f"{stop_s:.2f}", "s"),
    ]
    rows[4:4] = writer_process_rows(daemon, t0 + wall / 2, children_cpu)
    print(f"baseline: 3 exchanges x {args.symbols} symbols, ticker every {args.ticker_interval:g} s, "
          f"funding rate every {args.funding_interval:g} s, {wall:.0f} s measured after the first write, "
          f"SQLite sink, rate_limit {RATE_LIMIT}/min")
    for label, value, unit in rows:
        print(f"{label:<36} {value:>10} {unit}")
    print(f"{'exchange':<10} {'requests':>9} {'avg response ms':>16} {'success %':>10}")
    for name in EXCHANGES:
        count = total(after, "collector_exchange_request_seconds_count", exchange=name)
        seconds = total(after, "collector_exchange_request_seconds_sum", exchange=name)
        ok = total(after, "collector_exchange_requests_total", exchange=name, outcome="ok")
        requests = total(after, "collector_exchange_requests_total", exchange=name)
        print(f"{name:<10} {requests:>9.0f} {seconds / count * 1000 if count else float('nan'):>16.1f} "
              f"{ok / requests * 100 if requests else float('nan'):>10.1f}")
    print(f"daemon exit code after SIGTERM: {code}")
    if code != 0:
        print(daemon.stderr_tail(), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baseline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=200, help="per exchange")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured after the first write")
    parser.add_argument("--ticker-interval", type=float, default=5.0)
    parser.add_argument("--funding-interval", type=float, default=30.0)
    parser.add_argument("--archive", action="store_true", help="the Parquet archive sink on as well")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="collector-baseline-") as tmp, \
            simulator_process(args.symbols) as sim_url:
        try:
            return measure(args, Path(tmp), sim_url)
        except RuntimeError as err:
            print(f"baseline failed: {err}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
