"""The command line: thin shims over the core. Each command resolves settings once, calls one core
function, and prints the result; expected failures become one line on stderr and an exit code.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from daemon import __version__
from daemon.cli.formats import FORMATS, Format, render
from daemon.convert.digest import Prefetched, Spare
from daemon.convert.inputs import likely_csv_sources
from daemon.errors import ExporterError
from daemon.settings import Settings, resolve
from daemon.specs import BY_NAME

F = TypeVar("F", bound=Callable[..., Any])


class ExporterClickError(click.ClickException):
    """An ExporterError on its way out: one line, the error's own exit code."""

    def __init__(self, exc: ExporterError) -> None:
        super().__init__(str(exc))
        self.code = exc.exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _exit_code(exc: click.ClickException) -> int:
    return exc.code if isinstance(exc, ExporterClickError) else exc.exit_code


def common(func: F) -> F:
    """`--root` and `--config` on every command, and ExporterError turned into a one-line message."""

    @click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Repository root holding g/ and knowledge/ (default: current directory).",
    )
    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="TOML config file (see config/exporter.toml); env PARQUET_EXPORTER_CONFIG.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, root: Path | None, config_file: Path | None, **kwargs: Any) -> Any:
        try:
            settings = resolve({"root": root}, config_file)
            return func(settings, *args, **kwargs)
        except ExporterError as exc:
            raise ExporterClickError(exc) from None

    return wrapper  # type: ignore[return-value]


