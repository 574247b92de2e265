"""A slow conversion for real-process tests: with PYTHONPATH=tests/slow and PARQUET_TEST_SLOW_SECONDS=N set,
every CSV conversion of any process (the daemon, its worker) first spins the CPU for N seconds, after
appending its pid to the file PARQUET_TEST_SLOW_MARK (so a test knows the conversion is under way, and where).
With PARQUET_TEST_SLOW_MATCH set, only sources whose name contains it are slow. Without
PARQUET_TEST_SLOW_SECONDS it changes nothing."""

from __future__ import annotations

import os
import time
from typing import Any

if os.environ.get("PARQUET_TEST_SLOW_SECONDS"):
    import daemon.convert.exporter as _exporter

    _real = _exporter.convert_csv

    def _slow(*args: Any, **kwargs: Any) -> Any:
        if os.environ.get("PARQUET_TEST_SLOW_MATCH", "") not in str(args[0]):
            return _real(*args, **kwargs)
        mark = os.environ.get("PARQUET_TEST_SLOW_MARK")
        if mark:
            with open(mark, "a", encoding="utf-8") as f:
                f.write(f"{os.getpid()}\n")
        deadline = time.monotonic() + float(os.environ["PARQUET_TEST_SLOW_SECONDS"])
        while time.monotonic() < deadline:  # busy, as a long conversion is: it holds a core
            sum(range(10_000))
        return _real(*args, **kwargs)

    _exporter.convert_csv = _slow
