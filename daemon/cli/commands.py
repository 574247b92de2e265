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
from typing import Any, TypeVar, overload

import click

from daemon import __version__
from daemon.cli.formats import FORMATS, Format, escape_json_controls, format_rows, printable
from daemon.convert.digest import Prefetched, Spare
from daemon.convert.inputs import likely_csv_sources
from daemon.errors import ConfigError, ExporterError
from daemon.settings import Settings, load, root_problem
from daemon.specs import BY_NAME
from daemon.timeutil import zone

F = TypeVar("F", bound=Callable[..., Any])

# Bounds of the numeric options: a larger value is a usage error (exit 2), never an overflow deep inside.
MAX_DAYS = 36_500  # a century of data in one report
MAX_LINES = 1_000_000_000  # `logs -n`: more lines than any log holds; `-n all` shows every line


class ExporterClickError(click.ClickException):
    """An ExporterError on its way out: one line, the error's own exit code."""

    def __init__(self, exc: ExporterError) -> None:
        super().__init__(str(exc))
        self.code = exc.exit_code

    def show(self, file: Any = None) -> None:
        say(f"error: {self.format_message()}", err=True)


def say(text: str, *, err: bool = False) -> None:
    """Print one human line: every message built from data (a field, a path, an error) goes through here,
    so control characters show as escapes (`printable`) and never reach a terminal raw."""
    click.echo(printable(text), err=err)


def _exit_code(exc: click.ClickException) -> int:
    return exc.code if isinstance(exc, ExporterClickError) else exc.exit_code


_LOCATION = "parquet_exporter.location"  # ctx.meta: the group's --root and --config
_SOURCES = "parquet_exporter.sources"  # ctx.meta: the flags and config file the settings were loaded from
_LOADED = "parquet_exporter.loaded"  # ctx.meta: the Loaded settings (warnings, origins)
_LOGS_ITS_WARNINGS = {"run"}  # the daemon logs config warnings as events; other commands print them


def check_root(settings: Settings) -> None:
    """The one root check of every command: a root with neither g/ nor knowledge/ is a mistyped or wrong
    directory, refused before anything (a log, a state file, a report) is created under it."""
    if (problem := root_problem(settings)) is not None:
        raise ConfigError(problem)


def _location_options(func: F) -> F:
    """`--root` and `--config`, taken by the group (before the command name) and by every command."""
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="TOML config file (see config/exporter.toml); env PARQUET_EXPORTER_CONFIG.",
    )(func)
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Repository root holding g/ and knowledge/ (default: current directory).",
    )(func)


def _sources(root: Path | None, config_file: Path | None) -> tuple[dict[str, Any], Path | None]:
    """The flags and config file of this invocation: the command's own --root/--config, else the group's."""
    group_root, group_config = click.get_current_context().meta.get(_LOCATION, (None, None))
    return {"root": root if root is not None else group_root}, config_file if config_file is not None else group_config


