"""The JSON and text readers: the index-advisor report and the optimization summary, bytes to a RawTable.

CSV reports have their own folder (`daemon.convert.csv`); the text helpers here are shared with its
csv-module reader.

Readers never type values (that is `coerce`); they find records, match columns, and mark records
that are structurally broken (`__error`) so they are rejected with a reason instead of dropped.
A file that cannot be read at all raises an `InputError` subclass with a one-line reason.
"""

from __future__ import annotations

import codecs
import datetime as dt
import itertools
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import polars as pl

from daemon.convert.coerce import ERROR, LINE, RAW, RECORD, RawTable
from daemon.convert.lines import TRUNCATED_BYTES, check_lines, truncated
from daemon.errors import UnreadableInput
from daemon.specs import DatasetSpec


def decode(data: bytes, *, lenient: bool = False) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is unreadable.

    `lenient` (for readers whose records are lines): a byte that is not UTF-8 becomes a lone surrogate
    (Python's `surrogateescape`) so that only the records holding one are rejected (see `undecodable`).
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableInput(f"invalid UTF-16 at byte {exc.start}") from None
    if lenient:
        return data.decode("utf-8-sig", "surrogateescape")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}") from None


_ESCAPED = re.compile("[\udc80-\udcff]")  # a byte `decode(lenient=True)` could not read as UTF-8


def undecodable(text: str) -> tuple[str, str] | None:
    """For a record from `decode(lenient=True)` that holds bytes that are not UTF-8: its text with those bytes
    shown as `\\xNN`, and the reason; None for a record that is all text."""
    found = _ESCAPED.search(text)
    if found is None:
        return None
    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return shown, f"not UTF-8: invalid byte 0x{ord(found[0]) - 0xDC00:02x} at character {found.start() + 1}"


def frame_of(
    spec: DatasetSpec, columns: dict[str, list[str | None]], bookkeeping: dict[str, list[Any]]
) -> pl.DataFrame:
    data: dict[str, pl.Series] = {
        LINE: pl.Series(LINE, bookkeeping[LINE], dtype=pl.Int64),
        RECORD: pl.Series(RECORD, bookkeeping[RECORD], dtype=pl.Int64),
        RAW: pl.Series(RAW, bookkeeping[RAW], dtype=pl.String),
        ERROR: pl.Series(ERROR, bookkeeping[ERROR], dtype=pl.String),
    }
    n = len(bookkeeping[RECORD])
    for column in spec.input_columns:
        values = columns.get(column.name)
        data[column.name] = pl.Series(column.name, values if values is not None else [None] * n, dtype=pl.String)
    return pl.DataFrame(data)


def empty_bookkeeping() -> dict[str, list[Any]]:
    return {LINE: [], RECORD: [], RAW: [], ERROR: []}


# ------------------------------------------------------------------------------------------- JSON
class _Number:
    """A JSON number with a fraction or an exponent, kept as its source text: a float would round
    9007199254740993.0 and turn 1e400 into infinity; the typing reads the text exactly once."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Duplicated(dict[str, Any]):
    """A JSON object that gave a key more than once (`twice`): never silently the last value."""

    twice: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    seen: set[str] = set()
    marked = _Duplicated(found)
    marked.twice = [key for key, _ in pairs if key in seen or seen.add(key)]  # type: ignore[func-returns-value]
    return marked


def duplicate_key(value: Any) -> str | None:
    """The first key given twice in any object within `value` (a walk without recursion: nesting may be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Duplicated):
            return item.twice[0]
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str) -> Any:
    """Strict RFC 8259 JSON: no NaN/Infinity; deep nesting fails cleanly instead of crashing.

    Numbers with a fraction or exponent stay text (`_Number`); an object with a key twice is a `_Duplicated`
    (see `duplicate_key`), for the reader to reject.
    """
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_Number, object_pairs_hook=_object)
    except RecursionError:
        raise UnreadableInput("JSON nested too deeply") from None
    except ValueError as exc:
        raise UnreadableInput(f"invalid JSON: {exc}") from None


