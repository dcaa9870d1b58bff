#!/usr/bin/env python3
"""Runs the test suite, or checks that this machine can run the daemon.

    python run_tests.py [pytest arguments...]        the whole suite (or what you name)
    python run_tests.py --soak [pytest arguments...] the soak tests only (tens of minutes each)
    python run_tests.py --cluster [pytest arguments...] the tests that start their own three-node
                                                     RabbitMQ cluster (root, rabbitmq-server installed)
    python run_tests.py --check-deps [--config PATH] Python, packages, config, sinks, exchanges:
                                                     a table of OK / FAIL lines; exit 0 only if all OK
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    if "--check-deps" in argv:
        parser = argparse.ArgumentParser(prog="run_tests.py --check-deps")
        parser.add_argument("--check-deps", action="store_true")
        parser.add_argument("--config", type=Path, default=Path("config/default.yaml"))
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds per reachability check")
        args = parser.parse_args(argv)
        sys.path.insert(0, str(ROOT))
        from collector.ops.checks import run_checks
        from config_manager import ConfigManager
        from collector.runner import exit_process, run
        # Bounded: a sink that accepts TCP and never answers must not keep this from exiting.
        exit_process(run(run_checks(args.config, lambda path: ConfigManager(path).load_config(), timeout=args.timeout)))
    if "--soak" in argv:
        # The default run deselects them (pyproject addopts); a later -m wins in pytest.
        argv = [arg for arg in argv if arg != "--soak"] + ["-m", "soak"]
    if "--cluster" in argv:
        argv = [arg for arg in argv if arg != "--cluster"] + ["-m", "cluster"]
    # -rs: a skipped test says why (a server that is not running) in the closing summary
    return subprocess.call([sys.executable, "-m", "pytest", "-rs", *argv], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
