"""The durable log of accepted records and the sinks' cursors (see journal.py)."""

from collector.journal.journal import Journal, Read

__all__ = ["Journal", "Read"]
