"""Counting a CSV's field separators: the commas outside quoted fields, at memory speed with NumPy.

Quoting is followed as RFC 4180 writes it: a quoted field opens with `"` at the start of a line or
after a comma, holds `""` for a quote, and closes with `"` before a comma, a line end or the end of the
file. A file that quotes any other way (a stray quote inside a field, an unclosed quote) gets no count.
The CSV fast path compares the count with width - 1 per record to prove no record is short.
"""

from __future__ import annotations

import numpy as np

_COMMA, _QUOTE, _CR, _LF = (ord(c) for c in ',"\r\n')


class Separators:
    """Counts a file's separators from chunks read into `buffer` (see the module docstring).

    Quotes alternate open, close, open, ...; a close at byte p and an open at p + 1 are one `""`. Only the
    last quote seen is carried from one chunk to the next, so memory stays flat whatever the file holds.
    """

    def __init__(self, chunk_bytes: int) -> None:
        self._array = np.empty(chunk_bytes, dtype=np.uint8)
        self._scratch = np.empty(chunk_bytes, dtype=bool)
        self.buffer = memoryview(self._array.data)  # read the next chunk into this, then call feed(n)
        self.commas = 0
        self.inside = 0  # commas inside quoted fields, counted when a field closes
        self.offset = 0  # bytes fed so far
        self.last_byte = -1  # the byte before the current chunk (-1: the start of the file)
        self.quotes = 0
        self.bad = False
        # The last quote seen: where, how many commas came before it, its role, and its neighbours' bytes.
        self.carry: tuple[int, int, bool, int, int] | None = None  # (position, before, is_open, prev, next)

    def feed(self, n: int) -> None:
        """Account for the first `n` bytes of `buffer`."""
        self.take(self._array[:n], self._scratch[:n])

    def take(self, chunk: np.ndarray, is_comma: np.ndarray) -> None:
        """Account for `chunk`; `is_comma` is scratch space of the same length."""
        np.equal(chunk, _COMMA, out=is_comma)
        at = np.flatnonzero(chunk == _QUOTE)
        if self.carry is not None and self.carry[4] == -2:  # the carried quote ended the previous chunk
            self.carry = (*self.carry[:4], int(chunk[0]))
        if at.size and not self.bad:
            commas_at = np.flatnonzero(is_comma)
            position = at + self.offset
            before = np.searchsorted(commas_at, at) + self.commas
            prev = np.where(at > 0, chunk[np.maximum(at - 1, 0)].astype(np.int16), self.last_byte)
            nxt = np.where(at < chunk.size - 1, chunk[np.minimum(at + 1, chunk.size - 1)].astype(np.int16), -2)
            is_open = (np.arange(at.size) + self.quotes) % 2 == 0
            if self.carry is not None:
                c_pos, c_before, c_open, c_prev, c_next = self.carry
                position = np.concatenate(([c_pos], position))
                before = np.concatenate(([c_before], before))
                is_open = np.concatenate(([c_open], is_open))
                prev = np.concatenate(([c_prev], prev)).astype(np.int16)
                nxt = np.concatenate(([c_next], nxt)).astype(np.int16)
            self._check(position, before, is_open, prev, nxt)
            self.quotes += at.size
            self.carry = (int(position[-1]), int(before[-1]), bool(is_open[-1]), int(prev[-1]), int(nxt[-1]))
        self.commas += int(np.count_nonzero(is_comma))
        self.offset += chunk.size
        self.last_byte = int(chunk[-1])

    def _check(
        self, position: np.ndarray, before: np.ndarray, is_open: np.ndarray, prev: np.ndarray, nxt: np.ndarray
    ) -> None:
        """Check every quote but the last (whose next byte or next quote may be in the next chunk)."""
        escaped = (position[1:] == position[:-1] + 1) & ~is_open[:-1]  # close at p, open at p + 1
        lead_ok = (prev[1:] == _COMMA) | (prev[1:] == _LF) | escaped
        first_open_ok = bool(prev[0] in (_COMMA, _LF) or (prev[0] == -1 and position[0] == 0))
        trail_ok = (nxt[:-1] == _COMMA) | (nxt[:-1] == _CR) | (nxt[:-1] == _LF) | escaped
        opens_ok = np.where(is_open[1:], lead_ok, True).all() and (not is_open[0] or first_open_ok or self.quotes)
        closes_ok = np.where(~is_open[:-1], trail_ok, True).all()
        if not (opens_ok and closes_ok):
            self.bad = True
            return
        closes = ~is_open[1:]
        self.inside += int((before[1:][closes] - before[:-1][closes]).sum())

    def count(self) -> int | None:
        """Commas outside quoted fields, or None when the quoting is not RFC 4180's."""
        if self.carry is None:
            return self.commas
        _, _, is_open, _, nxt = self.carry
        if self.bad or is_open or nxt not in (_COMMA, _CR, _LF, -2):  # -2: the end of the file
            return None
        return self.commas - self.inside
