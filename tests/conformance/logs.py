"""What the handlers logged, per execution, and the ``ExpectedLogs`` check.

Both SDKs give every record of ``ctx.logger`` and ``step_context.logger`` an
``executionArn`` field, like the execution-correlated logs of Lambda's JSON log format.
That field is the key that keeps the logs of concurrent executions apart: in-process a
:class:`LogBook` handler files records under it; in another process (a serve runtime, a
crash-test subprocess) :func:`install_json_lines` writes one JSON object per record to
stderr and :func:`read_json_lines` files the lines of that output the same way.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import defaultdict
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

ARN_FIELD = "executionArn"
PLUGIN_ARN_FIELD = "durableExecutionArn"  # the plugin suite's records (plugin_records)
_FIELDS = (ARN_FIELD, "operationId", "operationName", "parentId", "attempt")


def record_arn(fields: dict[str, Any]) -> str | None:
    arn = fields.get(ARN_FIELD) or fields.get(PLUGIN_ARN_FIELD)
    return str(arn) if arn else None


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record as a flat dict: level, logger, message, time and the execution fields."""
    fields: dict[str, Any] = {
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
        "time": record.created,
    }
    for name in _FIELDS:
        if hasattr(record, name):
            fields[name] = getattr(record, name)
    return fields


class LogBook(logging.Handler):
    """Keeps the records that carry an execution ARN, filed by that ARN."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._lock_records = threading.Lock()
        self._records: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def emit(self, record: logging.LogRecord) -> None:
        arn = getattr(record, ARN_FIELD, None)
        if arn:
            self.add(record_fields(record))

    def add(self, fields: dict[str, Any]) -> None:
        arn = record_arn(fields)
        if arn is None:
            return
        with self._lock_records:
            self._records[arn].append(fields)

    def records(self, arn: str) -> list[dict[str, Any]]:
        """The execution's records in time order (streams of several files interleave)."""
        with self._lock_records:
            found = list(self._records.get(arn, ()))
        return sorted(found, key=lambda fields: fields.get("time", 0.0))


class _JsonLines(logging.Handler):
    def __init__(self, stream: IO[str]) -> None:
        super().__init__(logging.DEBUG)
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, ARN_FIELD, None):
            line = json.dumps(record_fields(record), default=str)
        elif record.levelno >= logging.WARNING:  # the harness skips it; a reader may not
            line = f"[{record.levelname}] {record.name}: {record.getMessage()}"
        else:
            return
        self._stream.write(line + "\n")  # one write per line: lines do not interleave
        self._stream.flush()


def install_json_lines(stream: IO[str] | None = None) -> None:
    """Log INFO and up of every execution as JSON lines on ``stream`` (stderr)."""
    root = logging.getLogger()
    if not any(isinstance(handler, _JsonLines) for handler in root.handlers):
        root.addHandler(_JsonLines(stream or sys.stderr))
    root.setLevel(min(root.level or logging.INFO, logging.INFO))


def read_json_lines(path: Path, book: LogBook | None = None) -> LogBook:
    """File the execution records among the lines of ``path`` (other lines are skipped)."""
    book = book or LogBook()
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return book
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        if isinstance(fields, dict) and record_arn(fields):
            book.add(fields)
    return book


def first_logs_error(
    expected: list[dict[str, Any]],
    records: list[dict[str, Any]],
    bindings: dict[str, Any] | None = None,
) -> str | None:
    """``ExpectedLogs`` by the official runner's rules; the first broken entry, or None.

    Each entry's ``match`` selects records: every listed field present and equal
    (strings compared stripped, ``/re/`` searched, booleans by identity, numbers by
    value); ``${NAME}`` is filled from ``bindings`` (the ids the history bound).
    ``count`` is exact, ``min_count``/``max_count`` bound it, and without any of them at
    least one record must match -- always over every record of the execution. Order is
    asserted only by ``after``/``before``: every match at or after (before) every record
    the anchor matches; an anchor that matches nothing is itself an error.
    """
    bound = bindings or {}
    for index, raw in enumerate(expected):
        entry = _fill(raw, bound)
        wanted = entry.get("match") or {}
        label = f"logs[{index}] {wanted}"
        hits = [n for n, record in enumerate(records) if _matches(wanted, record)]
        problem = _cardinality(entry, len(hits))
        if problem:
            return f"{label}: {problem}{_sample(records, hits)}"
        for direction in ("after", "before"):
            anchors = entry.get(direction) or []
            for anchor in [anchors] if isinstance(anchors, dict) else anchors:
                marks = [n for n, record in enumerate(records) if _matches(anchor, record)]
                if not marks:
                    return f"{label}: its {direction} anchor {anchor} matches no record"
                if not hits:
                    continue
                if direction == "after" and hits[0] < marks[-1]:
                    return f"{label}: a match comes before {anchor} (out of order)"
                if direction == "before" and hits[-1] > marks[0]:
                    return f"{label}: a match comes after {anchor} (out of order)"
    return None


def _cardinality(entry: dict[str, Any], found: int) -> str | None:
    count, least, most = entry.get("count"), entry.get("min_count"), entry.get("max_count")
    if count is not None:
        return None if found == count else f"expected {count} record(s), got {found}"
    if count is None and least is None and most is None:
        least = 1
    if least is not None and found < least:
        return f"expected at least {least} record(s), got {found}"
    if most is not None and found > most:
        return f"expected at most {most} record(s), got {found}"
    return None


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(value: Any, bindings: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: str(bindings.get(m[1], m[0])), value)
    if isinstance(value, dict):
        return {key: _fill(item, bindings) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, bindings) for item in value]
    return value


def _matches(wanted: dict[str, Any], record: dict[str, Any]) -> bool:
    return all(key in record and _value_matches(value, record[key]) for key, value in wanted.items())


def _value_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str):
        text = str(actual).strip()
        if len(expected) >= 2 and expected.startswith("/") and expected.endswith("/"):
            return re.search(expected[1:-1], text) is not None
        return text == expected.strip()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return str(expected) == str(actual)


def _sample(records: list[dict[str, Any]], hits: list[int]) -> str:
    shown = [_short(records[n]) for n in hits[:3]] if hits else []
    return f" {shown}" if shown else f" ({len(records)} record(s) of this execution)"


def _short(record: dict[str, Any]) -> str:
    if "message" in record:
        return str(record["message"])
    return json.dumps({k: v for k, v in record.items() if k not in ("time", PLUGIN_ARN_FIELD)})
