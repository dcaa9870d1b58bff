"""Offline exchange simulator: binanceusdm, bybit and okx REST dialects on one local port."""

from exchange_simulator.faults import KINDS as FAULT_KINDS
from exchange_simulator.faults import Fault
from exchange_simulator.market import Quote
from exchange_simulator.server import EXCHANGES, Simulator

__all__ = ["EXCHANGES", "FAULT_KINDS", "Fault", "Quote", "Simulator"]
