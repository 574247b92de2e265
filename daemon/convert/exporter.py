"""The exporter orchestrates one root's conversions: plan, then for each input read, convert, publish, record.

`Exporter.export()` is what the CLI's `export` command calls, and `Exporter.convert()` what the daemon
calls per input. One bad input never stops the others: every input ends as written, skipped or failed,
with a reason. The steps live in their own modules: the plan (`plan.py`), reading the source once
(`source.py`), the readers (`csv/`, `readers.py`) and typing (`coerce.py`), writing and publishing
(`writer.py`), quality (`quality.py`), and the books (`ledger.py`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl

from daemon import __version__
from daemon.convert import readers
from daemon.convert.coerce import LINE, REASON, RECORD, coerce
from daemon.convert.csv import convert_csv
from daemon.convert.digest import Prefetched
from daemon.convert.inputs import InputFile, Key, broken_link, discover, output_path, resolve_key
from daemon.convert.ledger import Ledger
from daemon.convert.outcome import Converted, ExportReport, Outcome
from daemon.convert.plan import Mode, Selection, plan
from daemon.convert.quality import Quality, measure
from daemon.convert.source import (
    Source,
    StreamedSource,
    assert_unchanged,
    changed_since,
    hash_source,
    load_source,
    read_source,
)
from daemon.convert.writer import clean_temporaries, json_columns, publish, write_atomic
from daemon.errors import ExporterError, InputError, LineTooLong, SourceChanged, TooManyRejects, TransientIOError
from daemon.logconfig import get_logger
from daemon.settings import Settings
from daemon.state.database import State, now_utc
from daemon.state.locks import export_lock

__all__ = ["ExportReport", "Exporter", "Mode", "Outcome", "Selection", "export_once"]

log = get_logger()


class Exporter:
    """Converts inputs under one root; holds the settings and the ledger (the state, unless dry-running)."""

    def __init__(self, settings: Settings, state: State | None, prefetched: Prefetched | None = None) -> None:
        self.settings = settings
        self.ledger = Ledger(settings, state)
        self.prefetched = prefetched or Prefetched()  # digests a one-shot export forked before polars loaded

    def export(
        self,
        selection: Selection,
        *,
        force: bool = False,
        dry_run: bool = False,
        items: Iterable[InputFile] | None = None,
        on_item: Callable[[Outcome], None] | None = None,
        on_plan: Callable[[int], None] | None = None,
    ) -> ExportReport:
        """Plan and convert; never raises for a bad input."""
        report = ExportReport(dry_run=dry_run)
        planned = plan(self.settings, selection, items if items is not None else discover(self.settings))
        if on_plan:
            on_plan(len(planned.chosen))
        problems = [self.ledger.failed(item, exc, record=not dry_run) for item, exc in planned.unkeyed]
        for lost in planned.superseded:
            reason = f"superseded by {lost.winner.path.name} (same output)"
            source, output = self.settings.relative(lost.item.path), self.settings.relative(lost.output)
            problems.append(Outcome("skipped", lost.item.spec.name, source, output, reason=reason))
        for outcome in problems:
            report.outcomes.append(outcome)
            if on_item:
                on_item(outcome)
        for chosen in planned.chosen:
            outcome = self.convert(chosen.item, force=force, dry_run=dry_run)
            report.outcomes.append(outcome)
            if on_item:
                on_item(outcome)
        return report

    def convert(
        self,
        item: InputFile,
        *,
        force: bool = False,
        dry_run: bool = False,
        raise_transient: bool = False,
        cancel: threading.Event | None = None,
    ) -> Outcome:
        """Convert one input (or skip it when its output is current).

        Never raises an ExporterError, except a TransientIOError when `raise_transient` is set (so the
        daemon can retry it; it then records the failure through the ledger once it gives up). Setting
        `cancel` before the output is published abandons the conversion without writing anything.
        """
        started = time.perf_counter()
        try:
            return self._convert(item, force=force, dry_run=dry_run, started=started, cancel=cancel)
        except Exception as exc:
            source = self.settings.relative(item.path)
            if cancel is not None and cancel.is_set():
                # Abandoned by the caller, who recorded that already: recording (or logging) it again from
                # this late thread could overwrite what happened since, e.g. a newer conversion's success.
                return Outcome("failed", item.spec.name, source, None, error=str(exc) or "abandoned")
            if isinstance(exc, TransientIOError) and raise_transient:
                raise
            if isinstance(exc, ExporterError):
                return self.ledger.failed(item, exc, record=not dry_run)
            log.error("export.internal_error", source=source, exc_info=True)
            internal = InputError(f"internal error: {type(exc).__name__}: {exc}")
            return self.ledger.failed(item, internal, record=not dry_run)

    def _convert(
        self, item: InputFile, *, force: bool, dry_run: bool, started: float, cancel: threading.Event | None
    ) -> Outcome:
        broken = broken_link(item.path)  # a link that leads nowhere is this input's failure, with that reason
        if broken is not None:
            raise broken
        if item.spec.reader == "csv":
            src: Source = hash_source(item.path, self.prefetched.take(item.path))
        else:
            src = read_source(item.path)
        try:
            return self._convert_source(item, src, force=force, dry_run=dry_run, started=started, cancel=cancel)
        except Exception as exc:
            # A CSV is streamed from its path in several passes after it was hashed: whatever went wrong
            # (a vanished file, half a header, a polars error) is the change's doing when the file changed
            # meanwhile, so it is a SourceChanged and retried, never recorded as a fault of the content.
            if isinstance(exc, SourceChanged | LineTooLong) or (cancel is not None and cancel.is_set()):
                raise  # LineTooLong: found in the first bytes read, no need to wait for the whole file's digest
            if isinstance(src, StreamedSource):
                src.check()  # the hash's own read failing (permission, a vanished file) says more than `exc`
            if changed_since(item.path, src):
                raise SourceChanged(f"{item.path.name} changed while it was being converted") from None
            raise

    def _convert_source(
        self,
        item: InputFile,
        src: Source,
        *,
        force: bool,
        dry_run: bool,
        started: float,
        cancel: threading.Event | None,
    ) -> Outcome:
        spec = item.spec
        key = resolve_key(item, self.settings, src.data)
        out = output_path(self.settings, spec, key)
        superseded = self.ledger.owner_elsewhere(item, out)
        if superseded:
            return self.ledger.skipped(item, src, out, superseded, record=False)
        if not force:
            reason = self.ledger.current(out, src, spec, key)
            if reason:
                return self.ledger.skipped(item, src, out, reason, record=True)
        metadata = _provenance(self.settings.relative(item.path), spec.name, spec.schema_version, src)
        if spec.reader == "csv":
            separators = (lambda: src.separators) if isinstance(src, StreamedSource) else None
            converted = convert_csv(
                item.path,
                spec,
                out,
                self.settings,
                metadata,
                separators=separators,
                load=lambda: src.data if src.data is not None else load_source(item.path, src),
                write=not dry_run,
            )
        else:
            assert src.data is not None
            table = readers.read(src.data, spec, max_line_bytes=self.settings.max_line_bytes)
            coerced = coerce(table, spec, self.settings.timezone, self.settings.source_timezone)
            converted = Converted(
                spec.reader, coerced.rows_in, coerced.good.height, coerced.bad, table.extra_columns, good=coerced.good
            )
        try:
            return self._publish(
                item, src, key, out, converted, metadata, dry_run=dry_run, started=started, cancel=cancel
            )
        finally:
            converted.discard()

    def _publish(
        self,
        item: InputFile,
        src: Source,
        key: Key,
        out: Path,
        converted: Converted,
        metadata: Callable[[], dict[str, str]],
        *,
        dry_run: bool,
        started: float,
        cancel: threading.Event | None,
    ) -> Outcome:
        """Check the rejects' share, publish the output and its rejects, measure it, and record it."""
        spec, source = item.spec, self.settings.relative(item.path)
        if converted.extra_columns:
            log.warning("schema.drift", dataset=spec.name, source=source, extra_columns=converted.extra_columns)
        self._check_rejects(converted.rows_in, converted.rejected)
        done = Outcome("written", spec.name, source, self.settings.relative(out), source_bytes=src.size)
        done.rows_in, done.rows_written = converted.rows_in, converted.rows_written
        done.rows_rejected = converted.rejected.height
        if dry_run:
            done.seconds = round(time.perf_counter() - started, 4)
            return done
        done.replaced = out.exists()
        if converted.tmp is not None:
            assert_unchanged(item.path, src)
            done.parquet_bytes = publish(converted.tmp, out, cancel)
        else:
            assert converted.good is not None
            counts = {"rows_in": str(done.rows_in), "rows_written": str(done.rows_written)}
            counts["rows_rejected"] = str(done.rows_rejected)
            done.parquet_bytes = write_atomic(
                converted.good,
                out,
                {**metadata(), **counts},
                self.settings,
                json_columns(spec),
                cancel=cancel,
                source_bytes=src.size,
            )
        done.rejects = self.ledger.write_rejects(spec, key, source, src.sha256, converted.rejected)
        done.seconds = round(time.perf_counter() - started, 4)
        done.quality = self._measure(done, item, key, converted.extra_columns)
        self.ledger.written(done, src, spec)
        return done

    def _check_rejects(self, rows_in: int, bad: pl.DataFrame) -> None:
        """Fail the file (writing nothing) when more than max_reject_fraction of its rows were rejected."""
        rejected = bad.height
        if rows_in and rejected / rows_in > self.settings.max_reject_fraction:
            first = bad.row(0, named=True)
            where = f"line {first[LINE]}" if first.get(LINE) is not None else f"record {first.get(RECORD)}"
            raise TooManyRejects(
                f"{rejected} of {rows_in} rows rejected (more than {self.settings.max_reject_fraction:.0%});"
                f" first at {where}: {first[REASON]}"
            )

    def _measure(self, done: Outcome, item: InputFile, key: Key, extra_columns: list[str]) -> Quality | None:
        """The output's data quality; a failure to measure is logged and never fails the export."""
        assert done.output is not None
        spec = item.spec
        calendar = self.settings.timezone  # the calendar of the file's name, for every kind (quality.measure)
        try:
            return measure(
                self.settings.root / done.output,
                spec,
                key_text=key.text,
                key_day=key.day,
                calendar=calendar,
                rows_rejected=done.rows_rejected or 0,
                extra_columns=extra_columns,
            )
        except Exception as exc:  # noqa: BLE001 - quality is advice: the output is already published and correct
            log.warning("quality.failed", source=done.source, output=done.output, error=str(exc).splitlines()[0])
            return None


