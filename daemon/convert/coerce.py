"""From raw text to typed columns: polars expressions that type a table of strings and say why a row fails.

Readers hand over a `RawTable`: one String column per input column plus the bookkeeping columns
below. `coerce()` types it lazily and splits it into the rows to write and the rows to reject, so a
row is never dropped: it is either in `good` or in `bad` with a reason.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from daemon.specs import Column, DatasetSpec

LINE = "__line"  # 1-based line where the record starts (NULL when unknown)
RECORD = "__record"  # 1-based record number
RAW = "__raw"  # the record's raw text
ERROR = "__error"  # a structural error found by the reader (NULL when none)
REASON = "__reason"
BOOKKEEPING = (LINE, RECORD, RAW, ERROR)

_TIME = r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
_OFFSET = r"([Zz]|[+-]\d{2}(?::?\d{2})?)$"
_TRUE = ("true", "t", "1", "yes")
_FALSE = ("false", "f", "0", "no")

POLARS_TYPES: dict[str, pl.DataType] = {
    "TIMESTAMP": pl.Datetime("us"),
    "VARCHAR": pl.String(),
    "DOUBLE": pl.Float64(),
    "BIGINT": pl.Int64(),
    "BOOLEAN": pl.Boolean(),
    "DATE": pl.Date(),
    "JSON": pl.String(),
}


@dataclass
class RawTable:
    """A reader's result: string columns named after the spec, plus the bookkeeping columns."""

    frame: pl.DataFrame | pl.LazyFrame
    extra_columns: list[str] = field(default_factory=list)
    decimal_comma: bool = False  # a `;` or tab separated CSV may write 1,5 for 1.5


