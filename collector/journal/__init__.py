"""The durable log of accepted records and the sinks' cursors (see journal.py)."""

from collector.journal.journal import FrameRead, Journal, Read

__all__ = ["FrameRead", "Journal", "Read"]