class DefaultGroup(click.Group):
    """A group that runs `run` when no command is given."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args:
            args = ["run"]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parquet-exporter")
def cli() -> None:
    """Convert query-performance reports into hive-partitioned Parquet for DuckDB.

    With no command, runs the daemon (`run`).
    """


# --------------------------------------------------------------------------------------- export
def _parse_date(_: click.Context, __: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a YYYY-MM-DD date") from None


def _kb(n: int | None) -> str:
    return f"{(n or 0) / 1024:,.0f} KB" if (n or 0) >= 10 * 1024 else f"{(n or 0) / 1024:,.1f} KB"


@cli.command()
@click.option("--date", "date", callback=_parse_date, metavar="YYYY-MM-DD", help="Export the inputs for this date.")
@click.option("--historical", is_flag=True, help="Export every input, not only the newest of each kind.")
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    type=click.Choice(sorted(BY_NAME)),
    help="Only this dataset (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Parse and report, write nothing.")
@click.option("--force", is_flag=True, help="Rewrite outputs even when they are current.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@common
def export(
    settings: Settings,
    date: dt.date | None,
    historical: bool,
    datasets: Sequence[str],
    dry_run: bool,
    force: bool,
    as_json: bool,
) -> int:
    """Convert report files to Parquet (default: the newest input of each kind)."""
    if date is not None and historical:
        raise click.UsageError("--date and --historical cannot be used together")
    # Before polars loads: the large sources' digests run in child processes while it does.
    likely = [] if dry_run else likely_csv_sources(settings, date, historical, frozenset(datasets))
    spare = click.get_current_context().obj
    with Prefetched.fork(likely, spare if isinstance(spare, Spare) else None) as prefetched:
        from daemon import logconfig
        from daemon.convert.exporter import Mode, Selection, export_once

        mode: Mode = "date" if date else "historical" if historical else "latest"
        selection = Selection(mode=mode, date=date, datasets=frozenset(datasets))
        logconfig.configure(
            None if dry_run else settings.log_path,
            level=settings.log_level,
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
        )
        printer = _Printer(as_json=as_json, dry_run=dry_run)
        try:
            report = export_once(
                settings,
                selection,
                force=force,
                dry_run=dry_run,
                prefetched=prefetched,
                on_item=printer.item,
                on_plan=printer.plan,
            )
        finally:
            printer.close()
            logconfig.shutdown()
    printer.finish(report)
    return 1 if report.failed else 0


class _Printer:
    """Human output in the work order's style, with a progress bar on a TTY; or one JSON object."""

    def __init__(self, *, as_json: bool, dry_run: bool) -> None:
        self.as_json = as_json
        self.dry_run = dry_run
        self.progress: Any = None
        self.task: Any = None
        self.tty = sys.stdout.isatty() and not as_json

    def plan(self, total: int) -> None:
        if self.tty and total > 1:
            from rich.progress import Progress

            self.progress = Progress(transient=True)
            self.progress.start()
            self.task = self.progress.add_task("exporting", total=total)

    def echo(self, text: str) -> None:
        if self.as_json:
            return
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text)

    def item(self, o: Any) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
        src = Path(o.source).name
        if o.status == "skipped":
            self.echo(f"⊘ {Path(o.output).name if o.output else src} {o.reason}")
        elif o.status == "failed":
            self.echo(f"✗ {src}: {o.error}")
        elif self.dry_run:
            self.echo(f"✓ Found {src} ({_kb(o.source_bytes)}): {o.rows_in:,} rows, {o.rows_rejected:,} to reject")
            self.echo(f"→ Would create {o.output}")
        else:
            self.echo(f"✓ Parsed {o.rows_in:,} rows from {src}")
            self.echo(f"✓ Wrote {o.output} ({_kb(o.parquet_bytes)})")
            self.echo(f"✓ Compression: {_kb(o.source_bytes)} → {_kb(o.parquet_bytes)} ({o.reduction:.1f}% reduction)")
            if o.rows_rejected:
                self.echo(f"⚠ Rejected {o.rows_rejected:,} rows → {o.rejects}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def finish(self, report: Any) -> None:
        if self.as_json:
            click.echo(json.dumps(report.to_json(), indent=2))
            return
        if not report.outcomes:
            click.echo("No input files found.")
        if self.dry_run:
            click.echo("DRY RUN - no files written")
        counts = f"{len(report.written)} new files, {len(report.skipped)} skipped, {len(report.failed)} failed"
        mark = "✗" if report.failed else "✓"
        click.echo(f"{mark} Export complete ({counts})")


# --------------------------------------------------------------------------------------- schema
@cli.command()
@click.option("--write", "mode", flag_value="write", help="Write config/parquet_schema.json and config/views.sql.")
@click.option("--check", "mode", flag_value="check", help="Exit 1 if the committed files differ from the specs.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the generated files (default: the project's config/).",
)
@common
def schema(settings: Settings, mode: str | None, directory: Path | None) -> int:
    """Print the Parquet schema of every dataset (generated from the specs)."""
    from daemon.analytics.views import views_sql_file
    from daemon.specs import schema_json

    target = directory or Path(__file__).resolve().parents[2] / "config"
    generated = {"parquet_schema.json": schema_json(), "views.sql": views_sql_file()}
    if mode is None:
        click.echo(generated["parquet_schema.json"], nl=False)
        return 0
    stale = []
    for name, text in generated.items():
        path = target / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(name)
            if mode == "write":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                click.echo(f"wrote {path}")
    if mode == "check":
        if stale:
            click.echo(f"out of date: {', '.join(stale)} (run: parquet-exporter schema --write)", err=True)
            return 1
        click.echo("schema files are current")
    elif not stale:
        click.echo("schema files already current")
    return 0


# ------------------------------------------------------------------------------------- validate
@cli.command()
@common
def validate(settings: Settings) -> int:
    """Check every output with DuckDB: readable, exact schema, row counts equal the state."""
    from daemon.analytics.views import validate as run_validation
    from daemon.state.database import State

    state_file = settings.state_file
    state = State(state_file, readonly=True) if state_file.exists() else None
    try:
        result = run_validation(settings, state)
    finally:
        if state is not None:
            state.close()
    for problem in result.problems:
        click.echo(f"✗ {problem}")
    click.echo(f"Checked {result.files} files, {result.rows:,} rows")
    if result.query_seconds is not None:
        click.echo(f"Validation query: {len(result.query_rows)} days in {result.query_seconds * 1000:.1f} ms")
    click.echo("✓ valid" if not result.problems else f"✗ {len(result.problems)} problem(s)")
    return 1 if result.problems else 0


# ---------------------------------------------------------------------------------------- query
@cli.command()
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: table on a terminal, csv otherwise).",
)
@common
def query(settings: Settings, sql: str, fmt: str | None) -> int:
    """Run SQL with the views (query_performance, index_recommendations, ...) and macros defined."""
    import duckdb

    from daemon.analytics.views import run_query

    try:
        result = run_query(settings, sql)
    except duckdb.Error as exc:
        raise ExporterClickError(ExporterError(str(exc).splitlines()[0])) from None
    tty = sys.stdout.isatty()
    chosen: Format = fmt or ("table" if tty else "csv")  # type: ignore[assignment]
    click.echo(render(result.columns, result.rows, chosen, terminal=tty), nl=False)
    return 0