@overload
def common(func: F, *, root_required: bool = True) -> F: ...
@overload
def common(func: None = None, *, root_required: bool = True) -> Callable[[F], F]: ...
def common(func: F | None = None, *, root_required: bool = True) -> F | Callable[[F], F]:
    """`--root` and `--config` on every command, settings loaded once and the root checked once
    (`check_root`) unless the command needs none (`@common(root_required=False)`), and ExporterError
    turned into a one-line message."""
    if func is None:
        return functools.partial(common, root_required=root_required)
    command = func

    @_location_options
    @functools.wraps(command)
    def wrapper(*args: Any, root: Path | None, config_file: Path | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        flags, config = _sources(root, config_file)
        try:
            loaded = load(flags, config)
            if loaded.settings is None:
                raise ConfigError("; ".join(loaded.problems))
            ctx.meta[_SOURCES], ctx.meta[_LOADED] = (flags, config), loaded
            if command.__name__ not in _LOGS_ITS_WARNINGS:
                for warning in loaded.warnings:
                    click.echo(f"warning: {warning}", err=True)
            if root_required:
                check_root(loaded.settings)
            return command(loaded.settings, *args, **kwargs)
        except ExporterError as exc:
            raise ExporterClickError(exc) from None

    return wrapper  # type: ignore[return-value]


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parquet-exporter")
@_location_options
@click.pass_context
def cli(ctx: click.Context, root: Path | None, config_file: Path | None) -> Any:
    """Convert query-performance reports into hive-partitioned Parquet for DuckDB.

    With no command, runs the daemon (`run`). `--root` and `--config` may come before the command name.
    """
    ctx.meta[_LOCATION] = (root, config_file)
    if ctx.invoked_subcommand is None:
        return ctx.invoke(run)
    return None


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
@click.option("-q", "--quiet", is_flag=True, help="Print only failures (on stderr).")
@common
def export(
    settings: Settings,
    date: dt.date | None,
    historical: bool,
    datasets: Sequence[str],
    dry_run: bool,
    force: bool,
    as_json: bool,
    quiet: bool,
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
            None if dry_run or settings.log_file == logconfig.STDERR_ONLY else settings.log_path,
            level=settings.log_level,
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
        )
        printer = _Printer(as_json=as_json, dry_run=dry_run, quiet=quiet)
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
            if not dry_run:
                printer.published = _publish_now(settings)
        finally:
            printer.close()
            logconfig.shutdown()
    printer.finish(report, settings)
    return 1 if report.failed else 0


def _publish_now(settings: Settings) -> Any:
    """A one-shot export publishes at once what it queued (and what earlier runs left queued)."""
    if not settings.publishing:
        return None
    from daemon.publish.outbox import Publisher
    from daemon.state.database import State

    with State(settings.state_file) as state:
        return Publisher(settings, state).drain(force=True)


def _publish_status(settings: Settings, output: str | None, drained: Any) -> str | None:
    """`published` or `queued` for an output of this run (None when not publishing)."""
    if drained is None or output is None:
        return None
    from daemon.state.outbox import remote_key

    key = remote_key(settings, settings.root / output)
    return "published" if key in drained.published else "queued"


class _Printer:
    """Human output in the work order's style, with a progress bar on a TTY; or one JSON object."""

    def __init__(self, *, as_json: bool, dry_run: bool, quiet: bool = False) -> None:
        self.published: Any = None  # what publishing did after the export (None: not publishing)
        self.as_json = as_json
        self.dry_run = dry_run
        self.quiet = quiet
        self.rewritten = 0
        self.progress: Any = None
        self.task: Any = None
        self.tty = sys.stdout.isatty() and not as_json and not quiet

    def plan(self, total: int) -> None:
        if self.tty and total > 1:
            from rich.progress import Progress

            self.progress = Progress(transient=True)
            self.progress.start()
            self.task = self.progress.add_task("exporting", total=total)

    def echo(self, text: str, *, err: bool = False) -> None:
        if self.as_json or (self.quiet and not err):
            return
        if self.progress is not None and not err:
            from rich.text import Text

            self.progress.console.print(Text(printable(text)), highlight=False)  # a Text is never markup
        else:
            say(text, err=err)

    def item(self, o: Any) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)
        src = Path(o.source).name
        if o.status == "skipped":
            self.echo(f"⊘ {Path(o.output).name if o.output else src} {o.reason}")
        elif o.status == "failed":
            self.echo(f"✗ {src}: {o.error}", err=True)
        elif self.dry_run:
            self.echo(f"✓ Found {src} ({_kb(o.source_bytes)}): {o.rows_in:,} rows, {o.rows_rejected:,} to reject")
            self.echo(f"→ Would create {o.output}")
        else:
            from daemon.analytics.figures import reduction_pct, size_change

            self.rewritten += o.replaced
            pct = reduction_pct(o.source_bytes or 0, o.parquet_bytes or 0)
            change = (
                f"{pct:.1f}% reduction"
                if pct is not None and pct > 0
                else size_change(o.source_bytes or 0, o.parquet_bytes or 0)
            )
            self.echo(f"✓ Parsed {o.rows_in:,} rows from {src}")
            self.echo(f"✓ Wrote {o.output} ({_kb(o.parquet_bytes)})")
            self.echo(f"✓ Compression: {_kb(o.source_bytes)} → {_kb(o.parquet_bytes)} ({change})")
            if o.rows_rejected:
                self.echo(f"⚠ Rejected {_plural(o.rows_rejected, 'row')} → {o.rejects}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def finish(self, report: Any, settings: Settings) -> None:
        if self.as_json:
            document = report.to_json()
            if self.published is not None:
                for entry in document["written"]:
                    entry["publish"] = _publish_status(settings, entry["output"], self.published)
                document["publish"] = {"target": settings.output_url, "pending": self.published.pending}
                if self.published.error:
                    document["publish"]["error"] = self.published.error
            click.echo(json.dumps(document, indent=2))
            return
        if self.quiet:
            return
        drained = self.published
        if drained is not None and (drained.done or drained.pending):
            click.echo(f"✓ Published {drained.done} file(s) to {settings.output_url}")
            if drained.pending:
                click.echo(f"⚠ {drained.pending} file(s) queued for publishing (retried later): {drained.error or ''}")
        if not report.outcomes:
            say("No input files found.")
        if self.dry_run:
            say("DRY RUN - no files written")
        new = len(report.written) - self.rewritten
        counts = f"{_plural(new, 'new file')}, " + (f"{self.rewritten} rewritten, " if self.rewritten else "")
        counts += f"{len(report.skipped)} skipped, {len(report.failed)} failed"
        mark = "✗" if report.failed else "✓"
        say(f"{mark} Export complete ({counts})")


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


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
@common(root_required=False)
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
                say(f"wrote {path}")
    if mode == "check":
        if stale:
            say(f"out of date: {', '.join(stale)} (run: parquet-exporter schema --write)", err=True)
            return 1
        say("schema files are current")
    elif not stale:
        say("schema files already current")
    return 0


# ----------------------------------------------------------------------------------------- demo
@cli.command()
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--days", type=click.IntRange(min=1, max=366), default=30, show_default=True, help="Days of reports.")
@click.option(
    "--end",
    "end",
    callback=_parse_date,
    metavar="YYYY-MM-DD",
    help="The last day (default: yesterday in the default timezone, so health finds yesterday's export).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generator (same seed, same files).")
def demo(root: Path, days: int, end: dt.date | None, seed: int) -> int:
    """Write a realistic month of sample reports into a new ROOT, to try every command on."""
    from daemon.demo import write_demo

    tz = Settings().timezone
    last = end or (dt.datetime.now(dt.UTC).astimezone(zone(tz)) - dt.timedelta(days=1)).date()
    try:
        made = write_demo(root, last=last, days=days, timezone=tz, seed=seed)
    except ExporterError as exc:
        raise ExporterClickError(exc) from None
    click.echo(f"✓ Wrote {made.files} report files ({_kb(made.bytes)}) for {made.first} to {made.last} into {root}")
    click.echo(f"  next: parquet-exporter export --root {root} --historical")
    return 0


# ------------------------------------------------------------------------------------- validate
@cli.command()
@common
def validate(settings: Settings) -> int:
    """Check every output with DuckDB: readable, exact schema, row counts equal the state."""
    from daemon.analytics.views import validate_outputs
    from daemon.state.database import State

    state_file = settings.state_file
    state = State(state_file, readonly=True) if state_file.exists() else None
    try:
        result = validate_outputs(settings, state)
    finally:
        if state is not None:
            state.close()
    for problem in result.problems:
        say(f"✗ {problem}")
    say(f"Checked {result.files} files, {result.rows:,} rows")
    if result.query_seconds is not None:
        say(f"Validation query: {len(result.query_rows)} days in {result.query_seconds * 1000:.1f} ms")
    say("✓ valid" if not result.problems else f"✗ {len(result.problems)} problem(s)")
    return 1 if result.problems else 0


# ---------------------------------------------------------------------------------------- query
@cli.command()
@click.argument("sql", required=False)
@click.option(
    "-c", "command", metavar="SQL", help="The SQL to run (like duckdb -c); or give it as the argument or on stdin."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: table on a terminal, csv otherwise).",
)
@click.option("--json", "fmt", flag_value="json", help="Shortcut for --format json (one array of objects).")
@click.option("--csv", "fmt", flag_value="csv", help="Shortcut for --format csv.")
@click.option("--nl", "fmt", flag_value="nl", help="Shortcut for --format nl (newline-delimited JSON).")
@click.option(
    "--max-rows",
    type=click.IntRange(min=0),
    default=40,
    show_default=True,
    help="Rows drawn in a terminal's table (0: all); the caption says how many were left out.",
)
@common
def query(settings: Settings, sql: str | None, command: str | None, fmt: str | None, max_rows: int) -> int:
    """Run SQL with the views (query_performance, index_recommendations, ...) and macros defined; relative
    paths in it resolve against --root. SQL comes from the argument, -c, or stdin when it is not a terminal."""
    import duckdb

    from daemon.analytics.views import run_query

    if sql is not None and command is not None:
        raise click.UsageError("give the SQL once: as the argument or with -c")
    text = sql if sql is not None else command
    if text is None:
        if sys.stdin.isatty():
            raise click.UsageError("no SQL: give it as the argument, with -c, or on stdin")
        text = sys.stdin.read()
    if not text.strip():
        raise click.UsageError("the SQL is empty")
    tty = sys.stdout.isatty()
    chosen: Format = fmt or ("table" if tty else "csv")  # type: ignore[assignment]
    cap = max_rows if chosen == "table" and tty and max_rows > 0 else None
    try:
        result = run_query(settings, text, cap)
    except duckdb.Error as exc:
        raise ExporterClickError(ExporterError(str(exc).splitlines()[0])) from None
    # color=True: click would strip what looks like a colour code from piped output, changing the data
    click.echo(format_rows(result.columns, result.rows, chosen, terminal=tty, total=result.total), nl=False, color=True)
    return 0


