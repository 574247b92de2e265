"""`query` output: a table for people on a terminal; CSV, JSON or Markdown for scripts and documents.

table     rich box table (the default on a terminal), numbers right-aligned, the row count below
csv       RFC 4180 with a header row, NULL as an empty field (the default when stdout is not a terminal)
json      one array of objects; timestamps and dates as text, NaN and infinities as null
nl        newline-delimited JSON: one object a line, the same values as json (for jq and log pipelines)
markdown  a GitHub table; `|` escaped, line breaks in a value as <br>

Data never reaches a terminal raw: `printable` shows every control character (C0, DEL, C1) as a visible
escape, so an ESC or BEL in a CSV field cannot retitle, clear or recolour the terminal. The table is for
people and always escaped; CSV and Markdown are escaped only when they go to a terminal (piped, they carry
the data exactly); JSON writes control characters as `\\u` escapes, which are the same JSON string.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any, Literal

Format = Literal["table", "csv", "json", "nl", "markdown"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json", "nl", "markdown")

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_JSON_RAW = re.compile("[\x7f-\x9f]")  # json.dumps escapes C0 itself, never DEL or C1


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def printable(text: str, *, keep: str = "") -> str:
    """`text` with every control character (C0, DEL, C1) shown as an escape (`\\x1b`, `\\x07`, `\\n`), except
    the characters in `keep` (a table keeps its cells' line breaks): the one function between data and a
    terminal. Backslashes are left as they are, so a path or a pattern stays readable."""
    if not _CONTROL.search(text):
        return text
    if keep:
        return _CONTROL.sub(lambda m: m[0] if m[0] in keep else _escape(m), text)
    return _CONTROL.sub(_escape, text)


def escape_json_controls(text: str) -> str:
    """JSON text with DEL and C1 characters written as `\\u` escapes: the same JSON value, no raw control byte
    (json.dumps already escapes C0; these can only occur inside strings, so the document stays valid)."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def cell(v: Any) -> str:
    """A value as text: NULL empty, booleans lower-case, timestamps with a space between date and time."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else str(v)


def _numeric(v: Any) -> bool:
    return isinstance(v, int | float | decimal.Decimal) and not isinstance(v, bool)


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    return cell(v)


def format_rows(
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    fmt: Format,
    *,
    terminal: bool = False,
    total: int | None = None,
) -> str:
    """The result in `fmt`; `terminal` colours the table, fits it to the terminal's width, and escapes the
    control characters of CSV and Markdown (see `printable`); the line below the table counts the rows, and
    with `total` (more than the rows given) says how many were left out."""
    if fmt in ("json", "nl"):
        objects = [{c: _json_value(v) for c, v in zip(columns, r, strict=True)} for r in rows]
        if fmt == "nl":
            return "".join(escape_json_controls(json.dumps(o, ensure_ascii=False)) + "\n" for o in objects)
        return escape_json_controls(json.dumps(objects, indent=2, ensure_ascii=False)) + "\n"
    if fmt == "csv":

        def text(v: Any) -> str:
            return printable(cell(v), keep="\n\t") if terminal else cell(v)

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([text(c) for c in columns])
        writer.writerows([[text(v) for v in r] for r in rows])
        return buf.getvalue()
    right = [bool(rows) and all(_numeric(r[i]) or r[i] is None for r in rows) for i in range(len(columns))]
    if fmt == "markdown":

        def md(v: Any) -> str:
            text = cell(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")
            return printable(text, keep="\t") if terminal else text

        lines = ["| " + " | ".join(md(c) for c in columns) + " |"]
        lines.append("|" + "".join("---:|" if r else "---|" for r in right))
        lines += ["| " + " | ".join(md(v) for v in r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def plain(v: Any) -> Text:  # a Text is never read as markup ("[bold]") or emoji codes (":x:")
        return Text(printable(cell(v), keep="\n\t"))

    count = total if total is not None and total > len(rows) else len(rows)
    footer = f"{count:,} row{'s' if count != 1 else ''}"
    if count > len(rows):
        footer += f" ({len(rows):,} shown, {count - len(rows):,} left out: --max-rows 0 shows all)"
    table = Table()
    for name, is_right in zip(columns, right, strict=True):
        table.add_column(plain(name), justify="right" if is_right else "left", overflow="fold")
    for r in rows:
        table.add_row(*[plain(v) for v in r])
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=terminal, width=None if terminal else 200, highlight=False)
    console.print(table)
    console.print(footer, style="dim", markup=False, soft_wrap=True)  # below the table, not wrapped to its width
    return buf.getvalue()
