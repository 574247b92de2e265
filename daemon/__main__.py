"""`python -m daemon` is the same as `parquet-exporter`."""

from daemon.cli.program import entry

entry()
