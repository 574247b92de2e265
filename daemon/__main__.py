"""`python -m daemon` is the same as `parquet-exporter`."""

from daemon.cli.program import entry

if __name__ == "__main__":  # the conversion worker's `spawn` imports this module without running it
    entry()
