"""`python -m daemon` is the same as `parquet-exporter`."""

from daemon.program import entry

entry()
