"""The Parquet archive: day partitions written from the journal exactly once, then compacted."""
