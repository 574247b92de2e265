"""What happened to one input (`Outcome`) and to one export run (`ExportReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from daemon.convert.quality import Quality

Status = Literal["written", "skipped", "failed"]


@dataclass
class Outcome:
    """What happened to one input: written, skipped (with a reason) or failed (with an error)."""

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
    replaced: bool = False  # written over an output that was there (a rewrite, not a new file)
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
        """Percent smaller than the source (negative when the output is larger)."""
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


@dataclass
class Converted:
    """An input's rows, converted but not yet published: either a temporary Parquet file (`tmp`, the
    streamed CSV paths) or the good rows in memory (`good`, every other reader); `rejected` holds the
    rows set aside (LINE, RECORD, RAW, REASON); `route` names the reader that decided."""

    route: str
    rows_in: int
    rows_written: int
    rejected: pl.DataFrame
    extra_columns: list[str] = field(default_factory=list)
    tmp: Path | None = None
    good: pl.DataFrame | None = None

    def discard(self) -> None:
        """Remove the temporary file when it was not published."""
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
