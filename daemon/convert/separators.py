"""Counting a CSV's field separators (the commas outside quoted fields) at memory speed with NumPy.

The CSV fast path (see `daemon.convert.csv.fast.stream_fast`) may only take a file whose every record has the
header's number of fields. polars refuses a record with too many (when it parses the last column), but
fills one with too few with NULLs without a word; so no record may have fewer separators than the
header, and with none having more, that holds exactly when the file's separators are the header's
times the number of records.

Quoting is followed as RFC 4180 writes it: a quoted field opens with `"` at the start of a line or
after a comma, holds `""` for a quote, and closes with `"` before a comma, a line end or the end of the
file. A file that quotes any other way (a quote inside an unquoted field, one that never closes) gets
no count. Only a few numbers are carried from one chunk to the next, so memory stays flat.
"""

from __future__ import annotations

import numpy as np

_COMMA, _QUOTE, _CR, _LF = (ord(c) for c in ',"\r\n')
_AT_CHUNK_END = -2  # the byte after a quote that ended a chunk: the next chunk's first byte, or the end of the file


class Separators:
    """Counts the separators of chunks read into `buffer`; `count()` gives the total.

    Quotes alternate open, close, open, ...; a close at byte p and an open at p + 1 are one `""`.
    """

    def __init__(self, chunk_bytes: int) -> None:
        self._array = np.empty(chunk_bytes, dtype=np.uint8)
        self._scratch = np.empty(chunk_bytes, dtype=bool)
        self.buffer = memoryview(self._array.data)  # read the next chunk into this, then call feed(n)
        self.offset = 0  # bytes fed so far
        self.last_byte = -1  # the byte before the current chunk (-1: the start of the file)
        self.quotes = 0
        self.commas = 0
        self.inside = 0  # commas inside quoted fields
        self.rfc = True
        # The last quote seen: where, whether it opens, and the bytes before and after it.
        self.carry: tuple[int, bool, int, int] | None = None

    def feed(self, n: int) -> None:
        """Account for the first `n` bytes of `buffer`."""
        self.take(self._array[:n], self._scratch[:n])

    def take(self, chunk: np.ndarray, scratch: np.ndarray) -> None:
        """Account for `chunk`; `scratch` is a bool array of the same length."""
        if not self.rfc:
            return
        if self.carry is not None and self.carry[3] == _AT_CHUNK_END:
            self.carry = (*self.carry[:3], int(chunk[0]))
        np.equal(chunk, _COMMA, out=scratch)
        self.commas += int(np.count_nonzero(scratch))
        open_at_start = self.quotes % 2 == 1
        np.equal(chunk, _QUOTE, out=scratch)
        quotes = np.flatnonzero(scratch) if np.count_nonzero(scratch) else None
        if quotes is not None:
            self._check_quotes(chunk, quotes)
            self.quotes += quotes.size
        # The quoted spans of this chunk, as [start, stop) of their contents.
        bounds = np.empty(0, dtype=np.int64) if quotes is None else quotes.astype(np.int64)
        if open_at_start:
            bounds = np.concatenate(([-1], bounds))
        if bounds.size % 2:
            bounds = np.concatenate((bounds, [chunk.size]))
        starts, stops = bounds[0::2] + 1, bounds[1::2]
        lengths = stops - starts
        total = int(lengths.sum())
        if total:
            # Every byte inside a quoted span, gathered at once: start of its span + its offset in the span.
            first = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            inside = chunk[first + np.arange(total)]
            self.inside += int(np.count_nonzero(inside == _COMMA))
        self.offset += chunk.size
        self.last_byte = int(chunk[-1])

    def _check_quotes(self, chunk: np.ndarray, at: np.ndarray) -> None:
        """Check that each quote opens or closes a field where RFC 4180 lets it (all but the last quote,
        whose next byte or next quote may be in the next chunk)."""
        position = at + self.offset
        prev = np.where(at > 0, chunk[np.maximum(at - 1, 0)].astype(np.int16), self.last_byte)
        nxt = np.where(at < chunk.size - 1, chunk[np.minimum(at + 1, chunk.size - 1)].astype(np.int16), _AT_CHUNK_END)
        is_open = (np.arange(at.size) + self.quotes) % 2 == 0
        checked_before = self.carry is not None
        if self.carry is not None:
            c_pos, c_open, c_prev, c_next = self.carry
            position = np.concatenate(([c_pos], position))
            is_open = np.concatenate(([c_open], is_open))
            prev = np.concatenate(([c_prev], prev)).astype(np.int16)
            nxt = np.concatenate(([c_next], nxt)).astype(np.int16)
        escaped = (position[1:] == position[:-1] + 1) & ~is_open[:-1]  # close at p, open at p + 1
        lead_ok = (prev[1:] == _COMMA) | (prev[1:] == _LF) | escaped
        first_ok = checked_before or not is_open[0] or prev[0] in (_COMMA, _LF) or position[0] == 0
        trail_ok = (nxt[:-1] == _COMMA) | (nxt[:-1] == _CR) | (nxt[:-1] == _LF) | escaped
        opens_ok = bool(np.where(is_open[1:], lead_ok, True).all()) and first_ok
        closes_ok = bool(np.where(~is_open[:-1], trail_ok, True).all())
        self.rfc = self.rfc and opens_ok and closes_ok
        self.carry = (int(position[-1]), bool(is_open[-1]), int(prev[-1]), int(nxt[-1]))

    def count(self) -> int | None:
        """The commas outside quoted fields, or None when the quoting is not RFC 4180's."""
        if self.carry is not None:
            _, is_open, _, nxt = self.carry
            if is_open or nxt not in (_COMMA, _CR, _LF, _AT_CHUNK_END):
                return None
        return self.commas - self.inside if self.rfc else None
