"""`parquet-exporter report`: one self-contained HTML page of charts over the Parquet datasets.

DuckDB queries the datasets through the same views as `query` (a missing dataset is an empty view);
the exporter's own health and data quality come from the state file. Charts are Plotly figures: the
page carries one inline copy of plotly.js and no other script or style from anywhere, so it opens
without a network. A chart whose data is missing becomes a "no data" note, never an error.

Data is text: Plotly draws `<a href>`, `<b>`, `<br>` in names, tick labels, hover text and titles as
markup, so every value from the data goes into a figure through `_text` (`<`, `>`, `&` as entities, which
Plotly shows as the characters); the page's own HTML escapes every value it writes.

The data window is `days` days ending on the newest day that has data (so a report over an archive
still shows it; the page says how old that day is); the exporter's own charts cover the same number
of days ending today, since they are about the exporter's runs, not the data's dates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from daemon import __version__
from daemon.analytics.figures import size_change
from daemon.analytics.views import connect
from daemon.errors import ExporterError, OutputError
from daemon.logconfig import get_logger
from daemon.settings import Settings
from daemon.state.database import State
from daemon.timeutil import zone

log = get_logger()

TOP_N = 15
MAX_METRICS = 6
CHART_HEIGHT = 340
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#f59e0b", "#7c3aed", "#0891b2", "#db2777", "#65a30d")


@dataclass
class Chart:
    """One chart of the page: a Plotly figure, or None with the reason there is nothing to draw."""

    id: str
    title: str
    figure: Any | None
    note: str = ""


@dataclass
class Section:
    """A titled group of charts, key figures and tables."""

    title: str
    charts: list[Chart] = field(default_factory=list)
    kpis: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    intro: str = ""


@dataclass(frozen=True)
class Written:
    """What `write_report` wrote."""

    path: Path
    bytes: int
    seconds: float
    charts: int
    empty: list[str]


@dataclass(frozen=True)
class Window:
    """The data window [start, end] (calendar days in `timezone`) and the exporter's, ending today."""

    start: dt.date
    end: dt.date
    today: dt.date
    days: int

    @property
    def runs_since(self) -> dt.date:
        return self.today - dt.timedelta(days=self.days - 1)


def write_report(settings: Settings, out: Path | None = None, days: int | None = None) -> Written:
    """Build the report and write it atomically to `out` (default: the report_file setting)."""
    started = time.perf_counter()
    target = out or settings.report_path
    sections = build(settings, days or settings.report_days)
    page = render_page(sections, settings, days or settings.report_days)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    charts = [c for s in sections for c in s.charts]
    return Written(
        path=target,
        bytes=len(page.encode("utf-8")),
        seconds=round(time.perf_counter() - started, 3),
        charts=sum(c.figure is not None for c in charts),
        empty=[c.id for c in charts if c.figure is None],
    )


# ------------------------------------------------------------------------------------------ data
def refresh_after_sweep(settings: Settings) -> None:
    """The daemon's after-sweep hook (with `report_after_sweep`): rewrite the report and log it."""
    written = write_report(settings)
    log.info("report.written", path=settings.relative(written.path), bytes=written.bytes, seconds=written.seconds)


def window(con: duckdb.DuckDBPyConnection, settings: Settings, days: int, now: dt.datetime | None = None) -> Window:
    """The `days` days ending on the newest day with data (today when there is none)."""
    if days <= 0:
        raise ExporterError("--days must be positive")
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone(settings.timezone)).date()
    row = con.execute(
        "SELECT max(d) FROM (SELECT max(date_partition) AS d FROM query_performance"
        " UNION ALL SELECT max(date_partition) FROM index_recommendations"
        " UNION ALL SELECT max(date_partition) FROM optimization_events)"
    ).fetchone()
    end = row[0] if row and row[0] is not None else today
    return Window(start=end - dt.timedelta(days=days - 1), end=end, today=today, days=days)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, w: Window) -> list[tuple[Any, ...]]:
    return con.execute(sql, {"start": w.start, "end": w.end}).fetchall()