def _is_text(value: str) -> bool:
    """False for strings JSON can carry but Unicode text cannot: an escaped half of a surrogate pair."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_NONCE = secrets.token_hex(8)
_PLACED = re.compile(r'"\\u0000' + _NONCE + r':(\d+)\\u0000"')


def _json_text(value: Any) -> str:
    """`value` as JSON text, kept readable, but escaped where it holds something that is not text; a
    number's text is the source's, as written."""
    numbers: list[str] = []

    def place(number: Any) -> str:
        if not isinstance(number, _Number):
            raise TypeError(type(number).__name__)
        numbers.append(number.text)
        return f"\x00{_NONCE}:{len(numbers) - 1}\x00"

    text = json.dumps(value, ensure_ascii=False, default=place)
    if not _is_text(text):
        numbers.clear()
        text = json.dumps(value, ensure_ascii=True, default=place)
    return _PLACED.sub(lambda m: numbers[int(m[1])], text) if numbers else text


def _scalar_text(value: Any) -> tuple[str | None, str | None]:
    """A JSON value as text for typing, or an error for values that are not scalars."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, str):
        return (value, None) if _is_text(value) else (None, "contains an unpaired UTF-16 surrogate (not text)")
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, _Number):
        return value.text, None  # typed like any text: an overflow (1e400) is rejected there, with this text
    return None, f"is a JSON {type(value).__name__.replace('dict', 'object').replace('list', 'array')}, not a scalar"


def _report_timestamp(document: Any) -> Any:
    return document.get("timestamp") if isinstance(document, dict) else None


def read_index_advisor(data: bytes, spec: DatasetSpec, *, max_line_bytes: int | None = None) -> RawTable:
    """Read an index-advisor report: an object with `timestamp` and a `recommendations` array.

    The report is one document, read whole: a line longer than `max_line_bytes` fails it (see `lines`).
    """
    if max_line_bytes is not None:
        check_lines(data, max_line_bytes)
    document = load_json(decode(data))
    if isinstance(document, _Duplicated):
        raise UnreadableInput(f"duplicate key {document.twice[0]!r} in the report's object")
    if not isinstance(document, dict) or not isinstance(document.get("recommendations"), list):
        raise UnreadableInput("expected a JSON object with a 'recommendations' array")
    report_ts, problem = _scalar_text(_report_timestamp(document))
    if problem:
        raise UnreadableInput(f"report timestamp {problem}")
    known = {c.name for c in spec.input_columns}
    columns: dict[str, list[str | None]] = {c.name: [] for c in spec.input_columns}
    book = empty_bookkeeping()
    extra: set[str] = set()
    for record_no, item in enumerate(document["recommendations"], start=1):
        book[LINE].append(None)
        book[RECORD].append(record_no)
        book[RAW].append(_json_text(item)[:10_000])
        values: dict[str, str | None] = {name: None for name in known}
        error: str | None = None
        duplicated = duplicate_key(item)
        if not isinstance(item, dict):
            error = f"recommendations[{record_no - 1}] is not an object"
        elif duplicated is not None:
            error = f"duplicate key {duplicated!r} in an object"
        else:
            values["timestamp"] = report_ts
            for key, value in item.items():
                name = spec.aliases.get(key, key)
                if name not in known:
                    extra.add(key if _is_text(key) else _json_text(key))
                    continue
                text, problem = _scalar_text(value)
                if problem and error is None:
                    error = f"{name} {problem}"
                values[name] = text if text is not None or name != "timestamp" else report_ts
        book[ERROR].append(error)
        for name in known:
            columns[name].append(values[name] if error is None else None)
    return RawTable(frame=frame_of(spec, columns, book), extra_columns=sorted(extra))


def index_advisor_timestamp(data: bytes, max_line_bytes: int | None = None) -> str | None:
    """The report-level timestamp text of an index-advisor report (for its key), if any."""
    if max_line_bytes is not None:
        check_lines(data, max_line_bytes)
    document = load_json(decode(data))
    value = _report_timestamp(document)
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------------------------- summary
_TS = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?"
_EVENT_LINE = re.compile(rf"\[?(?P<ts>{_TS})\]?\s+(?P<event>\S+)(?:\s+(?P<rest>.*))?")
# a number, or a named non-number as a CSV may hold (`nan`, `inf`, `infinity`): typed alike (see `coerce`)
_NUMBER = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf|infinity))"
# The label takes everything up to the first colon (greedy, so a long line without one is one pass) and is
# stripped after: a lazy label followed by `\s*:` re-scanned each run of blanks, quadratic in its length.
_LABEL_LINE = re.compile(rf"(?P<label>[A-Za-z][^:]*):\s*(?P<value>{_NUMBER})")
_NUMBER_RE = re.compile(_NUMBER)


