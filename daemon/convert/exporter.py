"""The conversion core: plan which inputs to export, convert each one, and report what happened.

`Exporter.export()` is what the CLI's `export` command and the daemon's sweep both call. One bad
input never stops the others: every input ends as written, skipped or failed, with a reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from daemon import __version__
from daemon.convert import readers
from daemon.convert.coerce import LINE, RAW, REASON, RECORD, coerce
from daemon.convert.csv.streaming import convert_csv
from daemon.convert.digest import Digest, Prefetched, file_version
from daemon.convert.inputs import InputFile, Key, discover, output_path, rejects_path, resolve_key
from daemon.convert.quality import Quality, measure
from daemon.convert.writer import json_columns, publish, read_metadata, remove_if_exists, write_atomic
from daemon.errors import (
    ExporterError,
    InputError,
    SourceChanged,
    TooManyRejects,
    TransientIOError,
    UnreadableInput,
)
from daemon.logconfig import get_logger
from daemon.settings import Settings
from daemon.specs import REJECTS_COLUMNS, DatasetSpec
from daemon.state.database import OutputRecord, SourceRecord, State, now_utc

log = get_logger()

Status = Literal["written", "skipped", "failed"]
Mode = Literal["latest", "date", "historical"]


@dataclass
class Outcome:
    """What happened to one input."""

    status: Status
    dataset: str | None
    source: str
    output: str | None
    rows_in: int | None = None
    rows_written: int | None = None
    rows_rejected: int | None = None
    source_bytes: int | None = None
    parquet_bytes: int | None = None
    seconds: float | None = None
    reason: str | None = None
    error: str | None = None
    rejects: str | None = None
    transient: bool = False
    quality: Quality | None = None

    def to_json(self) -> dict[str, object]:
        base: dict[str, object] = {"dataset": self.dataset, "source": self.source, "output": self.output}
        if self.status == "written":
            base.update(
                rows_in=self.rows_in,
                rows_written=self.rows_written,
                rows_rejected=self.rows_rejected,
                source_bytes=self.source_bytes,
                parquet_bytes=self.parquet_bytes,
                seconds=self.seconds,
            )
            if self.rejects:
                base["rejects"] = self.rejects
            if self.quality is not None:
                base["quality"] = self.quality.to_json()
        elif self.status == "skipped":
            base["reason"] = self.reason
        else:
            base["error"] = self.error
        return base

    @property
    def reduction(self) -> float | None:
        if not self.source_bytes or self.parquet_bytes is None:
            return None
        return 100.0 * (1 - self.parquet_bytes / self.source_bytes)


@dataclass
class ExportReport:
    """Every outcome of one export run."""

    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def written(self) -> list[Outcome]:
        return self.of("written")

    @property
    def skipped(self) -> list[Outcome]:
        return self.of("skipped")

    @property
    def failed(self) -> list[Outcome]:
        return self.of("failed")

    def to_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "written": [o.to_json() for o in self.written],
            "skipped": [o.to_json() for o in self.skipped],
            "failed": [o.to_json() for o in self.failed],
        }


@dataclass(frozen=True)
class Selection:
    """Which inputs an export looks at."""

    mode: Mode = "latest"
    date: dt.date | None = None
    datasets: frozenset[str] = frozenset()

    def wants(self, spec: DatasetSpec) -> bool:
        return not self.datasets or spec.name in self.datasets


@dataclass(frozen=True)
class Planned:
    item: InputFile
    key: Key
    output: Path


@dataclass(frozen=True)
class SourceBytes:
    """A source's stat and content hash; `data` holds its bytes when they were read whole."""

    data: bytes | None
    size: int
    mtime_ns: int
    sha256: str
    version: tuple[int, ...] = ()  # `file_version()` of the stat the hash was taken with


class StreamedSource:
    """A CSV source whose hash is being computed beside its conversion (see `daemon.convert.digest`).

    `size` is known at once; the hash, the separator count and the version wait for the digest, and raise
    SourceChanged (or the read's error) when the file changed or failed while it was being read.
    """

    data: bytes | None = None

    def __init__(self, path: Path, digest: Digest) -> None:
        self.path = path
        self._digest = digest
        self.size = digest.before.st_size
        self.mtime_ns = digest.before.st_mtime_ns

    def check(self) -> None:
        """Wait for the digest; raise what stopped it or SourceChanged when the file changed while read."""
        self._done()

    def _done(self) -> Digest:
        digest = self._digest.wait()
        if digest.error is not None:
            raise _source_error(self.path, digest.error)
        if digest.changed:
            raise SourceChanged(f"{self.path.name} changed while it was being read")
        return digest

    @property
    def sha256(self) -> str:
        return self._done().sha256

    @property
    def version(self) -> tuple[int, ...]:
        return self._done().version

    @property
    def separators(self) -> int | None:
        return self._done().separators