def build(settings: Settings, days: int, now: dt.datetime | None = None) -> list[Section]:
    """Query everything the page shows and build its figures."""
    import plotly.graph_objects as go

    with connect(settings) as con:
        w = window(con, settings, days, now)
        sections = [
            _queries(con, w, go),
            _advisor(con, w, go),
            _optimization(con, w, go),
        ]
        rejects_by_day = dict(
            con.execute(
                "SELECT CAST(rejected_at AS DATE), count(*) FROM rejects"
                " WHERE CAST(rejected_at AS DATE) >= $since GROUP BY 1",
                {"since": w.runs_since},
            ).fetchall()
        )
    sections.append(_exporter(settings, w, go, rejects_by_day))
    sections.append(_quality(settings, w, go))
    return sections


def _layout(fig: Any, *, y_title: str = "", x_title: str = "", percent: bool = False) -> Any:
    fig.update_layout(
        template="plotly_white",
        height=CHART_HEIGHT,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend={"orientation": "h", "y": 1.12},
        colorway=list(PALETTE),
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
    )
    fig.update_yaxes(title_text=y_title, ticksuffix="%" if percent else "")
    if x_title:
        fig.update_xaxes(title_text=x_title)
    return fig


def _no_data(dataset: str, w: Window) -> str:
    return f"No data: {dataset} has no rows from {w.start} to {w.end}."


def _queries(con: duckdb.DuckDBPyConnection, w: Window, go: Any) -> Section:
    section = Section("Query performance", intro=f"Daily query_perf reports, {w.start} to {w.end}.")
    daily = _rows(
        con,
        "SELECT date_partition, count(*), avg(execution_time_ms), quantile_cont(execution_time_ms, 0.95),"
        " avg(CAST(cache_hit AS DOUBLE)) FROM query_performance"
        " WHERE date_partition BETWEEN $start AND $end GROUP BY 1 ORDER BY 1",
        w,
    )
    note = _no_data("query_perf", w)
    if daily:
        days = [r[0] for r in daily]
        total = sum(r[1] for r in daily)
        overall = _rows(
            con,
            "SELECT avg(execution_time_ms), quantile_cont(execution_time_ms, 0.95), avg(CAST(cache_hit AS DOUBLE))"
            " FROM query_performance WHERE date_partition BETWEEN $start AND $end",
            w,
        )[0]
        section.kpis = [
            ("queries", f"{total:,}"),
            ("per day", f"{total / len(daily):,.0f}"),
            ("avg execution", _ms(overall[0])),
            ("p95 execution", _ms(overall[1])),
            ("cache hits", _pct(overall[2])),
        ]
        count = go.Figure(go.Bar(x=days, y=[r[1] for r in daily], name="queries", marker_color=PALETTE[0]))
        times = go.Figure(
            [
                go.Scatter(x=days, y=[r[2] for r in daily], name="average", mode="lines+markers"),
                go.Scatter(x=days, y=[r[3] for r in daily], name="p95", mode="lines+markers"),
            ]
        )
        ratio = [100 * r[4] if r[4] is not None else None for r in daily]
        cache = go.Figure(
            go.Scatter(x=days, y=ratio, name="cache-hit ratio", mode="lines+markers", line={"color": PALETTE[2]})
        )
        cache.update_yaxes(range=[0, 100])
        section.charts += [
            Chart("queries-per-day", "Queries per day", _layout(count, y_title="queries")),
            Chart("execution-time", "Execution time per day (average and p95)", _layout(times, y_title="ms")),
            Chart("cache-hit-ratio", "Cache-hit ratio per day", _layout(cache, y_title="cache hits", percent=True)),
        ]
    else:
        section.charts += [
            Chart("queries-per-day", "Queries per day", None, note),
            Chart("execution-time", "Execution time per day (average and p95)", None, note),
            Chart("cache-hit-ratio", "Cache-hit ratio per day", None, note),
        ]
    slow = _rows(
        con,
        "SELECT query_hash, quantile_cont(execution_time_ms, 0.95) AS p95, avg(execution_time_ms), count(*),"
        " max(execution_time_ms) FROM query_performance WHERE date_partition BETWEEN $start AND $end"
        f" AND query_hash IS NOT NULL GROUP BY 1 ORDER BY p95 DESC, 1 LIMIT {TOP_N}",
        w,
    )
    if slow:
        slow = slow[::-1]  # horizontal bars draw bottom-up: the slowest on top
        fig = go.Figure(
            go.Bar(
                x=[r[1] for r in slow],
                y=[_text(r[0]) for r in slow],
                orientation="h",
                marker_color=PALETTE[1],
                customdata=[[r[2], r[3], r[4]] for r in slow],
                hovertemplate="%{y}<br>p95 %{x:.1f} ms<br>avg %{customdata[0]:.1f} ms"
                "<br>%{customdata[1]} queries<br>max %{customdata[2]:.1f} ms<extra></extra>",
            )
        )
        chart = Chart("slowest-queries", f"Slowest {len(slow)} query hashes (p95)", _layout(fig, y_title=""))
        fig.update_xaxes(title_text="p95 execution time (ms)")
        fig.update_yaxes(type="category")
    else:
        chart = Chart("slowest-queries", "Slowest query hashes (p95)", None, note)
    tables = _rows(
        con,
        "SELECT coalesce(table_name, '(none)'), count(*) AS n, avg(execution_time_ms),"
        " avg(CAST(cache_hit AS DOUBLE)) FROM query_performance WHERE date_partition BETWEEN $start AND $end"
        f" GROUP BY 1 ORDER BY n DESC, 1 LIMIT {TOP_N}",
        w,
    )
    if tables:
        fig = go.Figure(
            go.Bar(
                x=[_text(r[0]) for r in tables],
                y=[r[1] for r in tables],
                marker_color=PALETTE[4],
                customdata=[[r[2], 100 * (r[3] or 0)] for r in tables],
                hovertemplate="%{x}<br>%{y} queries<br>avg %{customdata[0]:.1f} ms"
                "<br>cache hits %{customdata[1]:.0f}%<extra></extra>",
            )
        )
        fig.update_xaxes(type="category")
        busiest = Chart("busiest-tables", "Busiest tables (queries)", _layout(fig, y_title="queries"))
    else:
        busiest = Chart("busiest-tables", "Busiest tables (queries)", None, note)
    section.charts += [chart, busiest]
    return section


