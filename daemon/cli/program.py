"""The `parquet-exporter` program: the console script's entry point, ahead of the command line itself.

An `export` forks its digest helper (`digest.Spare`) here, before click, the settings or polars load,
so that NumPy loads on the other core meanwhile; then `cli.main()` runs the command, and the process
exits without the interpreter's teardown when nothing else runs (freeing what polars and every module
hold costs a one-shot command ~60 ms; by then each command has closed its files and database, and the
streams and log handlers are flushed here).
"""

from __future__ import annotations

import sys


def entry() -> None:
    spare = None
    if sys.argv[1:2] == ["export"] and "--dry-run" not in sys.argv and "--historical" not in sys.argv:
        from daemon.convert.digest import Spare

        spare = Spare.fork()
    import contextlib
    import logging
    import os
    import threading

    from daemon.cli.commands import main

    try:
        code = main(spare=spare)
    finally:
        if spare is not None:
            spare.close()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if threading.active_count() == 1:
        os._exit(code)
    sys.exit(code)
