"""Crypto Futures Price Collector v5: ccxt exchanges → normalized records → batching sinks."""

__version__ = "5.0.0"