# --------------------------------------------------------------------------------------- report
@cli.command()
@click.option("--days", type=click.IntRange(min=1), default=None, help="Days of data shown (default: report_days, 30).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file to write (default: report_file, knowledge/optimize/parquet/report.html).",
)
@common
def report(settings: Settings, days: int | None, out: Path | None) -> int:
    """Write one self-contained HTML page of charts: queries, tables, advisor, exporter health, quality."""
    from daemon.analytics.report import write_report

    written = write_report(settings, out, days)
    empty = f", {len(written.empty)} without data ({', '.join(written.empty)})" if written.empty else ""
    click.echo(
        f"✓ Wrote {written.path} ({_kb(written.bytes)}, {written.charts} charts{empty}) in {written.seconds:.2f} s"
    )
    return 0


# ------------------------------------------------------------------------------------------ run
@cli.command()
@click.option("--once", is_flag=True, help="Clean up, sweep, drain the queue, print counts and exit.")
@common
def run(settings: Settings, once: bool) -> int:
    """Run the daemon: watch the input folders, convert settled files, sweep daily."""
    import signal

    from daemon import logconfig
    from daemon.analytics.report import refresh_after_sweep
    from daemon.errors import ConfigError
    from daemon.service.loop import Service

    if not any((settings.root / top).is_dir() for top in ("g", "knowledge")):
        raise ConfigError(
            f"{settings.root} has neither g/ nor knowledge/: is it the operations repository? Pass --root DIR"
        )
    logconfig.configure(
        settings.log_path,
        level=settings.log_level,
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        stderr_level="error",
    )
    service = Service(settings, after_sweep=refresh_after_sweep, worker=True)

    def stop(signum: int, _: object) -> None:
        service.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: logconfig.reopen())
    try:
        counters = service.run(once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        logconfig.shutdown()
    if once:
        click.echo(
            f"{counters.written} written, {counters.skipped} skipped, {counters.failed} failed"
            f" ({counters.rows_written:,} rows, {counters.rows_rejected:,} rejected)"
        )
    return 1 if once and counters.failed else 0


# --------------------------------------------------------------------------------------- status
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@common
def status(settings: Settings, as_json: bool) -> int:
    """Daemon up or down, next sweep, last exports, current failures, totals."""
    from dataclasses import asdict

    from daemon.analytics.health import gather

    facts = gather(settings)
    if as_json:
        click.echo(json.dumps(asdict(facts), indent=2, default=str))
        return 0
    up = f"up (pid {facts.pid})" if facts.daemon_up else "down"
    click.echo(f"daemon:        {up}")
    if facts.watch:
        watched = ", ".join(
            f"{folder} {w.get('state')}" + (f" ({w.get('reason')} since {w.get('since')})" if w.get("reason") else "")
            for folder, w in sorted(facts.watch.items())
        )
        click.echo(f"watching:      {watched}")
    if facts.state_damaged:
        click.echo(f"state:         damaged ({facts.state_damaged}); set aside and rebuilt at the next start")
    click.echo(f"next sweep:    {facts.next_sweep}")
    click.echo(f"last sweep:    {facts.last_sweep or '-'}")
    reduction = f"{facts.mean_reduction:.1f}%" if facts.mean_reduction is not None else "-"
    rate = f"{100 * facts.success_rate_7d:.1f}%" if facts.success_rate_7d is not None else "-"
    click.echo(
        f"totals:        {facts.files} files, {facts.rows:,} rows, {_kb(facts.storage_bytes)} on disk,"
        f" mean compression {reduction}, 7-day success {rate}"
    )
    click.echo(f"failures:      {len(facts.failures)}")
    for failure in facts.failures:
        if failure.get("status") == "abandoned":
            click.echo(f"  ↻ {failure['source']}: abandoned ({failure['error']}); converted again at the next start")
        else:
            click.echo(f"  ✗ {failure['source']}: {failure['error']}")
    click.echo("last exports:")
    for r in facts.recent:
        detail = f"{r['rows_written']} rows" if r["outcome"] == "written" else (r["error"] or "")
        click.echo(f"  {r['at']}  {r['outcome']:<8} {r['source']}  {detail}")
    click.echo("data quality (latest per output):")
    for q in facts.quality:
        nulls = ", ".join(f"{k} {v:,}" for k, v in q["null_counts"].items())
        verdict = "; ".join(q["problems"]) or "clean"
        click.echo(
            f"  {Path(q['output']).name}  {q['rows']:,} rows: {verdict}" + (f" (nulls: {nulls})" if nulls else "")
        )
    return 0


@cli.command()
@common
def health(settings: Settings) -> int:
    """Exit 0 OK, 1 WARNING, 2 CRITICAL (Nagios convention), with one line saying why."""
    from daemon.analytics.health import LEVEL_NAMES, gather, judge

    level, reasons = judge(gather(settings), settings.storage_alert_gb)
    click.echo(f"{LEVEL_NAMES[level]} - {'; '.join(reasons) if reasons else 'daemon up, exports current'}")
    return level


# ----------------------------------------------------------------------------------------- logs
@cli.command()
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new lines (across rotation).")
@click.option("-n", "lines", type=int, default=20, show_default=True, help="How many past lines to show (0: all).")
@click.option("--level", type=click.Choice(["debug", "info", "warning", "error"]), help="Minimum level.")
@click.option("--event", "event_prefix", help="Only events starting with this prefix, e.g. export.")
@click.option("--since", help="Only lines newer than this: 15m, 1h, 2d or an ISO 8601 instant.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
@common
def logs(
    settings: Settings,
    follow_: bool,
    lines: int,
    level: str | None,
    event_prefix: str | None,
    since: str | None,
    as_json: bool,
) -> int:
    """Show the daemon's log for people: filtered, coloured on a terminal."""
    from rich.console import Console
    from rich.text import Text

    from daemon.cli.logview import Filter, follow, human, parse_since, tail

    try:
        since_at = parse_since(since, dt.datetime.now(dt.UTC)) if since else None
    except ValueError:
        raise click.BadParameter(f"'{since}' is not a duration (15m, 1h, 2d) or ISO instant") from None
    flt = Filter(level=level, event_prefix=event_prefix, since=since_at)
    console = Console(highlight=False, soft_wrap=True)

    def show(line: str) -> None:
        if as_json or not sys.stdout.isatty():
            click.echo(line if as_json else human(line)[0])
        else:
            text, style = human(line)
            console.print(Text(text, style=style))

    for line in tail(settings.log_path, settings.log_backups, lines or None, flt):
        show(line)
    if follow_:
        try:
            for line in follow(settings.log_path, flt, stop=lambda: False):
                show(line)
        except KeyboardInterrupt:
            pass
    return 0


# ----------------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None, *, spare: Spare | None = None) -> int:
    """Run one command: returns the exit code (0 ok, 1 failure, 2 usage or config error). `spare` is the
    digest child the program forked for an export (see `daemon.cli.program`)."""
    try:
        rv = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="parquet-exporter",
            standalone_mode=False,
            obj=spare,
        )
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return _exit_code(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("PARQUET_EXPORTER_DEBUG"):
            raise
        first = (str(exc).splitlines() or [""])[0]
        click.echo(
            f"error: internal error: {type(exc).__name__}: {first} (PARQUET_EXPORTER_DEBUG=1 shows where)", err=True
        )
        return 1
    return rv if isinstance(rv, int) else 0
