"""The `parquet-exporter` program: the console script's entry point, ahead of the command line itself.

An `export` forks its digest helper (`digest.Spare`) here, before click, the settings or polars load,
so that NumPy loads on the other core meanwhile; then `cli.main()` runs the command, and the process
exits without the interpreter's teardown when nothing else runs (freeing what polars and every module
hold is a one-shot command's last cost; by then each command has closed its files and database, and the
streams and log handlers are flushed here). What the program sets for its whole process (BLAS threads,
structlog loaded without rich) is set here, at the entry point, never as a side effect of an import.
"""

from __future__ import annotations

import os
import sys


def entry() -> None:
    """The console script: set up the process, run one command, exit with its code."""
    # NumPy serves comparisons and counts here, never linear algebra: one BLAS thread makes its import cheaper.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    spare = None
    if sys.argv[1:2] == ["export"] and "--dry-run" not in sys.argv and "--historical" not in sys.argv:
        from daemon.convert.digest import Spare

        spare = Spare.fork()
    import contextlib
    import logging
    import threading

    _load_structlog_without_rich()
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


def _load_structlog_without_rich() -> None:
    """Import structlog while rich is hidden: structlog.dev imports rich's console and traceback modules
    when rich is installed, for a renderer this program does not use, at a cost paid by every start
    (BENCHMARKS.md). A None in sys.modules makes `import rich` fail; rich is found as usual afterwards."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]