Source = SourceBytes | StreamedSource


def _source_error(path: Path, exc: OSError) -> ExporterError:
    if isinstance(exc, FileNotFoundError):
        return SourceChanged(f"{path.name} vanished before it could be read")
    if isinstance(exc, PermissionError):
        return UnreadableInput("permission denied reading the source")
    if isinstance(exc, IsADirectoryError):
        return UnreadableInput("is a directory")
    return TransientIOError(f"reading {path.name}: {exc.strerror or exc}")


def read_source(path: Path) -> SourceBytes:
    """Read a source once, and fail with SourceChanged if it changed while being read."""
    try:
        before = os.stat(path)
        data = path.read_bytes()
        after = os.stat(path)
    except OSError as exc:
        raise _source_error(path, exc) from None
    if file_version(before) != file_version(after) or len(data) != after.st_size:
        raise SourceChanged(f"{path.name} changed while it was being read")
    return SourceBytes(data, after.st_size, after.st_mtime_ns, hashlib.sha256(data).hexdigest(), file_version(after))


def hash_source(path: Path, prefetched: Digest | None = None) -> StreamedSource:
    """Start hashing a CSV source on a thread (unless a digest of it was forked earlier); its conversion
    (polars streams it) goes on meanwhile."""
    try:
        return StreamedSource(path, prefetched or Digest.start(path))
    except OSError as exc:
        raise _source_error(path, exc) from None


def load_source(path: Path, expected: Source) -> bytes:
    """The bytes of a source that was hashed earlier; SourceChanged if they are not the same bytes."""
    again = read_source(path)
    if again.sha256 != expected.sha256:
        raise SourceChanged(f"{path.name} changed while it was being converted")
    assert again.data is not None
    return again.data