def snake_case(label: str) -> str:
    """`Indexes Created (total)` -> `indexes_created_total`."""
    words = re.findall(r"[A-Za-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", label))
    return "_".join(w.lower() for w in words)


# One piece of a shell-like word: plain characters, a backslash escape, a '...' or a "..." string.
_PIECE = re.compile(
    r"""[^ \t\r\n'"\\]+|\\(?P<escaped>[\s\S])|'(?P<single>[^']*)'|"(?P<double>(?:[^"\\]|\\[\s\S])*)"|[ \t\r\n]+"""
)
_OPEN_DOUBLE = re.compile(r'"(?:[^"\\]|\\[\s\S])*')
_DOUBLE_ESCAPE = re.compile(r'\\(["\\])')


def split_words(text: str) -> list[str]:
    """`shlex.split(text)` (POSIX rules, no comments) in one pass of a regex: shlex grows each word a
    character at a time, which is quadratic in a long word. ValueError as shlex raises it."""
    words: list[str] = []
    word: list[str] | None = None
    at, end = 0, len(text)
    while at < end:
        piece = _PIECE.match(text, at)
        if piece is None:  # a backslash at the very end (inside an open "..." too), or an unclosed quote
            opened = _OPEN_DOUBLE.match(text, at)
            if text[at] == "\\" or (opened is not None and opened.end() == end - 1):
                raise ValueError("No escaped character")
            raise ValueError("No closing quotation")
        at = piece.end()
        token = piece[0]
        if token[0] in " \t\r\n":
            if word is not None:
                words.append("".join(word))
                word = None
            continue
        if word is None:
            word = []
        if piece["escaped"] is not None:
            word.append(piece["escaped"])
        elif piece["single"] is not None:
            word.append(piece["single"])
        elif piece["double"] is not None:
            word.append(_DOUBLE_ESCAPE.sub(r"\1", piece["double"]))
        else:
            word.append(token)
    if word is not None:
        words.append("".join(word))
    return words


def _summary_line(text: str, last_ts: str | None) -> tuple[dict[str, str | None], str | None, str | None]:
    """Parse one summary line: (values, error, timestamp seen on this line)."""
    values: dict[str, str | None] = {}
    if text.startswith("{"):
        try:
            obj = load_json(text)
        except UnreadableInput as exc:
            return values, str(exc), None
        if not isinstance(obj, dict):
            return values, "JSON line is not an object", None
        duplicated = duplicate_key(obj)
        if duplicated is not None:
            return values, f"duplicate key {duplicated!r} in an object", None
        metadata: dict[str, Any] = {}
        if isinstance(obj.get("metadata"), dict):
            metadata.update(obj.pop("metadata"))
        ts_value = obj.pop("timestamp", None)
        ts, problem = _scalar_text(ts_value)
        if problem:
            return values, f"timestamp {problem}", None
        values["timestamp"] = ts if ts is not None else last_ts
        for name in ("event_type", "metric_name", "metric_value"):
            text_value, problem = _scalar_text(obj.pop(name, None))
            if problem:
                return values, f"{name} {problem}", ts
            values[name] = text_value
        metadata.update(obj)
        values["metadata"] = _json_text(metadata) if metadata else None
        if values["timestamp"] is None:
            return values, "no timestamp on this line or any line above", ts
        return values, None, ts
    event = _EVENT_LINE.fullmatch(text)
    if event:
        ts = event["ts"]
        try:
            tokens = split_words(event["rest"] or "")
        except ValueError as exc:
            return values, f"cannot split key=value pairs: {exc}", ts
        pairs = [token.partition("=") for token in tokens]
        if not pairs or not pairs[0][1] or not _NUMBER_RE.fullmatch(pairs[0][2]):
            return values, "expected METRIC=NUMBER after the event type", ts
        bad = [token for token, (_, eq, _) in zip(tokens, pairs, strict=True) if not eq]
        if bad:
            return values, f"expected key=value, found '{bad[0]}'", ts
        metadata = {key: value for key, _, value in pairs[1:]}
        values.update(
            timestamp=ts,
            event_type=event["event"],
            metric_name=pairs[0][0],
            metric_value=pairs[0][2],
            metadata=_json_text(metadata) if metadata else None,
        )
        return values, None, ts
    label = _LABEL_LINE.fullmatch(text)
    if label:
        if last_ts is None:
            return values, "summary line has no timestamped line above it", None
        values.update(
            timestamp=last_ts,
            event_type="summary",
            metric_name=snake_case(label["label"].rstrip()),
            metric_value=label["value"],
            metadata=None,
        )
        return values, None, None
    return values, "line fits no summary grammar (JSON, 'TIMESTAMP EVENT METRIC=NUMBER', 'Label: NUMBER')", None


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _summary_lines(data: bytes, limit: int | None) -> Iterator[tuple[int, str, int | None]]:
    """(line number, text, None) for each line that is not blank or a `#` comment, decoded one by one (a
    byte that is not UTF-8 becomes a lone surrogate, see `undecodable`); a line over `limit` bytes comes as
    (number, its first KiB, its size), never copied or decoded whole."""
    start = 0
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        data = decode(data).encode("utf-8", "surrogatepass")
    elif data.startswith(codecs.BOM_UTF8):
        start = len(codecs.BOM_UTF8)
    spans = ((m.start(), m.end()) for m in _LINE_END.finditer(data, start))
    at = start
    for line_no, (stop, after) in enumerate(itertools.chain(spans, [(len(data), len(data))]), start=1):
        if stop == at == len(data):
            break  # the file ended with a line end
        size = stop - at
        if limit is not None and size > limit:
            yield line_no, data[at : at + TRUNCATED_BYTES].decode("utf-8", "surrogateescape"), size
        else:
            text = data[at:stop].decode("utf-8", "surrogateescape").strip()
            if text and not text.startswith("#"):
                yield line_no, text, None
        at = after