def timestamp_expr(raw: pl.Expr, source_timezone: str) -> pl.Expr:
    """Parse ISO 8601 text (`Z`, `+HH:MM`, fractions, or naive in `source_timezone`) to naive UTC micros."""
    text = raw.str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2})[ Tt]", "${1}T")
    offset = text.str.extract(_TIME + _OFFSET, 2)
    base = text.str.replace(_TIME + _OFFSET, "${1}")
    local = pl.coalesce(
        base.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        base.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
        base.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
    )
    digits = offset.str.replace_all(":", "")
    hours = digits.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = (
        pl.when(digits.str.len_chars() >= 5).then(digits.str.slice(3, 2).cast(pl.Int64, strict=False)).otherwise(0)
    )
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    offset_seconds = pl.when(offset.is_in(["Z", "z"])).then(0).otherwise(sign * (hours * 3600 + minutes * 60))
    valid_offset = offset.is_in(["Z", "z"]) | ((hours <= 23) & (minutes <= 59))
    if source_timezone in ("UTC", "Etc/UTC"):
        naive_utc = local
    else:
        naive_utc = (
            local.dt.replace_time_zone(source_timezone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
    return (
        pl.when(offset.is_null())
        .then(naive_utc)
        .when(valid_offset)
        .then(local - pl.duration(seconds=offset_seconds))
        .otherwise(None)
    )


_NAMED_DOUBLE = r"(?i)^[+-]?(?:nan|inf|infinity)$"  # what a producer writes for a DOUBLE that is not a number


def finite_double(text: pl.Expr) -> pl.Expr:
    """Text as the nearest DOUBLE; NULL when it overflows (`1e400` is not infinity), but `nan`, `inf` and
    `infinity` (any case, signed) are the values they name."""
    value = text.cast(pl.Float64, strict=False)
    return pl.when(value.is_infinite() & ~text.str.contains(_NAMED_DOUBLE)).then(None).otherwise(value)


_DECIMAL = r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$"
_ZEROS = "0" * 19  # a BIGINT has at most 19 digits


def exact_integer(text: pl.Expr) -> pl.Expr:
    """The BIGINT a decimal text denotes exactly (`12`, `12.0`, `1.5e3`), NULL when it has a fraction or does
    not fit: in digits, never through a float (which turns 9007199254740993.0 into ...992)."""
    parts = text.str.extract_groups(_DECIMAL)
    sign, whole, fraction = parts.struct[0], parts.struct[1], parts.struct[2].fill_null("")
    exponent = parts.struct[3].fill_null("0").cast(pl.Int64, strict=False)
    digits = pl.concat_str([whole, fraction]).str.strip_chars_start("0")
    shift = exponent - fraction.str.len_chars().cast(pl.Int64)  # value = digits * 10**shift
    length = digits.str.len_chars().cast(pl.Int64)
    kept = length + shift.clip(upper_bound=0)  # digits left of the point when shift < 0
    widened = pl.concat_str([digits, pl.lit(_ZEROS).str.slice(0, shift.clip(0, 19))])
    integral = pl.when(shift >= 0).then(widened).otherwise(digits.str.slice(0, kept.clip(lower_bound=0)))
    has_fraction = (shift < 0) & ((kept < 0) | ~digits.str.slice(kept.clip(lower_bound=0)).str.contains("^0*$"))
    text_ok = (pl.concat_str([whole, fraction]).str.len_chars() > 0) & exponent.is_not_null()
    as_int = pl.concat_str([sign, integral]).cast(pl.Int64, strict=False)
    return (
        pl.when(~text_ok)
        .then(None)
        .when(digits == "")
        .then(pl.lit(0, dtype=pl.Int64))
        .when(has_fraction)
        .then(None)
        .when((shift >= 0) & (length + shift > 19))
        .then(None)
        .otherwise(as_int)
    )


def typed_expr(column: Column, source_timezone: str, *, decimal_comma: bool = False) -> pl.Expr:
    """The expression that types one raw String column to its schema type (NULL when it cannot)."""
    raw = pl.col(column.name)
    stripped = raw.str.strip_chars()
    match column.type:
        case "TIMESTAMP":
            expr = timestamp_expr(raw, source_timezone)
        case "DOUBLE":
            if decimal_comma:
                stripped = stripped.str.replace(r"^([+-]?[0-9]*),([0-9]+)$", "${1}.${2}")
            expr = finite_double(stripped)
        case "BIGINT":
            expr = exact_integer(stripped)
        case "BOOLEAN":
            lower = stripped.str.to_lowercase()
            expr = pl.when(lower.is_in(_TRUE)).then(True).when(lower.is_in(_FALSE)).then(False).otherwise(None)
        case "VARCHAR" | "JSON":
            expr = pl.when(raw == "").then(None).otherwise(raw)
        case _:  # pragma: no cover - specs only use the types above
            raise ValueError(column.type)
    return expr.cast(POLARS_TYPES[column.type]).alias(column.name)


def _reason_expr(spec: DatasetSpec) -> pl.Expr:
    """Why a row is rejected (NULL when it is not): the reader's error, else the first column that failed."""
    chain: Any = pl.when(pl.col(ERROR).is_not_null()).then(pl.col(ERROR))
    ts_raw = pl.col("timestamp").str.strip_chars()
    chain = chain.when(ts_raw.is_null() | (ts_raw == "")).then(pl.lit("timestamp is empty"))
    for column in spec.input_columns:
        if column.type in ("VARCHAR", "JSON"):
            continue
        raw = pl.col(column.name)
        failed = raw.is_not_null() & (raw.str.strip_chars() != "") & pl.col(_typed(column.name)).is_null()
        message = pl.concat_str(
            [pl.lit(f"{column.name}: cannot read '"), raw.str.slice(0, 80), pl.lit(f"' as {column.type}")]
        )
        chain = chain.when(failed).then(message)
    result: pl.Expr = chain.otherwise(None).alias(REASON)
    return result


def _typed(name: str) -> str:
    return f"__typed_{name}"


# The form nearly every producer writes; parsed in one pass before the general expression runs on the rest.
COMMON_TIMESTAMP = "%Y-%m-%dT%H:%M:%S%.fZ"


def common_timestamps(text: pl.Expr) -> pl.Expr:
    """Text in the common form typed in one native pass (NULL for anything else); `timestamp_expr` agrees."""
    return text.str.to_datetime(COMMON_TIMESTAMP, strict=False, time_unit="us")


def _fast_then_general(
    raw: pl.Series, fast: Callable[[pl.Series], pl.Series], general: pl.Expr, dtype: pl.DataType
) -> pl.Series:
    """Type `raw` with a cheap `fast` pass, then run the `general` expression (over column "v") only on
    the values the fast pass left NULL. `fast` must accept a subset of what `general` accepts, with the
    same result, so the outcome is exactly `general`'s, at the fast pass's cost for ordinary data."""
    out = fast(raw).cast(dtype)
    todo = out.is_null() & raw.is_not_null()
    if todo.any():
        index = todo.arg_true()
        rest = pl.DataFrame({"v": raw.gather(index)}).select(general.cast(dtype)).to_series()
        out = out.scatter(index, rest)
    return out


def parse_timestamps(raw: pl.Series, source_timezone: str) -> pl.Series:
    """`timestamp_expr` over a Series, with a fast first pass for `YYYY-MM-DDTHH:MM:SS[.f]Z`."""
    return _fast_then_general(
        raw,
        lambda s: s.str.to_datetime(COMMON_TIMESTAMP, strict=False, time_unit="us"),  # `common_timestamps`
        timestamp_expr(pl.col("v"), source_timezone),
        pl.Datetime("us"),
    )


STEADY_SPAN_LIMIT = dt.timedelta(days=3660)  # a longer span is checked by the careful path instead
SHORT_SPAN = dt.timedelta(days=14)  # up to this, hours are asked one by one in Python


def steady_offset(timezone: str, start: dt.datetime, end: dt.datetime) -> dt.timedelta | None:
    """The zone's UTC offset when it is the same at every hour from `start` to `end` and at `end`, else None.

    Over such a span (all of it for Asia/Bangkok, Asia/Tokyo or UTC; a day away from a DST change
    elsewhere) an instant's local date is the date of the instant plus the offset: a native expression,
    no zone conversion per row. Naive datetimes are UTC; a span over ~10 years gives None. A file's
    day or week is asked in Python (microseconds), longer spans with polars.
    """
    if timezone in ("UTC", "Etc/UTC"):
        return dt.timedelta(0)
    if end < start or end - start > STEADY_SPAN_LIMIT:
        return None
    if end - start <= SHORT_SPAN:
        tz = ZoneInfo(timezone)
        hours = int((end - start) / dt.timedelta(hours=1))
        instants = [start + dt.timedelta(hours=h) for h in range(hours + 1)] + [end]
        found = {i.replace(tzinfo=dt.UTC).astimezone(tz).utcoffset() for i in instants}
    else:
        utc = pl.datetime_range(start, end, "1h", time_unit="us", eager=True)
        found = set(_zone_offsets(utc.append(pl.Series([end], dtype=pl.Datetime("us"))), timezone).unique())
    offset = found.pop() if len(found) == 1 else None
    return offset if isinstance(offset, dt.timedelta) else None


@functools.lru_cache(maxsize=256)
def steady_around(timezone: str, year: int, month: int) -> dt.timedelta | None:
    """The zone's offset when it is steady from six months before the month to six months after it (asked
    once per month: a historical export of a year of daily files asks twelve times, not 365)."""
    first = dt.datetime(year, month, 1)
    return steady_offset(timezone, first - dt.timedelta(days=183), first + dt.timedelta(days=214))


def _zone_offsets(utc: pl.Series, timezone: str) -> pl.Series:
    local = utc.dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    return local.dt.replace_time_zone(None) - utc


def zone_dates(utc: pl.Expr, timezone: str) -> pl.Expr:
    """The calendar date in `timezone` of naive-UTC instants (a zone conversion per row)."""
    return utc.dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date()


def _finite_doubles(raw: pl.Series) -> pl.Series:
    out = raw.cast(pl.Float64, strict=False)
    infinite = out.is_infinite()
    return out.scatter(infinite.arg_true(), None) if infinite.any() else out


def _fast_pass(column: Column) -> Callable[[pl.Series], pl.Series]:
    """The cheap first pass for a column type: exact spellings only, no stripping, no alternatives."""
    match column.type:
        case "DOUBLE":  # an infinity is left to the general pass: an overflow or a named one
            return _finite_doubles
        case "BIGINT":
            return lambda s: s.cast(pl.Int64, strict=False)
        case "BOOLEAN":
            return lambda s: s.replace_strict(["true", "false"], [True, False], default=None, return_dtype=pl.Boolean)
        case _:  # VARCHAR and JSON: the text itself, but "" is NULL
            return lambda s: s.replace_strict([""], [None], default=s, return_dtype=pl.String) if (s == "").any() else s


def typed_column(column: Column, source_timezone: str, *, decimal_comma: bool = False) -> pl.Expr:
    """`typed_expr`'s result, computed batch by batch with a fast first pass (see `_fast_then_general`)."""
    if column.type == "TIMESTAMP":
        return pl.col(column.name).map_batches(
            lambda s: parse_timestamps(s, source_timezone), return_dtype=pl.Datetime("us"), is_elementwise=True
        )
    dtype = POLARS_TYPES[column.type]
    fast = _fast_pass(column)
    general = typed_expr(Column("v", column.type), source_timezone, decimal_comma=decimal_comma)
    return pl.col(column.name).map_batches(
        lambda s: _fast_then_general(s, fast, general, dtype), return_dtype=dtype, is_elementwise=True
    )


@dataclass
class Coerced:
    """Typed rows ready to write (sorted by timestamp) and rejected rows with their reasons."""

    good: pl.DataFrame
    bad: pl.DataFrame

    @property
    def rows_in(self) -> int:
        return self.good.height + self.bad.height


def staged(frame: pl.LazyFrame, spec: DatasetSpec, source_timezone: str, *, decimal_comma: bool) -> pl.LazyFrame:
    """The raw frame plus a typed copy of every column (`__typed_<name>`) and the reject reason.

    Lazy and row-local, so the streaming engine can run it over a file of any size.
    """
    typed = [
        typed_column(column, source_timezone, decimal_comma=decimal_comma).alias(_typed(column.name))
        for column in spec.input_columns
    ]
    return frame.with_columns(typed).with_columns(_reason_expr(spec))


def good_rows(frame: pl.LazyFrame, spec: DatasetSpec, timezone: str) -> pl.LazyFrame:
    """The rows of a staged frame that are written, in the schema's columns and order (not sorted)."""
    ts = pl.col(_typed("timestamp"))
    date_partition = zone_dates(ts, timezone).alias("date_partition")
    return frame.filter(pl.col(REASON).is_null()).select(
        [pl.col(_typed(c.name)).alias(c.name) for c in spec.input_columns] + [date_partition]
    )


def bad_rows(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of a staged frame that are rejected, with whatever bookkeeping the reader provided."""
    names = frame.collect_schema().names()
    return frame.filter(pl.col(REASON).is_not_null()).select([c for c in (LINE, RECORD, RAW) if c in names] + [REASON])


def coerce(table: RawTable, spec: DatasetSpec, timezone: str, source_timezone: str) -> Coerced:
    """Type a RawTable in memory; every row lands in `good` or in `bad` (never both, never neither)."""
    frame = staged(table.frame.lazy(), spec, source_timezone, decimal_comma=table.decimal_comma).collect().lazy()
    good = good_rows(frame, spec, timezone).sort("timestamp", maintain_order=True)
    good_df, bad_df = pl.collect_all([good, bad_rows(frame)])
    return Coerced(good=good_df, bad=bad_df)
