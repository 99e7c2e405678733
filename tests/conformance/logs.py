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
_FIELDS = (ARN_FIELD, "operationId", "operationName", "parentId", "attempt")


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record as a flat dict: level, logger, message and the execution fields."""
    fields = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
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
        with self._lock_records:
            self._records[str(fields[ARN_FIELD])].append(fields)

    def records(self, arn: str) -> list[dict[str, Any]]:
        with self._lock_records:
            return list(self._records.get(arn, ()))


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
        if isinstance(fields, dict) and fields.get(ARN_FIELD):
            book.add(fields)
    return book


def first_logs_error(expected: list[dict[str, Any]], records: list[dict[str, Any]]) -> str | None:
    """``ExpectedLogs``: each entry's ``count`` over all records, entries in list order.

    An entry's ``match`` maps record fields to a value, or to ``/regex/`` (searched);
    without ``count`` at least one record must match. Entries that require records
    must find them in the order the entries are listed.
    """
    position = 0
    for index, entry in enumerate(expected):
        wanted = entry.get("match") or {}
        hits = [n for n, record in enumerate(records) if _matches(wanted, record)]
        count = entry.get("count")
        if count is not None and len(hits) != count:
            return (
                f"logs[{index}] {wanted}: expected {count} record(s), got {len(hits)}"
                f"{_sample(records, hits)}"
            )
        required = 1 if count is None else count
        if count is None and not hits:
            return f"logs[{index}] {wanted}: no record matches{_sample(records, hits)}"
        if required:
            later = [n for n in hits if n >= position]
            if len(later) < required:
                return f"logs[{index}] {wanted}: out of order (after record {position})"
            position = later[required - 1] + 1
    return None


def _matches(wanted: dict[str, Any], record: dict[str, Any]) -> bool:
    for key, value in wanted.items():
        actual = record.get(key)
        if (
            isinstance(value, str)
            and len(value) > 1
            and value.startswith("/")
            and value.endswith("/")
        ):
            if actual is None or not re.search(value[1:-1], str(actual)):
                return False
        elif actual != value:
            return False
    return True


def _sample(records: list[dict[str, Any]], hits: list[int]) -> str:
    shown = [records[n]["message"] for n in hits[:3]] if hits else []
    return f" {shown}" if shown else f" ({len(records)} record(s) of this execution)"