def _advisor(con: duckdb.DuckDBPyConnection, w: Window, go: Any) -> Section:
    section = Section("Index advisor")
    latest = _rows(
        con, "SELECT max(date_partition) FROM index_recommendations WHERE date_partition BETWEEN $start AND $end", w
    )[0][0]
    title = "Recommendations by priority and status"
    if latest is None:
        section.charts.append(Chart("advisor", title, None, _no_data("index_advisor", w)))
        return section
    section.intro = f"The latest index-advisor report in the window ({latest})."
    rows = con.execute(
        "SELECT coalesce(priority, '(none)') AS p, coalesce(status, '(none)') AS s, count(*) FROM"
        " index_recommendations WHERE date_partition = $day GROUP BY 1, 2 ORDER BY 1, 2",
        {"day": latest},
    ).fetchall()
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    priorities = sorted({r[0] for r in rows}, key=lambda p: (order.get(p.lower(), 9), p))
    statuses = sorted({r[1] for r in rows})
    counts = {(r[0], r[1]): r[2] for r in rows}
    fig = go.Figure(
        [
            go.Bar(name=_text(s), x=[_text(p) for p in priorities], y=[counts.get((p, s), 0) for p in priorities])
            for s in statuses
        ]
    )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category")
    section.charts.append(Chart("advisor", title, _layout(fig, y_title="recommendations", x_title="priority")))
    top = con.execute(
        "SELECT table_name, recommended_index, priority, status, estimated_speedup, estimated_cost"
        " FROM index_recommendations WHERE date_partition = $day"
        f" ORDER BY estimated_speedup DESC NULLS LAST LIMIT {TOP_N}",
        {"day": latest},
    ).fetchall()
    section.tables.append(
        (
            "Top recommendations by estimated speed-up",
            ["table", "index", "priority", "status", "speed-up", "cost"],
            [[_cell(v) for v in r] for r in top],
        )
    )
    return section


