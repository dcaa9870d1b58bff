#!/usr/bin/env python3
"""Runs the test suite, or checks that this machine can run the daemon.

    python run_tests.py [pytest arguments...]        the whole suite (or what you name)
    python run_tests.py --soak [pytest arguments...] the same plus the soak tests (30 min each)
    python run_tests.py --check-deps [--config PATH] Python, packages, config, sinks, exchanges:
                                                     a table of OK / FAIL lines; exit 0 only if all OK
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
        from collector.checks import run_checks
        return asyncio.run(run_checks(args.config, timeout=args.timeout))
    env = dict(os.environ)
    if "--soak" in argv:  # tests/conftest.py skips tests marked `soak` unless this is set
        argv = [arg for arg in argv if arg != "--soak"]
        env["COLLECTOR_SOAK"] = "1"
    return subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
