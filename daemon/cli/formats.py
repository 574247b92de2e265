"""`query` output: a table for people on a terminal; CSV, JSON or Markdown for scripts and documents.

table     rich box table (the default on a terminal), numbers right-aligned, the row count below
csv       RFC 4180 with a header row, NULL as an empty field (the default when stdout is not a terminal)
json      one array of objects; timestamps and dates as text, NaN and infinities as null
markdown  a GitHub table; `|` escaped, line breaks in a value as <br>
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
from collections.abc import Sequence
from typing import Any, Literal

Format = Literal["table", "csv", "json", "markdown"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json", "markdown")


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


def render(columns: Sequence[str], rows: Sequence[tuple[Any, ...]], fmt: Format, *, terminal: bool = False) -> str:
    """The result in `fmt`; `terminal` colours the table and fits it to the terminal's width."""
    if fmt == "json":
        objects = [{c: _json_value(v) for c, v in zip(columns, r, strict=True)} for r in rows]
        return json.dumps(objects, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[cell(v) for v in r] for r in rows])
        return buf.getvalue()
    right = [bool(rows) and all(_numeric(r[i]) or r[i] is None for r in rows) for i in range(len(columns))]
    if fmt == "markdown":

        def md(v: Any) -> str:
            return cell(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")

        lines = ["| " + " | ".join(md(c) for c in columns) + " |"]
        lines.append("|" + "".join("---:|" if r else "---|" for r in right))
        lines += ["| " + " | ".join(md(v) for v in r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    from rich.console import Console
    from rich.table import Table

    table = Table(caption=f"{len(rows):,} row{'s' if len(rows) != 1 else ''}", caption_justify="left")
    for name, is_right in zip(columns, right, strict=True):
        table.add_column(name, justify="right" if is_right else "left", overflow="fold")
    for r in rows:
        table.add_row(*[cell(v) for v in r])
    buf = io.StringIO()
    Console(file=buf, force_terminal=terminal, width=None if terminal else 200, highlight=False).print(table)
    return buf.getvalue()
