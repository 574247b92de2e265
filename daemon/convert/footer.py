"""Column statistics from a Parquet file's footer, read without DuckDB or pyarrow.

The footer is a Thrift compact-protocol `FileMetaData` (parquet-format's parquet.thrift) followed by
its 4-byte length and `PAR1`. This decodes it generically into {field id: value} and picks out what
the quality checks need: per row group and column the row count, null count and min/max, decoded for
the physical types the datasets use. Reading it is cheap; importing DuckDB, whose `parquet_metadata()`
gives the same, would be a large cost on a CSV export's path that otherwise avoids it (BENCHMARKS.md).
"""

from __future__ import annotations

import datetime as dt
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"PAR1"
EPOCH = dt.datetime(1970, 1, 1)
EPOCH_DAY = dt.date(1970, 1, 1)
# physical types (parquet.thrift Type)
BOOLEAN, INT32, INT64, INT96, FLOAT, DOUBLE, BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY = range(8)


class FooterError(ValueError):
    """The bytes are not a Parquet footer this reader understands."""


@dataclass(frozen=True)
class ColumnStats:
    """One column chunk's statistics; a field is None when the writer did not record it."""

    rows: int
    null_count: int | None
    min: Any
    max: Any


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise FooterError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _value(buf: bytes, pos: int, kind: int) -> tuple[Any, int]:
    """One compact-protocol value of type `kind` at `pos`."""
    if kind in (1, 2):  # booleans inside a struct carry their value in the type; in a list, a byte
        return kind == 1, pos
    if kind == 3:
        return struct.unpack_from("b", buf, pos)[0], pos + 1
    if kind in (4, 5, 6):
        n, pos = _varint(buf, pos)
        return _zigzag(n), pos
    if kind == 7:
        return struct.unpack_from("<d", buf, pos)[0], pos + 8
    if kind == 8:
        size, pos = _varint(buf, pos)
        return bytes(buf[pos : pos + size]), pos + size
    if kind in (9, 10):
        header = buf[pos]
        pos += 1
        size, item = header >> 4, header & 0x0F
        if size == 15:
            size, pos = _varint(buf, pos)
        items = []
        for _ in range(size):
            if item in (1, 2):
                items.append(buf[pos] == 1)
                pos += 1
            else:
                value, pos = _value(buf, pos, item)
                items.append(value)
        return items, pos
    if kind == 11:
        size, pos = _varint(buf, pos)
        if size == 0:
            return {}, pos
        types = buf[pos]
        pos += 1
        out = {}
        for _ in range(size):
            key, pos = _value(buf, pos, types >> 4)
            value, pos = _value(buf, pos, types & 0x0F)
            out[key] = value
        return out, pos
    if kind == 12:
        return _struct(buf, pos)
    raise FooterError(f"unknown compact type {kind}")


def _struct(buf: bytes, pos: int) -> tuple[dict[int, Any], int]:
    fields: dict[int, Any] = {}
    last = 0
    while True:
        if pos >= len(buf):
            raise FooterError("truncated struct")
        header = buf[pos]
        pos += 1
        if header == 0:
            return fields, pos
        delta, kind = header >> 4, header & 0x0F
        if delta:
            field_id = last + delta
        else:
            raw, pos = _varint(buf, pos)
            field_id = _zigzag(raw)
        fields[field_id], pos = _value(buf, pos, kind)
        last = field_id


def read_footer(path: Path) -> dict[int, Any]:
    """The file's FileMetaData as nested {field id: value} dicts."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size

        def last(n: int) -> bytes:
            fh.seek(max(size - n, 0))
            return fh.read(n)

        return parse_tail(last(8), size, last)


def parse_tail(tail: bytes, size: int, more: Callable[[int], bytes]) -> dict[int, Any]:
    """FileMetaData from the last bytes of a Parquet file of `size` bytes (a local file or a remote object);
    `more(n)` fetches the last `n` bytes when the footer is longer than `tail`."""
    if size < 12:
        raise FooterError("too small to be Parquet")
    if tail[-4:] != MAGIC:
        raise FooterError("no PAR1 magic at the end")
    length = struct.unpack("<I", tail[-8:-4])[0]
    if length > size - 12:
        raise FooterError("footer length out of range")
    if length + 8 > len(tail):
        tail = more(length + 8)
    meta, _ = _struct(tail[-8 - length : -8], 0)
    return meta


def _unit_divisor(element: dict[int, Any]) -> int | None:
    """Ticks per microsecond divisor for a timestamp column (None when it is not a timestamp)."""
    logical = element.get(10)
    if isinstance(logical, dict) and isinstance(logical.get(8), dict):
        unit = logical[8].get(2, {})
        if 1 in unit:
            return -1000  # millis: multiply
        if 3 in unit:
            return 1000  # nanos: divide
        return 1
    converted = element.get(6)
    if converted == 9:
        return -1000
    if converted == 10:
        return 1
    return None


def _decode(raw: bytes | None, physical: int, element: dict[int, Any]) -> Any:
    """A statistic's value; None when absent, or when it is an instant or a date Python cannot hold (after 9999)."""
    try:
        return _decode_value(raw, physical, element)
    except OverflowError:
        return None


def _decode_value(raw: bytes | None, physical: int, element: dict[int, Any]) -> Any:
    if raw is None:
        return None
    if physical == DOUBLE and len(raw) == 8:
        return struct.unpack("<d", raw)[0]
    if physical == FLOAT and len(raw) == 4:
        return struct.unpack("<f", raw)[0]
    if physical == INT64 and len(raw) == 8:
        n = struct.unpack("<q", raw)[0]
        divisor = _unit_divisor(element)
        if divisor is None:
            return n
        micros = n * -divisor if divisor < 0 else n // divisor
        return EPOCH + dt.timedelta(microseconds=micros)
    if physical == INT32 and len(raw) == 4:
        n = struct.unpack("<i", raw)[0]
        logical = element.get(10)
        is_date = (isinstance(logical, dict) and 6 in logical) or element.get(6) == 6
        return EPOCH_DAY + dt.timedelta(days=n) if is_date else n
    if physical == BOOLEAN and len(raw) == 1:
        return raw != b"\x00"
    return raw  # byte arrays: the quality checks use their null counts only


def column_stats(path: Path) -> tuple[int, dict[str, list[ColumnStats]]]:
    """Total rows, and per top-level column the statistics of each of its row-group chunks."""
    meta = read_footer(path)
    schema = meta.get(2, [])
    elements = {e.get(4, b"").decode("utf-8", "replace"): e for e in schema[1:] if isinstance(e, dict)}
    out: dict[str, list[ColumnStats]] = {}
    for group in meta.get(4, []):
        rows = int(group.get(3, 0))
        for chunk in group.get(1, []):
            cmd = chunk.get(3)
            if not isinstance(cmd, dict):
                continue
            name = ".".join(p.decode("utf-8", "replace") for p in cmd.get(3, []))
            element = elements.get(name, {})
            physical = int(cmd.get(1, -1))
            found = cmd.get(12)
            stats: dict[int, Any] = found if isinstance(found, dict) else {}
            low = stats.get(6, stats.get(2))
            high = stats.get(5, stats.get(1))
            out.setdefault(name.split(".", 1)[0], []).append(
                ColumnStats(
                    rows=rows,
                    null_count=stats.get(3),
                    min=_decode(low, physical, element),
                    max=_decode(high, physical, element),
                )
            )
    return int(meta.get(3, 0)), out