def _optimization(con: duckdb.DuckDBPyConnection, w: Window, go: Any) -> Section:
    from plotly.subplots import make_subplots

    section = Section("Optimization summary")
    names = [
        r[0]
        for r in _rows(
            con,
            "SELECT metric_name, count(*) AS n FROM optimization_events WHERE date_partition BETWEEN $start AND $end"
            f" AND metric_name IS NOT NULL AND metric_value IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1"
            f" LIMIT {MAX_METRICS}",
            w,
        )
    ]
    title = "Optimization metrics over time"
    if not names:
        section.charts.append(Chart("optimization-metrics", title, None, _no_data("optimization_summary", w)))
        return section
    # One point per metric and day (the day's mean, its count on hover) on an axis spanning the whole window:
    # the raw events of one optimizer run sit seconds apart, which drew one dot per panel on a 70-second axis.
    points = con.execute(
        "SELECT metric_name, date_partition, avg(metric_value), count(*) FROM optimization_events"
        " WHERE date_partition BETWEEN $start AND $end AND metric_name = ANY($names) AND metric_value IS NOT NULL"
        " GROUP BY 1, 2 ORDER BY 2",
        {"start": w.start, "end": w.end, "names": names},
    ).fetchall()
    titles = [_text(name) for name in names]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.06)
    for i, name in enumerate(names, start=1):
        mine = [p for p in points if p[0] == name]
        fig.add_trace(
            go.Scatter(
                x=[p[1] for p in mine],
                y=[p[2] for p in mine],
                name=titles[i - 1],
                mode="lines+markers",
                customdata=[p[3] for p in mine],
                hovertemplate="%{x|%Y-%m-%d}<br>%{y:,.4~g} (mean of %{customdata})<extra>" + titles[i - 1] + "</extra>",
                line={"color": PALETTE[(i - 1) % len(PALETTE)]},
            ),
            row=i,
            col=1,
        )
    _layout(fig)
    fig.update_layout(height=max(CHART_HEIGHT, 150 * len(names)), showlegend=False)
    half_day = dt.timedelta(hours=12)  # each day's point in the middle of its own slot
    span = [dt.datetime.combine(w.start, dt.time()) - half_day, dt.datetime.combine(w.end, dt.time()) + half_day]
    fig.update_xaxes(type="date", range=span, tickformat="%b %d")
    fig.update_yaxes(tickformat="~s")
    section.intro = f"The {len(names)} most frequent metrics, one point per day (days in the data's calendar)."
    section.charts.append(Chart("optimization-metrics", title, fig))
    return section


