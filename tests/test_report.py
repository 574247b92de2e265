"""`report`: one self-contained HTML page from DuckDB queries; empty datasets become "no data" notes."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from daemon.analytics.report import build, refresh_after_sweep, write_report
from daemon.service.loop import Service
from daemon.settings import Settings, resolve
from tests.conftest import ExportedRoot, RunCli, WriteCsv

CHARTS = (
    "queries-per-day",
    "execution-time",
    "cache-hit-ratio",
    "slowest-queries",
    "busiest-tables",
    "advisor",
    "optimization-metrics",
    "exporter-runs",
    "exporter-rows",
    "timing",
    "compression",
    "quality",
)


def drawn(page: str) -> list[str]:
    return re.findall(r'<div class="chart" data-chart="([^"]+)">', page)


def empty(page: str) -> list[str]:
    return re.findall(r'<div class="no-data" data-chart="([^"]+)"', page)


def test_a_month_of_data_draws_every_chart(exported_root: ExportedRoot, tmp_path: Path) -> None:
    """Every chart of the page has data on the generated month, and the page says which window it shows."""
    settings = resolve({"root": exported_root.root}, env={})
    written = write_report(settings, tmp_path / "r.html")
    page = written.path.read_text(encoding="utf-8")
    assert list(CHARTS) == drawn(page)
    assert ([], len(CHARTS)) == (written.empty, written.charts)
    assert "Daily query_perf reports, 2025-12-17 to 2026-01-15." in page


def test_the_page_is_self_contained(exported_root: ExportedRoot, tmp_path: Path) -> None:
    """No script, style, font or image is loaded from anywhere: one inline plotly.js and a CSP forbidding the rest."""
    page = write_report(resolve({"root": exported_root.root}, env={}), tmp_path / "r.html").path.read_text()
    assert [] == re.findall(r"<(?:script|img|iframe)[^>]*\ssrc=", page)
    assert [] == re.findall(r"<link\b", page)
    assert 1 == page.count("plotly.js v")  # the bundle's banner: exactly one copy for every chart
    assert "default-src 'none'" in page


def test_days_limits_the_window_to_the_newest_days_with_data(exported_root: ExportedRoot) -> None:
    """--days 3 keeps the three days ending on the newest data day."""
    sections = build(resolve({"root": exported_root.root}, env={}), 3)
    per_day = sections[0].charts[0]
    assert per_day.figure is not None
    assert [dt.date(2026, 1, 13), dt.date(2026, 1, 14), dt.date(2026, 1, 15)] == list(per_day.figure.data[0].x)


def test_an_empty_root_renders_with_no_data_notes(root: Path, run_cli: RunCli) -> None:
    """Before any export every chart is a clear "no data" note and the command still succeeds."""
    out = root / "report.html"
    result = run_cli("report", "--out", out, "--root", root)
    assert (0, "") == (result.code, result.err)
    page = out.read_text(encoding="utf-8")
    assert [] == drawn(page)
    assert list(CHARTS) == empty(page)
    assert "No data: query_perf has no rows from" in page
    assert "12 without data" in result.out


def test_a_missing_dataset_is_a_note_and_the_others_draw(
    root: Path, settings: Settings, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """Only query_perf exported: the advisor and optimization charts say no data, the query charts draw."""
    write_daily("20251027")
    write_daily("20251028")
    assert 0 == run_cli("export", "--historical", "--root", root).code
    page = write_report(settings).path.read_text(encoding="utf-8")
    assert ["advisor", "optimization-metrics"] == empty(page)
    assert "No data: index_advisor has no rows from 2025-09-30 to 2025-10-29." in page
    assert settings.report_path == root / "knowledge/optimize/reports/report.html"


def test_the_cli_prints_one_line_and_rejects_bad_arguments(root: Path, run_cli: RunCli) -> None:
    """`report` says what it wrote; --days 0 is a usage error; an unwritable --out is a one-line error."""
    ok = run_cli("report", "--days", "7", "--root", root)
    assert 0 == ok.code
    assert ok.out.startswith(f"✓ Wrote {root}/knowledge/optimize/reports/report.html (")
    assert 2 == run_cli("report", "--days", "0", "--root", root).code
    (root / "file").write_text("x")
    bad = run_cli("report", "--out", root / "file" / "r.html", "--root", root)
    assert 1 == bad.code
    assert bad.err.startswith("error: cannot write the report to ")
    assert 1 == len(bad.err.splitlines())


def test_the_daemon_refreshes_the_report_after_a_sweep(root: Path, write_daily: WriteCsv) -> None:
    """With report_after_sweep the daemon's sweep writes the report and logs report.written."""
    write_daily("20251028")
    settings = resolve({"root": root, "report_after_sweep": True, "nice": 0}, env={})
    with capture_logs() as logs:
        Service(settings, after_sweep=refresh_after_sweep).run(once=True)
    assert ["report.written"] == [e["event"] for e in logs if e["event"].startswith("report.")]
    assert "queries-per-day" in drawn(settings.report_path.read_text(encoding="utf-8"))


def test_the_daemon_does_not_write_a_report_by_default(root: Path, settings: Settings, write_daily: WriteCsv) -> None:
    """report_after_sweep is off by default: a sweep leaves no report behind."""
    write_daily("20251028")
    with capture_logs():
        Service(resolve({"root": root, "nice": 0}, env={})).run(once=True)
    assert not settings.report_path.exists()


