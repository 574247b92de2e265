"""The books: is an output current, and what happened to each input.

One place answers "is this output current?" for `export` and for the daemon's sweep alike: by stat
(`unchanged`: the source's size and mtime are what the state recorded, and its output is there) and by
content (`current`: the output's recorded or footer-held hash is the source's). And one place records an
outcome: its log line, its state rows and its rejects file. Without a state (a dry run with none yet),
or with a read-only one, nothing is recorded, and the footers still answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import polars as pl

from daemon.convert.coerce import LINE, RAW, REASON, RECORD
from daemon.convert.inputs import InputFile, Key, rejects_path
from daemon.convert.outcome import Outcome
from daemon.convert.source import Source
from daemon.convert.writer import read_metadata, remove_if_exists, write_atomic
from daemon.errors import Abandoned, ExporterError, TransientIOError
from daemon.logconfig import get_logger
from daemon.settings import Settings
from daemon.specs import REJECTS_COLUMNS, DatasetSpec
from daemon.state.database import OutputRecord, SourceRecord, State, now_utc
from daemon.state.outbox import enqueue

log = get_logger()

ALREADY_EXISTS = "already exists, skipping"
# A source whose conversion the daemon abandoned (stopping, or past conversion_timeout): the data did not
# fail, so `unchanged` never counts it settled and the next start or sweep converts it again.
ABANDONED = "abandoned"


class Ledger:
    """The conversions' books for one root: the state (when there is one) and the outputs' footers."""

    def __init__(self, settings: Settings, state: State | None) -> None:
        self.settings = settings
        self.state = state

    @property
    def writable(self) -> bool:
        return self.state is not None and not self.state.readonly

    # is it current? ---------------------------------------------------------------------------
    def unchanged(self, item: InputFile, *, retry_failed: bool = False) -> bool:
        """The stat check: the source has the size and mtime the state recorded, and its output is in place
        with the same size and schema version (a failed source counts as unchanged unless `retry_failed`; an
        abandoned one never does)."""
        if self.state is None:
            return False
        record = self.state.source(self.settings.relative(item.path))
        try:
            st = item.path.stat()
        except OSError:
            return False
        if record is None or (record.size, record.mtime_ns) != (st.st_size, st.st_mtime_ns):
            return False
        if record.status == ABANDONED:
            return False  # abandoned by us (a stop, a timeout), not failed by the data: tried again
        if record.status == "failed":
            return not retry_failed
        if not record.output:
            return False
        output = self.state.output(record.output)
        if output is None or output.schema_version != item.spec.schema_version:
            return False
        try:
            return (self.settings.root / record.output).stat().st_size == output.parquet_bytes
        except OSError:
            return False

    def current(self, out: Path, src: Source, spec: DatasetSpec, key: Key) -> str | None:
        """The hash check: why the existing output is current for this content, or None when it must be
        (re)written. Outputs are verified, not trusted: one whose size is not the recorded one has its footer
        reread, and one that is missing, unreadable or not this content's is converted again
        (`export.repaired` says so when the state had it as current)."""
        out_rel = self.settings.relative(out)
        record = self.state.output(out_rel) if self.state is not None else None
        size = _size(out)
        if size is None:
            if record is not None and record.source_sha256 == src.sha256:
                log.warning("export.repaired", output=out_rel, detail="the output is missing; converting again")
            return None  # without waiting for a CSV's hash otherwise: a missing output is converted at once
        sha256 = src.sha256
        if (
            record
            and record.source_sha256 == sha256
            and record.schema_version == spec.schema_version
            and size == record.parquet_bytes
        ):
            return ALREADY_EXISTS
        meta = read_metadata(out)
        if meta.get("source_sha256") == sha256 and meta.get("schema_version") == str(spec.schema_version):
            if not self._rejects_written(spec, key, sha256, meta):
                return None  # a crash came between publishing the output and writing its rejects
            if self.writable:
                self._backfill(out, out_rel, spec, meta)
            return ALREADY_EXISTS
        if record is not None and record.source_sha256 == sha256 and record.schema_version == spec.schema_version:
            detail = "unreadable" if not meta else "not this source's content"
            log.warning(
                "export.repaired",
                output=out_rel,
                detail=f"the output is {detail} ({size:,} bytes, {record.parquet_bytes:,} recorded); converting again",
            )
        return None

    def owner_elsewhere(self, item: InputFile, out: Path) -> str | None:
        """For an undated input: why another input that still exists owns its output (else None)."""
        if item.dated or not out.exists():
            return None
        owner = read_metadata(out).get("source")
        if owner and owner != self.settings.relative(item.path) and (self.settings.root / owner).exists():
            return f"superseded by {Path(owner).name} (same output)"
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
        with contextlib.suppress(KeyError, ValueError, OSError):
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

    # recording an outcome ---------------------------------------------------------------------
    def skipped(self, item: InputFile, src: Source, out: Path, reason: str, *, record: bool) -> Outcome:
        """Log a skip; with `record`, remember the source's stat so the next sweep is a `stat`."""
        source, out_rel = self.settings.relative(item.path), self.settings.relative(out)
        if record:
            self._record_source(source, src, out_rel, "skipped")
        log.info("export.skipped", dataset=item.spec.name, source=source, output=out_rel, reason=reason)
        return Outcome("skipped", item.spec.name, source, out_rel, reason=reason, source_bytes=src.size)

    def write_rejects(self, spec: DatasetSpec, key: Key, source: str, sha256: str, bad: pl.DataFrame) -> str | None:
        """Write (or remove, when none) the rejects file of one output; returns its path under the root."""
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
            rejects=self.settings.relative(dest),
            first_reason=bad.item(0, REASON),
        )
        return self.settings.relative(dest)

    def written(self, outcome: Outcome, src: Source, spec: DatasetSpec) -> None:
        """Log a written output (and its quality) and record it: the output, the source, the run."""
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
        # queued for publishing beside its own record (nothing when output_url is empty)
        enqueue(self.settings, self.state, [self.settings.root / p for p in (outcome.output, outcome.rejects) if p])
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

    def failed(self, item: InputFile, exc: ExporterError, *, record: bool) -> Outcome:
        """Log a failure; with `record`, add it to the run history and mark the source failed."""
        source = self.settings.relative(item.path)
        message = str(exc) or type(exc).__name__
        log.error("export.failed", dataset=item.spec.name, source=source, error=message, error_type=type(exc).__name__)
        status = ABANDONED if isinstance(exc, Abandoned) else "failed"
        if record and self.writable:
            assert self.state is not None
            self.state.add_run(dataset=item.spec.name, source=source, output=None, outcome=status, error=message)
            try:
                st = item.path.stat()
                size, mtime_ns = st.st_size, st.st_mtime_ns
            except OSError:
                size, mtime_ns = -1, -1
            self.state.put_source(SourceRecord(source, size, mtime_ns, "", None, status, message, now_utc()))
        return Outcome(
            "failed", item.spec.name, source, None, error=message, transient=isinstance(exc, TransientIOError)
        )

    def failed_before(self, item: InputFile) -> bool:
        """Whether the state's last word on this input was a failure (a success now is a recovery)."""
        if self.state is None:
            return False
        record = self.state.source(self.settings.relative(item.path))
        return record is not None and record.status == "failed"

    def _record_source(self, source: str, src: Source, output: str, status: str) -> None:
        if not self.writable:
            return
        assert self.state is not None
        self.state.put_source(SourceRecord(source, src.size, src.mtime_ns, src.sha256, output, status, None, now_utc()))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