def _exporter(settings: Settings, w: Window, go: Any, rejects_by_day: dict[dt.date, int]) -> Section:
    from daemon.analytics.health import LEVEL_NAMES, gather, judge

    facts = gather(settings)
    level, reasons = judge(facts, settings.storage_alert_gb)
    section = Section(
        "Exporter health",
        intro=f"Runs of the exporter from {w.runs_since} to {w.today} (days in {settings.timezone}); health now: "
        f"{LEVEL_NAMES[level]}" + (f" ({'; '.join(reasons)})" if reasons else "") + ".",
    )
    section.kpis = [
        ("files", f"{facts.totals.files:,}"),
        ("rows", f"{facts.totals.rows:,}"),
        ("Parquet on disk", f"{facts.totals.storage_bytes / 1024**2:,.1f} MB"),
        ("compression", size_change(facts.totals.source_bytes, facts.totals.parquet_bytes)),
        ("failing now", f"{len(facts.failures):,}"),
        ("7-day success", f"{facts.success_7d_pct:.1f}%" if facts.success_7d_pct is not None else "-"),
    ]
    daily: list[tuple[Any, ...]] = []
    by_dataset: list[tuple[Any, ...]] = []
    processing: list[tuple[Any, ...]] = []
    freshness: list[tuple[Any, ...]] = []
    state_file = settings.state_file
    if state_file.exists():
        with State(state_file, readonly=True) as state:
            since = _since(settings, w)
            daily = state.daily_runs(since, settings.timezone)
            by_dataset = state.compression_by_dataset()
            processing = state.processing(since, settings.timezone)
            freshness = state.freshness(since, settings.timezone)
    note = f"No data: no export ran from {w.runs_since} to {w.today}."
    if daily:
        days = [r[0] for r in daily]  # local days as categories: one bar per day, even for a single day
        runs = go.Figure(
            [
                go.Bar(name="written", x=days, y=[r[1] for r in daily], marker_color=PALETTE[2]),
                go.Bar(name="failed", x=days, y=[r[2] for r in daily], marker_color=PALETTE[1]),
            ]
        )
        runs.update_layout(barmode="stack")
        runs.update_xaxes(type="category")
        rows = go.Figure(
            [
                go.Bar(name="rows written", x=days, y=[r[3] for r in daily], marker_color=PALETTE[0]),
                go.Bar(name="rows rejected", x=days, y=[r[4] for r in daily], marker_color=PALETTE[3]),
                go.Scatter(
                    name="rejects files",
                    x=days,
                    y=[rejects_by_day.get(dt.date.fromisoformat(d), 0) for d in days],
                    mode="markers",
                    visible="legendonly",
                ),
            ]
        )
        rows.update_xaxes(type="category")
        section.charts += [
            Chart("exporter-runs", "Exports per day (written, failed)", _layout(runs, y_title="exports")),
            Chart("exporter-rows", "Rows per day (written, rejected)", _layout(rows, y_title="rows")),
        ]
    else:
        section.charts += [
            Chart("exporter-runs", "Exports per day (written, failed)", None, note),
            Chart("exporter-rows", "Rows per day (written, rejected)", None, note),
        ]
    section.charts.append(_timing_chart(processing, freshness, w, go))
    if by_dataset:
        # Source and Parquet bytes side by side, each dataset labelled with its byte-weighted change: a dataset
        # of tiny inputs that grew reads "+445.8% larger" instead of drawing a -445% bar that dwarfs the rest.
        names = [_text(r[0]) for r in by_dataset]
        labels = [size_change(r[1], r[2]) for r in by_dataset]
        fig = go.Figure(
            [
                go.Bar(
                    name="source",
                    x=names,
                    y=[r[1] / 1024 for r in by_dataset],
                    marker_color=PALETTE[4],
                    hovertemplate="%{x}<br>source %{y:,.1f} KB<extra></extra>",
                ),
                go.Bar(
                    name="Parquet",
                    x=names,
                    y=[r[2] / 1024 for r in by_dataset],
                    text=labels,
                    textposition="outside",
                    cliponaxis=False,
                    customdata=[[r[3], r[4]] for r in by_dataset],
                    marker_color=PALETTE[5],
                    hovertemplate="%{x}<br>Parquet %{y:,.1f} KB (%{text})<br>%{customdata[0]} files,"
                    " %{customdata[1]:,} rows<extra></extra>",
                ),
            ]
        )
        fig.update_layout(barmode="group", uniformtext_minsize=11, uniformtext_mode="show")
        fig.update_xaxes(type="category")
        section.charts.append(
            Chart("compression", "Size by dataset: source and Parquet bytes", _layout(fig, y_title="KB"))
        )
    else:
        section.charts.append(Chart("compression", "Compression by dataset", None, "No data: no output written yet."))
    if facts.failures:
        section.tables.append(
            (
                "Failing now",
                ["source", "error", "since"],
                [[_cell(f["source"]), _cell(f["error"]), _cell(f["since"])] for f in facts.failures[:50]],
            )
        )
    return section