# --------------------------------------------------------------------------------------- report
@cli.command()
@click.option(
    "--days",
    type=click.IntRange(min=1, max=MAX_DAYS),
    default=None,
    help="Days of data shown (default: report_days, 30).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file to write (default: report_file, knowledge/optimize/reports/report.html).",
)
@common
def report(settings: Settings, days: int | None, out: Path | None) -> int:
    """Write one self-contained HTML page of charts: queries, tables, advisor, exporter health, quality."""
    from daemon.analytics.report import write_report

    written = write_report(settings, out, days)
    empty = f", {len(written.empty)} without data ({', '.join(written.empty)})" if written.empty else ""
    say(f"✓ Wrote {written.path} ({_kb(written.bytes)}, {written.charts} charts{empty}) in {written.seconds:.2f} s")
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
    from daemon.service.loop import Service

    logconfig.configure_daemon(settings)
    service = Service(settings, after_sweep=refresh_after_sweep, worker=True)
    meta = click.get_current_context().meta
    for warning in meta[_LOADED].warnings:
        logconfig.get_logger().warning("config.unknown_variable", detail=warning)
    flags, config_file = meta[_SOURCES]
    service.reloader = functools.partial(load, flags, config_file)  # the file and environment, read again

    previous = _handle_signals(service)
    try:
        counters = service.run(once=once)
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)
        logconfig.shutdown()
    if not once:
        return 0
    say(
        f"{counters.written} written, {counters.skipped} skipped, {counters.failed} failed"
        f" ({counters.rows_written:,} rows, {counters.rows_rejected:,} rejected)"
    )
    from daemon.analytics.health import failing
    from daemon.state.database import State

    state_file = settings.state_file
    still = []
    if state_file.exists():
        with State(state_file, readonly=True) as state:
            still = failing(settings, state)
    for record in still:
        say(f"✗ {record.source} still failing: {record.error}", err=True)
    return 1 if counters.failed or still else 0


