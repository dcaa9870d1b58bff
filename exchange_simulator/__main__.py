"""``python -m exchange_simulator --port 9100 --symbols 500 [--seed N] [--host H] [--tick S]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import sys

import structlog

from exchange_simulator.server import MAX_SYMBOLS, Simulator

log = structlog.get_logger("exchange_simulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m exchange_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--symbols", type=int, default=50, help=f"per exchange, 1..{MAX_SYMBOLS}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between market steps")
    parser.add_argument("--history-ticks", type=int, default=300, help="served ticks kept per exchange")
    args = parser.parse_args(argv)
    if not 1 <= args.symbols <= MAX_SYMBOLS:
        parser.error(f"--symbols must be within 1..{MAX_SYMBOLS}")
    if args.tick <= 0:
        parser.error("--tick must be > 0")
    return args


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with Simulator(symbols=args.symbols, seed=args.seed, host=args.host, port=args.port, tick=args.tick,
                         history_ticks=args.history_ticks):
        await stop.wait()
    log.info("simulator_stopped")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except OSError as err:  # the listening socket: one line an operator can act on, no traceback
        where = f"{args.host}:{args.port}"
        if err.errno == errno.EADDRINUSE:
            print(f"exchange simulator: {where} is already in use; stop the other process or pick "
                  "another --port (and SIMULATOR_URL for config/simulator.yaml)", file=sys.stderr)
        else:
            print(f"exchange simulator: cannot listen on {where}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