def _since(settings: Settings, w: Window) -> str:
    """The first instant of the exporter's window (its first local day), as the state stores instants."""
    start = dt.datetime.combine(w.runs_since, dt.time(), zone(settings.timezone)).astimezone(dt.UTC)
    return start.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile `q` (0-1) of non-empty `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _timing_chart(processing: list[tuple[Any, ...]], freshness: list[tuple[Any, ...]], w: Window, go: Any) -> Chart:
    """Per day: how long a conversion took (p50, p95) and how long a report waited from its last write to its
    Parquet output (freshness, p50 and max of the current outputs), in seconds on a log axis."""
    title = "Processing time and freshness per day (seconds)"
    if not processing and not freshness:
        return Chart("timing", title, None, f"No data: no export ran from {w.runs_since} to {w.today}.")
    by_day: dict[str, list[float]] = {}
    for day, ms in processing:
        by_day.setdefault(day, []).append(ms / 1000)
    fresh: dict[str, list[float]] = {}
    for day, seconds in freshness:
        fresh.setdefault(day, []).append(max(seconds, 0.001))
    days = sorted(set(by_day) | set(fresh))

    def series(source: dict[str, list[float]], q: float) -> list[float | None]:
        return [round(_percentile(source[d], q), 3) if d in source else None for d in days]

    fig = go.Figure(
        [
            go.Scatter(name="conversion p50", x=days, y=series(by_day, 0.5), mode="lines+markers"),
            go.Scatter(name="conversion p95", x=days, y=series(by_day, 0.95), mode="lines+markers"),
            go.Scatter(name="freshness p50", x=days, y=series(fresh, 0.5), mode="lines+markers"),
            go.Scatter(name="freshness max", x=days, y=series(fresh, 1.0), mode="lines+markers", visible="legendonly"),
        ]
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="log")
    return Chart("timing", title, _layout(fig, y_title="seconds"))


def _quality(settings: Settings, w: Window, go: Any) -> Section:
    from daemon.analytics.health import quality_entry

    section = Section("Data quality", intro="Measured on every written file (see README, Data quality).")
    daily: list[tuple[Any, ...]] = []
    latest: list[dict[str, Any]] = []
    state_file = settings.state_file
    if state_file.exists():
        with State(state_file, readonly=True) as state:
            daily = state.daily_quality(_since(settings, w), settings.timezone)
            latest = [quality_entry(r) for r in state.quality(500, latest_per_output=True)]
    title = "Problems found per day of export"
    if daily:
        days = [r[0] for r in daily]
        names = ("rejected rows", "duplicate rows", "outside the file's day", "negative durations", "drifted files")
        fig = go.Figure([go.Bar(name=n, x=days, y=[r[i + 1] for r in daily]) for i, n in enumerate(names)])
        fig.update_layout(barmode="group")
        fig.update_xaxes(type="category")
        section.charts.append(Chart("quality", title, _layout(fig, y_title="rows (files for drift)")))
    else:
        section.charts.append(Chart("quality", title, None, f"No data: no file written from {w.runs_since}."))
    if latest:
        flagged = [q for q in latest if q["problems"]]
        section.kpis = [
            ("files measured", f"{len(latest):,}"),
            ("with problems", f"{len(flagged):,}"),
            ("duplicate rows", f"{sum(q['duplicate_rows'] for q in latest):,}"),
            ("schema drift", f"{sum(bool(q['extra_columns'] or q['missing_columns']) for q in latest):,} files"),
        ]
        shown = (flagged or latest)[:40]
        section.tables.append(
            (
                "Files with problems (latest export of each)" if flagged else "Latest files (all clean)",
                ["output", "rows", "rejected", "duplicates", "outside day", "negative", "drift", "nulls"],
                [
                    [
                        Path(q["output"]).name,
                        f"{q['rows']:,}",
                        f"{q['rows_rejected']:,}",
                        f"{q['duplicate_rows']:,}",
                        f"{q['outside_day']:,}",
                        f"{q['negative_durations']:,}",
                        ", ".join([f"+{c}" for c in q["extra_columns"]] + [f"-{c}" for c in q["missing_columns"]]),
                        ", ".join(f"{k} {v:,}" for k, v in q["null_counts"].items()),
                    ]
                    for q in shown
                ],
            )
        )
    return section


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f} ms"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _text(v: object) -> str:
    """A data value for a Plotly figure: `<`, `>` and `&` as entities, so a tag in the data is shown as
    written rather than drawn (a link, bold, a line break); Plotly turns the entities back into characters."""
    return html.escape("" if v is None else str(v), quote=False)


def _cell(v: object) -> str:
    """A value for the page's HTML tables (escaped where the page is written, in `render_page`)."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


# ------------------------------------------------------------------------------------------ page
CSS = """
:root { color-scheme: light; --fg: #111827; --muted: #6b7280; --line: #e5e7eb; --card: #f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); }
header { padding: 20px 28px 12px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p, .intro, .note { color: var(--muted); margin: 2px 0; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section { margin-top: 26px; }
h2 { font-size: 18px; margin: 0 0 6px; }
h3 { font-size: 14px; margin: 0 0 4px; }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px;
  min-width: 120px; }
.kpi b { display: block; font-size: 18px; }
.kpi span { color: var(--muted); font-size: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 18px; }
.panel { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
.no-data { display: flex; align-items: center; justify-content: center; min-height: 120px;
  background: var(--card); border-radius: 6px; color: var(--muted); text-align: center; padding: 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 6px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
.tables { margin-top: 14px; overflow-x: auto; }
footer { color: var(--muted); padding: 0 28px 24px; font-size: 12px; }
"""

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}


def render_page(sections: Sequence[Section], settings: Settings, days: int) -> str:
    """The whole page as one string: inline CSS, one inline plotly.js, one div per chart."""
    from plotly.offline import get_plotlyjs

    esc = html.escape
    generated = dt.datetime.now(dt.UTC).astimezone(zone(settings.timezone))
    body: list[str] = []
    for section in sections:
        body.append(f"<section><h2>{esc(section.title)}</h2>")
        if section.intro:
            body.append(f'<p class="intro">{esc(section.intro)}</p>')
        if section.kpis:
            cards = "".join(f'<div class="kpi"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in section.kpis)
            body.append(f'<div class="kpis">{cards}</div>')
        body.append('<div class="grid">')
        for chart in section.charts:
            body.append(f'<div class="panel"><h3>{esc(chart.title)}</h3>')
            body.append(_chart_html(chart))
            body.append("</div>")
        body.append("</div>")
        for title, header, rows in section.tables:
            head = "".join(f"<th>{esc(h)}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
            body.append(f'<div class="tables"><h3>{esc(title)}</h3><table><tr>{head}</tr>{cells}</table></div>')
        body.append("</section>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # everything is inline: no request may leave the page (images as data: URIs only)
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; "
        'font-src data:">'
        f"<title>parquet-exporter report: {esc(settings.root.name or str(settings.root))}</title>"
        f"<style>{CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        "</head><body>"
        f"<header><h1>Query performance report</h1>"
        f"<p>{esc(str(settings.root))} · last {days} days of data · generated {generated:%Y-%m-%d %H:%M %Z}"
        f" by parquet-exporter {esc(__version__)}</p></header>"
        f"<main>{''.join(body)}</main>"
        "<footer>Self-contained page: charts by Plotly, drawn in the browser from the data embedded here."
        f"</footer><script>{_FIT_CHARTS}</script></body></html>\n"
    )


# A chart is drawn as soon as its div is parsed, when the grid around it may not have its final width yet
# (the first chart of a grid came out as wide as the whole row, clipped by its panel once the next panel
# arrived), and Plotly follows only the window's size: each chart is refitted whenever its box changes.
_FIT_CHARTS = (
    "(function () {"
    " var fit = new ResizeObserver(function (entries) { entries.forEach(function (e) {"
    " var plot = e.target.querySelector('.js-plotly-plot'); if (plot) { Plotly.Plots.resize(plot); } }); });"
    " document.querySelectorAll('.chart').forEach(function (c) { fit.observe(c); });"
    " })();"
)


def _chart_html(chart: Chart) -> str:
    if chart.figure is None:
        return f'<div class="no-data" data-chart="{chart.id}" data-empty="true">{html.escape(chart.note)}</div>'
    div: str = chart.figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=f"chart-{chart.id}",
        config=PLOTLY_CONFIG,
        default_height=f"{chart.figure.layout.height or CHART_HEIGHT}px",
    )
    return f'<div class="chart" data-chart="{chart.id}">{div}</div>'