def export_once(
    settings: Settings,
    selection: Selection,
    *,
    force: bool = False,
    dry_run: bool = False,
    prefetched: Prefetched | None = None,
    on_item: Callable[[Outcome], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> ExportReport:
    """A one-shot export (the `export` command): under the export lock, with the state, after removing the
    temporary files a killed run left (none is in flight while the lock is held). A dry run takes no lock,
    reads the state when there is one and writes nothing."""
    if dry_run:
        state = State(settings.state_file, readonly=True) if settings.state_file.exists() else None
        try:
            return Exporter(settings, state).export(selection, dry_run=True, on_item=on_item, on_plan=on_plan)
        finally:
            if state is not None:
                state.close()
    with export_lock(settings.state_path), State(settings.state_file) as state:
        clean_temporaries(settings.output_path)
        return Exporter(settings, state, prefetched).export(selection, force=force, on_item=on_item, on_plan=on_plan)


def _provenance(source: str, dataset: str, schema_version: int, src: Source) -> Callable[[], dict[str, str]]:
    """The footer's provenance; called when the footer is written (a CSV's hash is ready by then)."""
    exported_at = now_utc()

    def metadata() -> dict[str, str]:
        return {
            "version": __version__,
            "schema_version": str(schema_version),
            "dataset": dataset,
            "source": source,
            "source_sha256": src.sha256,
            "source_bytes": str(src.size),
            "exported_at": exported_at,
        }

    return metadata