def _assert_unchanged(path: Path, src: Source) -> None:
    """Before publishing a streamed output: the source still has the stat it was hashed with."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _source_error(path, exc) from None
    if file_version(st) != src.version:
        raise SourceChanged(f"{path.name} changed while it was being converted")


def _changed_since(path: Path, src: Source) -> bool:
    """True when the source is no longer the version that was hashed (or is gone). A streamed source's own
    read failing or changing is raised by `StreamedSource.check()` before this is asked."""
    try:
        return file_version(os.stat(path)) != src.version
    except OSError:
        return True


class Exporter:
    """Converts inputs under one root; holds the settings and (unless dry-running) the state."""

    def __init__(self, settings: Settings, state: State | None, prefetched: Prefetched | None = None) -> None:
        self.settings = settings
        self.state = state
        self.prefetched = prefetched or Prefetched()  # digests a one-shot export forked before polars loaded

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.settings.root))
        except ValueError:
            return str(path)

    # planning ----------------------------------------------------------------------------------
    def plan(
        self, selection: Selection, items: Iterable[InputFile] | None = None
    ) -> tuple[list[Planned], list[Outcome]]:
        """Resolve keys, apply the selection, and pick one input per output."""
        planned: list[Planned] = []
        problems: list[Outcome] = []
        for item in items if items is not None else discover(self.settings):
            if not selection.wants(item.spec):
                continue
            try:
                key = resolve_key(item, self.settings)
            except ExporterError as exc:
                if selection.mode != "date" or not item.dated:
                    problems.append(self._failed(item, None, exc, record=True))
                continue
            if selection.mode == "date" and selection.date and not key.covers(selection.date, item.spec.key_kind):
                continue
            planned.append(Planned(item, key, output_path(self.settings, item.spec, key)))
        by_output: dict[Path, list[Planned]] = {}
        for p in planned:
            by_output.setdefault(p.output, []).append(p)
        chosen: list[Planned] = []
        for group in by_output.values():
            group.sort(key=lambda p: (not p.item.dated, p.item.path.name))
            chosen.append(group[0])
            for loser in group[1:]:
                problems.append(
                    Outcome(
                        "skipped",
                        loser.item.spec.name,
                        self.rel(loser.item.path),
                        self.rel(loser.output),
                        reason=f"superseded by {group[0].item.path.name} (same output)",
                    )
                )
        if selection.mode == "latest":
            latest: dict[str, Planned] = {}
            for p in chosen:
                current = latest.get(p.item.spec.name)
                if current is None or (p.key.day, p.key.text) > (current.key.day, current.key.text):
                    latest[p.item.spec.name] = p
            chosen = list(latest.values())
        chosen.sort(key=lambda p: (p.item.spec.name, p.key.day, p.item.path.name))
        return chosen, problems

    def export(
        self,
        selection: Selection,
        *,
        force: bool = False,
        dry_run: bool = False,
        on_item: Callable[[Outcome], None] | None = None,
        on_plan: Callable[[int], None] | None = None,
    ) -> ExportReport:
        """Plan and convert; never raises for a bad input."""
        report = ExportReport(dry_run=dry_run)
        chosen, problems = self.plan(selection)
        if on_plan:
            on_plan(len(chosen))
        for outcome in problems:
            report.outcomes.append(outcome)
            if on_item:
                on_item(outcome)
        for planned in chosen:
            outcome = self.convert(planned.item, force=force, dry_run=dry_run)
            report.outcomes.append(outcome)
            if on_item:
                on_item(outcome)
        return report

    # converting one input --------------------------------------------------------------------
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
        daemon can retry it; it then calls `record_failure` once it gives up). Setting `cancel` before
        the output is published abandons the conversion without writing anything.
        """
        started = time.perf_counter()
        try:
            return self._convert(item, force=force, dry_run=dry_run, started=started, cancel=cancel)
        except Exception as exc:
            if cancel is not None and cancel.is_set():
                # Abandoned by the caller, who recorded that already: recording (or logging) it again from
                # this late thread could overwrite what happened since, e.g. a newer conversion's success.
                return Outcome("failed", item.spec.name, self.rel(item.path), None, error=str(exc) or "abandoned")
            if isinstance(exc, TransientIOError) and raise_transient:
                raise
            if isinstance(exc, ExporterError):
                return self._failed(item, None, exc, record=not dry_run)
            log.error("export.internal_error", source=self.rel(item.path), exc_info=True)
            internal = InputError(f"internal error: {type(exc).__name__}: {exc}")
            return self._failed(item, None, internal, record=not dry_run)

    def record_failure(self, item: InputFile, exc: ExporterError) -> Outcome:
        """Record (state, run history, log) that `item` failed with `exc`."""
        return self._failed(item, None, exc, record=True)

    def _convert(
        self, item: InputFile, *, force: bool, dry_run: bool, started: float, cancel: threading.Event | None
    ) -> Outcome:
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
            if isinstance(exc, SourceChanged) or (cancel is not None and cancel.is_set()):
                raise
            if isinstance(src, StreamedSource):
                src.check()  # the hash's own read failing (permission, a vanished file) says more than `exc`
            if _changed_since(item.path, src):
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
        source = self.rel(item.path)
        key = resolve_key(item, self.settings, src.data)
        out = output_path(self.settings, spec, key)
        out_rel = self.rel(out)
        if not item.dated and out.exists():
            owner = read_metadata(out).get("source")
            if owner and owner != source and (self.settings.root / owner).exists():
                superseded = f"superseded by {Path(owner).name} (same output)"
                log.info("export.skipped", dataset=spec.name, source=source, output=out_rel, reason=superseded)
                return Outcome("skipped", spec.name, source, out_rel, reason=superseded, source_bytes=src.size)
        if not force:
            reason = self._current(out, out_rel, src, spec, key)
            if reason:
                self._record_source(source, src, out_rel, "skipped")
                log.info("export.skipped", dataset=spec.name, source=source, output=out_rel, reason=reason)
                return Outcome("skipped", spec.name, source, out_rel, reason=reason, source_bytes=src.size)
        exported_at = now_utc()

        def metadata() -> dict[str, str]:
            """The footer's provenance; called when the footer is written (a CSV's hash is ready by then)."""
            return {
                "version": __version__,
                "schema_version": str(spec.schema_version),
                "dataset": spec.name,
                "source": source,
                "source_sha256": src.sha256,
                "source_bytes": str(src.size),
                "exported_at": exported_at,
            }

        done = Outcome("written", spec.name, source, out_rel, source_bytes=src.size)
        drift_logged = False
        if spec.reader == "csv":
            separators = (lambda: src.separators) if isinstance(src, StreamedSource) else None
            converted = convert_csv(item.path, spec, out, self.settings, metadata, separators, write=not dry_run)
            streamed = converted.streamed
            if converted.extra_columns:
                drift_logged = True
                log.warning("schema.drift", dataset=spec.name, source=source, extra_columns=converted.extra_columns)
            if streamed is not None:
                try:
                    self._check_rejects(streamed.rows_in, streamed.rejected)
                    done.rows_in, done.rows_written = streamed.rows_in, streamed.rows_written
                    done.rows_rejected = streamed.rejected.height
                    if not dry_run:
                        assert streamed.tmp is not None
                        _assert_unchanged(item.path, src)
                        done.parquet_bytes = publish(streamed.tmp, out, cancel)
                finally:
                    streamed.discard()
                return self._finish(done, spec, key, src, streamed.rejected, dry_run, started, converted.extra_columns)
            table = readers.read_csv_records(src.data if src.data is not None else load_source(item.path, src), spec)
        else:
            assert src.data is not None
            table = readers.read(src.data, spec)
        if table.extra_columns and not drift_logged:
            log.warning("schema.drift", dataset=spec.name, source=source, extra_columns=table.extra_columns)
        coerced = coerce(table, spec, self.settings.timezone, self.settings.source_timezone)
        self._check_rejects(coerced.rows_in, coerced.bad)
        done.rows_in, done.rows_written, done.rows_rejected = coerced.rows_in, coerced.good.height, coerced.bad.height
        if not dry_run:
            counts = {"rows_in": str(done.rows_in), "rows_written": str(done.rows_written)}
            counts["rows_rejected"] = str(done.rows_rejected)
            done.parquet_bytes = write_atomic(
                coerced.good,
                out,
                {**metadata(), **counts},
                self.settings,
                json_columns(spec),
                cancel=cancel,
                source_bytes=src.size,
            )
        return self._finish(done, spec, key, src, coerced.bad, dry_run, started, table.extra_columns)

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

    def _finish(
        self,
        done: Outcome,
        spec: DatasetSpec,
        key: Key,
        src: Source,
        bad: pl.DataFrame,
        dry_run: bool,
        started: float,
        extra_columns: list[str],
    ) -> Outcome:
        if not dry_run:
            done.rejects = self._write_rejects(spec, key, done.source, src.sha256, bad)
        done.seconds = round(time.perf_counter() - started, 4)
        if not dry_run:
            done.quality = self._measure(done, spec, key, extra_columns)
        if not dry_run:
            self._record_written(done, src, spec)
        return done

    def _current(self, out: Path, out_rel: str, src: Source, spec: DatasetSpec, key: Key) -> str | None:
        """Why the existing output is current for this content, or None when it must be (re)written."""
        if not out.exists():
            return None  # without waiting for a CSV's hash: a missing output is converted at once
        sha256 = src.sha256
        if self.state is not None:
            record = self.state.output(out_rel)
            if record and record.source_sha256 == sha256 and record.schema_version == spec.schema_version:
                return "already exists, skipping"
        meta = read_metadata(out)
        if meta.get("source_sha256") == sha256 and meta.get("schema_version") == str(spec.schema_version):
            if not self._rejects_written(spec, key, sha256, meta):
                return None  # a crash came between publishing the output and writing its rejects
            if self.state is not None and not self.state.readonly:
                self._backfill(out, out_rel, spec, meta)
            return "already exists, skipping"
        return None

    def _rejects_written(self, spec: DatasetSpec, key: Key, sha256: str, meta: dict[str, str]) -> bool:
        """Whether the rejected rows an output's footer counts are in the rejects file for the same content."""
        try:
            rejected = int(meta.get("rows_rejected", "0"))
        except ValueError:
            return False
        if rejected == 0:
            return True
        return read_metadata(rejects_path(self.settings, spec, key)).get("source_sha256") == sha256

    def _backfill(self, out: Path, out_rel: str, spec: DatasetSpec, meta: dict[str, str]) -> None:
        """Re-learn an output's provenance from its own footer (after the state file was lost)."""
        assert self.state is not None
        with contextlib.suppress(KeyError, ValueError):
            self.state.put_output(
                OutputRecord(
                    output=out_rel,
                    dataset=spec.name,
                    source=meta.get("source", ""),
                    source_sha256=meta["source_sha256"],
                    schema_version=int(meta["schema_version"]),
                    rows_in=int(meta.get("rows_in", 0)),
                    rows_written=int(meta.get("rows_written", 0)),
                    rows_rejected=int(meta.get("rows_rejected", 0)),
                    source_bytes=int(meta.get("source_bytes", 0)),
                    parquet_bytes=out.stat().st_size,
                    exported_at=meta.get("exported_at", now_utc()),
                )
            )

    def _write_rejects(self, spec: DatasetSpec, key: Key, source: str, sha256: str, bad: pl.DataFrame) -> str | None:
        dest = rejects_path(self.settings, spec, key)
        if bad.height == 0:
            remove_if_exists(dest)
            return None
        at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        frame = bad.select(
            pl.lit(spec.name).alias("dataset"),
            pl.lit(source).alias("source"),
            pl.lit(sha256).alias("source_sha256"),
            pl.col(LINE).alias("line"),
            pl.col(RECORD).alias("record"),
            pl.col(RAW).alias("raw"),
            pl.col(REASON).alias("reason"),
            pl.lit(at).cast(pl.Datetime("us")).alias("rejected_at"),
        )
        assert frame.columns == [c.name for c in REJECTS_COLUMNS]
        write_atomic(frame, dest, {"dataset": spec.name, "source": source, "source_sha256": sha256}, self.settings)
        log.warning(
            "export.rejected_rows",
            dataset=spec.name,
            source=source,
            rows_rejected=bad.height,
            rejects=self.rel(dest),
            first_reason=bad.item(0, REASON),
        )
        return self.rel(dest)

    def _measure(self, done: Outcome, spec: DatasetSpec, key: Key, extra_columns: list[str]) -> Quality | None:
        """The output's data quality; a failure to measure is logged and never fails the export."""
        assert done.output is not None
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

    # bookkeeping -------------------------------------------------------------------------------
    def _record_source(self, source: str, src: Source, output: str, status: str) -> None:
        if self.state is None or self.state.readonly:
            return
        self.state.put_source(SourceRecord(source, src.size, src.mtime_ns, src.sha256, output, status, None, now_utc()))

    def _record_written(self, outcome: Outcome, src: Source, spec: DatasetSpec) -> None:
        assert outcome.output is not None
        assert outcome.parquet_bytes is not None
        log.info(
            "export.written",
            dataset=spec.name,
            source=outcome.source,
            output=outcome.output,
            rows=outcome.rows_written,
            rows_rejected=outcome.rows_rejected,
            source_kb=round(src.size / 1024, 1),
            parquet_kb=round(outcome.parquet_bytes / 1024, 1),
            ratio=f"{outcome.reduction:.1f}%" if outcome.reduction is not None else None,
            duration_ms=round((outcome.seconds or 0) * 1000, 1),
        )
        if outcome.quality is not None:
            q = outcome.quality
            (log.warning if q.problems() else log.info)(
                "export.quality",
                dataset=spec.name,
                output=outcome.output,
                duplicate_rows=q.duplicate_rows,
                outside_day=q.outside_day,
                negative_durations=q.negative_durations,
                null_counts=q.null_counts,
                extra_columns=q.extra_columns,
                missing_columns=q.missing_columns,
                duration_ms=round(q.seconds * 1000, 1),
            )
        if self.state is None:
            return
        self.state.put_output(
            OutputRecord(
                output=outcome.output,
                dataset=spec.name,
                source=outcome.source,
                source_sha256=src.sha256,
                schema_version=spec.schema_version,
                rows_in=outcome.rows_in or 0,
                rows_written=outcome.rows_written or 0,
                rows_rejected=outcome.rows_rejected or 0,
                source_bytes=src.size,
                parquet_bytes=outcome.parquet_bytes,
                exported_at=now_utc(),
            )
        )
        self._record_source(outcome.source, src, outcome.output, "written")
        run_id = self.state.add_run(
            dataset=spec.name,
            source=outcome.source,
            output=outcome.output,
            outcome="written",
            rows_in=outcome.rows_in,
            rows_written=outcome.rows_written,
            rows_rejected=outcome.rows_rejected,
            source_bytes=src.size,
            parquet_bytes=outcome.parquet_bytes,
            duration_ms=(outcome.seconds or 0) * 1000,
        )
        if outcome.quality is not None:
            self.state.put_quality(
                run_id,
                dataset=spec.name,
                source=outcome.source,
                output=outcome.output,
                quality=outcome.quality.to_json(),
            )

    def _failed(self, item: InputFile, output: str | None, exc: ExporterError, *, record: bool) -> Outcome:
        source = self.rel(item.path)
        message = str(exc) or type(exc).__name__
        log.error("export.failed", dataset=item.spec.name, source=source, error=message, error_type=type(exc).__name__)
        if record and self.state is not None and not self.state.readonly:
            self.state.add_run(dataset=item.spec.name, source=source, output=output, outcome="failed", error=message)
            try:
                st = item.path.stat()
                size, mtime_ns = st.st_size, st.st_mtime_ns
            except OSError:
                size, mtime_ns = -1, -1
            self.state.put_source(SourceRecord(source, size, mtime_ns, "", output, "failed", message, now_utc()))
        return Outcome(
            "failed", item.spec.name, source, output, error=message, transient=isinstance(exc, TransientIOError)
        )