def _handle_signals(service: Any) -> dict[int, Any]:
    """Give every signal that would end the daemon by default a deliberate meaning; returns the old handlers.

    SIGTERM, SIGINT, SIGQUIT  stop cleanly (`daemon.stopped` with counters)
    SIGHUP                    reload the configuration (see `Service.reload`) and reopen the log file
    SIGUSR1                   log `daemon.status` with the counters, and go on
    SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, real-time signals
                              log `daemon.signal_ignored`, and go on
    SIGPIPE and SIGXFSZ stay ignored (Python's default: a failed write is an error, not a death); the
    faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), SIGXCPU and the debugger's SIGTRAP and SIGSYS keep
    their default.
    """
    import signal
    from dataclasses import asdict

    from daemon import logconfig

    log = logconfig.get_logger()

    def name(signum: int) -> str:
        try:
            return signal.Signals(signum).name
        except ValueError:  # a real-time signal between SIGRTMIN and SIGRTMAX has no name of its own
            return f"SIGRTMIN+{signum - signal.SIGRTMIN}"

    def stop(signum: int, _: object) -> None:
        service.request_stop()

    def hangup(signum: int, _: object) -> None:
        logconfig.reopen()
        service.request_reload()  # done by the daemon's main loop, between conversions

    def status(signum: int, _: object) -> None:
        log.info(
            "daemon.status",
            signal=name(signum),
            pid=os.getpid(),
            started=service.started_at,
            last_event=service.last_event,
            last_sweep=service.last_sweep,
            pending=len(service.settler),
            **asdict(service.counters),
        )

    def ignore(signum: int, _: object) -> None:
        log.info("daemon.signal_ignored", signal=name(signum), detail="the daemon goes on")

    wanted: dict[int, Callable[[int, Any], Any]] = {
        signal.SIGTERM: stop,
        signal.SIGINT: stop,
        signal.SIGQUIT: stop,
        signal.SIGHUP: hangup,
        signal.SIGUSR1: status,
    }
    ignored = ("SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR", "SIGSTKFLT")
    others = [getattr(signal, called) for called in ignored if hasattr(signal, called)]
    if hasattr(signal, "SIGRTMIN"):
        others += range(signal.SIGRTMIN, signal.SIGRTMAX + 1)
    valid = signal.valid_signals()
    for sig in others:
        if sig in valid:
            wanted.setdefault(sig, ignore)
    return {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}


