"""The line-length limit (`max_line_bytes`): find a source's first line longer than it, in bounded memory.

A line with no end is where readers lose their bounds: polars and the csv module hold a whole line (and
several copies of it), so a 1 GB file of zeros, or a 200 MB line, costs gigabytes. `long_line` reads
fixed chunks and stops at the first line over the limit, so such a file fails after reading little more
than the limit. Per chunk it only asks C for the first and last line end and the count of line ends:
a line inside a chunk no larger than the limit cannot be over it, so only the line crossing chunk
boundaries needs measuring.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from daemon.errors import LineTooLong

TRUNCATED_BYTES = 1024  # what a rejected over-long line keeps of its text


@dataclass(frozen=True)
class LongLine:
    """A line longer than the limit: its 1-based number, and whether its first chunk held NUL bytes."""

    number: int
    nul: bool

    def error(self, limit: int) -> LineTooLong:
        hint = " (it holds NUL bytes: not a text file?)" if self.nul else ""
        return LineTooLong(f"line {self.number} is longer than max_line_bytes ({limit:,} bytes){hint}")


LF, CR = (b"\n",), (b"\n", b"\r")  # the line ends looked for: LF first, CR too when LF alone finds a long line


def long_line(source: Path | bytes, limit: int) -> LongLine | None:
    """The first line of `source` longer than `limit` bytes (its line end not counted), or None.

    Lines end at LF; a file that seems to have a longer line is scanned again with CR as a line end too
    (a CR-only file is a CSV the readers take), which costs a second pass only to such files.
    """
    found = _long_line(source, limit, LF)
    return None if found is None else _long_line(source, limit, CR)


def _long_line(source: Path | bytes, limit: int, ends: tuple[bytes, ...]) -> LongLine | None:
    chunk_bytes = max(1, min(limit, 4 * 1024 * 1024))
    if isinstance(source, bytes):
        found = _scan(source, len(source), limit, chunk_bytes, ends)
        return None if found is None else LongLine(_count(source[: found[0]], ends, 0) + 1, found[1])
    with source.open("rb", buffering=0) as fh:
        buffer = bytearray(chunk_bytes)
        offset, line_start = 0, 0
        while n := fh.readinto(buffer):
            found = _scan(buffer, n, limit - (offset - line_start), chunk_bytes, ends)
            if found is not None:
                start = offset + found[0] if found[0] else line_start  # 0: the line carried over, if any
                return LongLine(_count_ends(source, start, ends) + 1, found[1])
            last = max(buffer.rfind(end, 0, n) for end in ends)
            line_start = offset + last + 1 if last >= 0 else line_start
            offset += n
    return None


def _scan(
    data: bytes | bytearray, size: int, limit: int, chunk_bytes: int, ends: tuple[bytes, ...]
) -> tuple[int, bool] | None:
    """The first line of `data[:size]` over its allowance: (where it starts, whether its chunk holds NUL), or
    None. The first line may have only `limit` bytes left (it began in an earlier buffer); the others have
    `limit`. Only the first and last line ends of each chunk are looked up (memchr): a line that is within a
    chunk no larger than the limit cannot be over it."""
    line_start, allowance = 0, limit
    for offset in range(0, size, chunk_bytes):
        end = min(offset + chunk_bytes, size)
        firsts = [at for at in (data.find(e, offset, end) for e in ends) if at >= 0]
        stop = min(firsts) if firsts else end
        if stop - line_start > allowance:
            return line_start, data.find(b"\x00", offset, end) >= 0
        if firsts:
            line_start, allowance = max(data.rfind(e, offset, end) for e in ends) + 1, limit
    return None


def _count(chunk: bytes, ends: tuple[bytes, ...], before: int) -> int:
    """Line ends in `chunk` (CR LF is one; `before` is the byte before it, or 0)."""
    count = chunk.count(b"\n")
    if len(ends) > 1:
        count += chunk.count(b"\r") - chunk.count(b"\r\n") - (before == 13 and chunk[:1] == b"\n")
    return count


def _count_ends(path: Path, before: int, ends: tuple[bytes, ...]) -> int:
    """The line ends in the first `before` bytes of `path` (read again, only once a long line was found)."""
    count, last = 0, 0
    with path.open("rb") as fh:
        while before > 0 and (chunk := fh.read(min(before, 4 * 1024 * 1024))):
            count += _count(chunk, ends, last)
            before -= len(chunk)
            last = chunk[-1]
    return count


def check_lines(source: Path | bytes, limit: int) -> None:
    """Raise LineTooLong naming the first line longer than `limit` bytes, if there is one."""
    found = long_line(source, limit)
    if found is not None:
        raise found.error(limit)


def truncated(text: str, size: int) -> str:
    """A rejected over-long line's raw value: its first KiB, and what was left out."""
    return f"{text[:TRUNCATED_BYTES]}… (cut: the line has {size:,} bytes)"
