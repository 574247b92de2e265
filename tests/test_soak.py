"""The soak (scripts/soak --short): the real daemon under a stream of files, every row checked, RSS and FDs flat."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests import daemonproc

SOAK = Path(__file__).resolve().parents[1] / "scripts" / "soak"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the soak samples the daemon through /proc (Linux)")
def test_short_soak_exports_every_row_with_flat_rss_and_descriptors(
    tmp_path: Path, processes: daemonproc.Processes
) -> None:
    """`scripts/soak --short` (250 files, some bad, some rewritten, over 25 s) exits 0: every good row is in
    its output, every bad row in the rejects, no file missed, and RSS and open descriptors stay flat."""
    series = tmp_path / "series.json"
    soak = processes.popen(
        [str(SOAK), "--short", "--series", str(series)],
        env=daemonproc.clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its daemon is in the same group: killed with it below, whatever happens
    )
    try:
        out, _ = soak.communicate(timeout=90)
    finally:
        if soak.poll() is None:
            os.killpg(soak.pid, signal.SIGKILL)
    summary = out.decode(errors="replace")
    print(summary)
    assert 0 == soak.returncode, summary
    report = json.loads(series.read_text())
    assert [] == report["problems"]
    assert 250 == report["files"]
    assert report["series"]["samples"] >= 20