# --------------------------------------------------------------------------------------- status
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@common
def status(settings: Settings, as_json: bool) -> int:
    """Daemon up or down, next sweep, last exports, current failures, totals; exit 3 when the daemon is down."""
    from daemon.analytics.figures import size_change
    from daemon.analytics.health import gather

    facts = gather(settings)
    down = 0 if facts.daemon_up else 3  # systemctl status's convention: 3 when the service is not running
    if as_json:
        click.echo(json.dumps(facts.to_json(), indent=2, default=str))
        return down
    up = f"up (pid {facts.pid})" if facts.daemon_up else f"down ({facts.daemon})"
    say(f"daemon:        {up}")
    if facts.watch:
        watched = ", ".join(
            f"{folder} {w.get('state')}" + (f" ({w.get('reason')} since {w.get('since')})" if w.get("reason") else "")
            for folder, w in sorted(facts.watch.items())
        )
        say(f"watching:      {watched}")
    if facts.state_damaged:
        say(f"state:         damaged ({facts.state_damaged}); set aside and rebuilt at the next start")
    say(f"next sweep:    {facts.next_sweep}")
    say(f"last sweep:    {facts.last_sweep or '-'}")
    t = facts.totals
    rate = f"{facts.success_7d_pct:.1f}%" if facts.success_7d_pct is not None else "-"
    say(
        f"totals:        {t.files} files, {t.rows:,} rows, {_kb(t.storage_bytes)} of Parquet on disk;"
        f" sources {_kb(t.source_bytes)} → outputs {_kb(t.parquet_bytes)}"
        f" ({size_change(t.source_bytes, t.parquet_bytes)});"
        f" 7-day success {rate}"
    )
    if facts.publish_target:
        age = f", oldest {facts.oldest_pending_seconds:.0f} s" if facts.oldest_pending_seconds is not None else ""
        say(f"publishing:    {facts.publish_target}: {facts.pending_uploads} pending{age}")
    say(f"failures:      {len(facts.failures)}")
    for failure in facts.failures:
        if failure.get("status") == "abandoned":
            say(f"  ↻ {failure['source']}: abandoned ({failure['error']}); converted again at the next start")
        else:
            say(f"  ✗ {failure['source']}: {failure['error']}")
    say("last exports:")
    for r in facts.recent:
        detail = f"{r['rows_written']} rows" if r["outcome"] == "written" else (r["error"] or "")
        say(f"  {r['at']}  {r['outcome']:<8} {r['source']}  {detail}")
    say("data quality (latest per output):")
    for q in facts.quality:
        nulls = ", ".join(f"{k} {v:,}" for k, v in q["null_counts"].items())
        verdict = "; ".join(q["problems"]) or "clean"
        say(f"  {Path(q['output']).name}  {q['rows']:,} rows: {verdict}" + (f" (nulls: {nulls})" if nulls else ""))
    return down


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: level, status, reasons, perfdata.")
@common
def health(settings: Settings, as_json: bool) -> int:
    """Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios convention): one line saying why, perfdata after `|`."""
    from daemon.analytics.health import LEVEL_NAMES, gather, judge, perfdata

    facts = gather(settings)
    level, reasons = judge(facts, settings.storage_alert_gb)
    perf = perfdata(facts, settings.storage_alert_gb)
    if as_json:
        doc = {"level": level, "status": LEVEL_NAMES[level], "reasons": reasons, "perfdata": perf}
        click.echo(json.dumps(doc, indent=2))
        return level
    summary = "; ".join(reasons) if reasons else "daemon up, exports current"
    say(f"{LEVEL_NAMES[level]} - {summary} | {perf}")
    return level