def _figure(exported_root: ExportedRoot, chart_id: str) -> Any:
    sections = build(resolve({"root": exported_root.root}, env={}), 30)
    (chart,) = [c for s in sections for c in s.charts if c.id == chart_id]
    assert chart.figure is not None
    return chart.figure


def test_the_optimization_panel_spans_the_window_one_point_per_day(exported_root: ExportedRoot) -> None:
    """Each metric is one point per day with data, on an x axis covering the report's 30-day window (not the
    seconds of one optimizer run)."""
    fig = _figure(exported_root, "optimization-metrics")
    start, end = (dt.datetime.fromisoformat(str(x)) for x in fig.layout.xaxis.range)
    assert (dt.datetime(2025, 12, 16, 12), dt.datetime(2026, 1, 15, 12)) == (start, end)  # 2025-12-17 .. 2026-01-15
    for trace in fig.data:
        days = list(trace.x)
        assert len(days) == len(set(days))


def test_the_byte_weighted_compression_chart_says_growth_as_growth(exported_root: ExportedRoot) -> None:
    """The compression chart draws source and Parquet bytes per dataset, each labelled "N% smaller" or
    "+N% larger" from their sums, never a negative percentage bar."""
    fig = _figure(exported_root, "compression")
    source, parquet = fig.data
    for s_kb, p_kb, label in zip(source.y, parquet.y, parquet.text, strict=True):
        expected = (
            f"{100 * (1 - p_kb / s_kb):.1f}% smaller" if p_kb < s_kb else f"+{100 * (p_kb / s_kb - 1):.1f}% larger"
        )
        assert abs(float(expected.strip("+").split("%")[0]) - float(label.strip("+").split("%")[0])) <= 0.1
        assert expected.split(" ", 1)[1] == label.split(" ", 1)[1]
    assert all(v >= 0 for v in (*source.y, *parquet.y))


def test_exporter_days_are_in_the_data_calendar(exported_root: ExportedRoot) -> None:
    """The exporter's charts and timing name their days in `timezone`, like the data's charts."""
    sections = build(resolve({"root": exported_root.root}, env={}), 30)
    (exporter,) = [s for s in sections if s.title == "Exporter health"]
    assert "(days in Asia/Bangkok)" in exporter.intro
    timing = _figure(exported_root, "timing")
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
    assert today in list(timing.data[0].x)


LINK = '<a href="https://x">x</a>'
BOLD = "<b>bold</b>"
SCRIPT = "<script>alert(1)</script>"


def hostile_root(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> Path:
    """A root whose data carries markup: a link as query hash, bold as table name, a script as event type,
    metric, priority and status; exported."""
    csv_link = LINK.replace('"', '""')
    write_daily(
        "20251028",
        [
            f'2025-10-28T01:00:00Z,"{csv_link}",SELECT,900.5,1,1,true,{BOLD},idx,1,1',
            f"2025-10-28T02:00:00Z,h1,SELECT,1.5,1,1,false,{SCRIPT},idx,1,1",
        ],
    )
    optimize = root / "knowledge" / "optimize"
    events = [
        {"timestamp": "2025-10-28T03:00:00Z", "event_type": SCRIPT, "metric_name": LINK, "metric_value": 1},
        {"timestamp": "2025-10-28T04:00:00Z", "event_type": BOLD, "metric_name": LINK, "metric_value": 2},
    ]
    (optimize / "optimization_summary_20251028.txt").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    advisor = {
        "timestamp": "2025-10-28T05:00:00Z",
        "recommendations": [
            {"table": BOLD, "index": LINK, "priority": SCRIPT, "status": LINK, "estimated_speedup": 2.0},
        ],
    }
    (optimize / "index_advisor_report_20251028.json").write_text(json.dumps(advisor))
    assert 0 == run_cli("export", "--historical", "--root", root).code
    return root


def data_strings(value: object) -> list[str]:
    """Every string inside a figure's JSON (trace data, names, layout titles and annotations)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in data_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in data_strings(v)]
    return []


def test_markup_in_the_data_reaches_the_figures_only_escaped(
    root: Path, settings: Settings, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """A link, bold and a script tag from the data appear in every figure only as entities (which Plotly
    shows as text), never as tags Plotly would draw; the page has no raw copy of them."""
    hostile_root(root, write_daily, run_cli)
    sections = build(settings, 30)
    figures = [c.figure for s in sections for c in s.charts if c.figure is not None]
    strings = [s for f in figures for s in data_strings(json.loads(f.to_json()))]
    for raw in (LINK, BOLD, SCRIPT):
        escaped = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert [] == [s for s in strings if raw in s]
        assert any(escaped in s for s in strings), raw
    assert [] == [s for s in strings if "<a " in s or "<b>" in s or "<script" in s]
    page = write_report(settings, root / "r.html").path.read_text(encoding="utf-8")
    body = page.split("</head>", 1)[1]
    for raw in (LINK, BOLD, SCRIPT):
        assert raw not in body
        assert json.dumps(raw)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e") not in body
    assert "&lt;b&gt;bold&lt;/b&gt;" in body  # the advisor table's cell, escaped by the page