def read_summary(data: bytes, spec: DatasetSpec, *, max_line_bytes: int | None = None) -> RawTable:
    """Read an optimization summary: one event per line in one of three grammars.

    Line by line and linear in the file's size; a line longer than `max_line_bytes` is a rejected row whose
    raw keeps its first KiB (the line is never copied whole).
    """
    columns: dict[str, list[str | None]] = {c.name: [] for c in spec.input_columns}
    book = empty_bookkeeping()
    last_ts: str | None = None
    for record_no, (line_no, line, size) in enumerate(_summary_lines(data, max_line_bytes), start=1):
        bad = undecodable(line)
        values: dict[str, str | None] = {}
        error: str | None = None
        if size is not None:
            raw = truncated(line if bad is None else bad[0], size)
            error = f"line longer than max_line_bytes ({max_line_bytes:,} bytes): {size:,} bytes"
        elif bad is not None:
            raw, error = bad
        else:
            raw = line
            values, error, seen_ts = _summary_line(line, last_ts)
            last_ts = seen_ts or last_ts
        book[LINE].append(line_no)
        book[RECORD].append(record_no)
        book[RAW].append(raw)
        book[ERROR].append(error)
        for column in spec.input_columns:
            columns[column.name].append(values.get(column.name) if error is None else None)
    return RawTable(frame=frame_of(spec, columns, book))


def first_summary_timestamp(data: bytes, max_line_bytes: int | None = None) -> str | None:
    """The timestamp text of a summary's first timestamped line (for its key), if any."""
    for _, line, size in _summary_lines(data, max_line_bytes):
        if undecodable(line) is not None or size is not None:
            continue
        _, _, ts = _summary_line(line, None)
        if ts:
            return ts
    return None


READERS = {"index_advisor": read_index_advisor, "summary": read_summary}  # CSV: daemon.convert.csv


def read(data: bytes, spec: DatasetSpec, *, max_line_bytes: int | None = None) -> RawTable:
    """Dispatch to the spec's reader."""
    return READERS[spec.reader](data, spec, max_line_bytes=max_line_bytes)


def parse_instant(text: str, source_timezone: dt.tzinfo) -> dt.datetime | None:
    """An ISO 8601 text as an aware datetime (naive = source timezone), or None when unparseable."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=source_timezone)