# ----------------------------------------------------------------------------------------- logs
class LineCount(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """`logs -n`: a count from 0 to MAX_LINES, or `all` (None)."""

    name = "N|all"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() == "all":
            return None
        try:
            count = int(str(value))
        except ValueError:
            self.fail(f"'{value}' is not a number of lines (or 'all')", param, ctx)
        if not 0 <= count <= MAX_LINES:
            self.fail(f"{value} is not in the range 0<=x<={MAX_LINES} (or 'all')", param, ctx)
        return count


@cli.command()
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new lines (across rotation).")
@click.option(
    "-n",
    "lines",
    type=LineCount(),
    default="20",
    show_default=True,
    metavar="N|all",
    help="How many past lines to show (0: none, all: every line).",
)
@click.option("--level", type=click.Choice(["debug", "info", "warning", "error"]), help="Minimum level.")
@click.option("--event", "event_prefix", help="Only events starting with this prefix, e.g. export.")
@click.option("--since", help="Only lines newer than this: 15m, 1h, 2d or an ISO 8601 instant.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
@common
def logs(
    settings: Settings,
    follow_: bool,
    lines: int | None,
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
    except (ValueError, OverflowError):
        raise click.BadParameter(f"'{since}' is not a duration (15m, 1h, 2d) or ISO instant") from None
    flt = Filter(level=level, event_prefix=event_prefix, since=since_at)
    console = Console(highlight=False, soft_wrap=True)

    def show(line: str) -> None:
        if as_json or not sys.stdout.isatty():
            click.echo(
                escape_json_controls(line) if as_json else human(line)[0], color=True
            )  # human() escapes its text
        else:
            text, style = human(line)
            console.print(Text(text, style=style))

    for line in tail(settings.log_path, settings.log_backups, lines, flt):
        show(line)
    if follow_:
        try:
            for line in follow(settings.log_path, flt, stop=lambda: False):
                show(line)
        except KeyboardInterrupt:
            pass
    return 0


# --------------------------------------------------------------------------------------- config
@cli.group()
def config() -> None:
    """Check the settings before deploying them."""


@config.command("check")
@_location_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (also when invalid).")
def config_check(root: Path | None, config_file: Path | None, as_json: bool) -> int:
    """Validate the settings; show each one's value and source.

    Exit 0 when valid, else 2 with one line per problem. Unknown keys in the file and
    PARQUET_EXPORTER_* variables that name no setting are problems here. Secrets are redacted.
    """
    loaded = load(*_sources(root, config_file))
    report = loaded.to_json(strict=True)
    if loaded.settings is not None and (problem := root_problem(loaded.settings)) is not None:
        report["problems"].append(problem)
        report["valid"] = False
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif report["problems"]:
        for problem in report["problems"]:
            click.echo(f"error: {problem}", err=True)
    else:
        for line in loaded.lines():
            click.echo(line)
    return 2 if report["problems"] else 0


# ----------------------------------------------------------------------------------------- main
def _command(argv: Sequence[str] | None) -> str | None:
    """The command's name: the first argument (every option but --help and --version belongs to a command)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    return args[0] if args else None


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
        if _command(argv) == "health":  # Nagios reads 2 as CRITICAL: a check that could not run is UNKNOWN
            say(f"UNKNOWN - {exc.format_message()}")
            return 3
        if isinstance(exc, click.UsageError):  # one line, like every other error; exit 2
            where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            say(f"error: {exc.format_message()}{where}", err=True)
            return exc.exit_code
        exc.show()
        return _exit_code(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("PARQUET_EXPORTER_DEBUG"):
            raise
        first = (str(exc).splitlines() or [""])[0]
        if _command(argv) == "health":
            say(f"UNKNOWN - internal error: {type(exc).__name__}: {first}")
            return 3
        say(f"error: internal error: {type(exc).__name__}: {first} (PARQUET_EXPORTER_DEBUG=1 shows where)", err=True)
        return 1
    return rv if isinstance(rv, int) else 0
