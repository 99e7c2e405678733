"""The store of ``LocalService()`` without a file: the same tables, as Python objects.

An in-memory service has nothing to keep across a crash and nobody else can open its
database, so it needs neither SQLite nor JSON: operations stay decoded, history events
stay dicts, rows stay tuples. :class:`MemoryTx` answers every query of
:class:`~durable_mp.local.store.Tx` exactly as the SQL does (the same rows, the same
order, the column types SQLite would give back), and a transaction is still atomic:
every change records how to undo itself, and an exception undoes them all.

What a caller gets back it may keep and change (as it may a row read from SQLite):
rows are rebuilt on every read, events are copied through JSON, operations are
immutable.
"""

from __future__ import annotations

import bisect
import json
import operator
import sqlite3
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import CheckpointOutput, OperationStatus
from durable_mp.local.store import (
    MEMORY,
    BodyRunRow,
    CallbackRow,
    CheckpointReply,
    ExecutionRow,
    InvocationRow,
    InvokeRow,
    StoredOperation,
    Tx,
    reply_json,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

Undo = list["Callable[[], object]"]

_EXECUTION_FIELDS = tuple(ExecutionRow.__dataclass_fields__)
# Columns declared REAL / INTEGER in the SQL schema: SQLite hands back a float / an int
# whatever Python value was stored, and so does this store.
_REAL = frozenset({"start_ts", "end_ts", "retry_at"})
_INTEGER = frozenset(
    {
        "timeout_s",
        "invocation_count",
        "version",
        "op_count",
        "event_count",
        "token_seq",
        "seen_version",
        "begin_version",
        "failed_attempts",
        "closing",
    }
)


def _real(value: Any) -> Any:
    return float(value) if isinstance(value, int) else value


def _integer(value: Any) -> Any:
    if isinstance(value, bool) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    return value


_CONVERTED_COLUMNS = tuple(
    (index, float, _real) if name in _REAL else (index, int, _integer)
    for index, name in enumerate(_EXECUTION_FIELDS)
    if name in _REAL or name in _INTEGER
)


_row_values = operator.attrgetter(*_EXECUTION_FIELDS)


def _execution_values(row: ExecutionRow) -> tuple[Any, ...]:
    values: tuple[Any, ...] = _row_values(row)
    if all(
        values[index] is None or type(values[index]) is expected
        for index, expected, _ in _CONVERTED_COLUMNS
    ):
        return values
    converted = list(values)
    for index, _, convert in _CONVERTED_COLUMNS:
        converted[index] = convert(converted[index])
    return tuple(converted)


def _through_json(value: Any) -> Any:
    """What a value stored as JSON text reads back as."""
    return json.loads(json.dumps(value, separators=(",", ":")))


class _Operations:
    """One execution's operations, indexed the ways the queries need."""

    __slots__ = ("ascending", "by_id", "changes", "due", "order", "positions", "types")

    def __init__(self) -> None:
        self.by_id: dict[str, StoredOperation] = {}
        self.order: list[str] = []  # op ids by position
        self.positions: list[int] = []  # the positions of ``order``, ascending
        self.due: dict[str, float] = {}  # op id -> due_ts, for running timers
        self.changes: list[tuple[int, str]] = []  # (version, op id) of every write
        self.ascending = True  # each write had a higher version than the one before
        self.types: dict[str, str] = {}  # the op_type column: set on insert, never updated

    def by_position(self) -> list[StoredOperation]:
        return [self.by_id[op_id] for op_id in self.order]


class _Tables:
    """Every table of the SQL schema, for one in-memory service."""

    def __init__(self) -> None:
        self.executions: dict[str, tuple[Any, ...]] = {}  # arn -> values (rowid order)
        self.names: dict[str, str] = {}  # name -> arn
        self.operations: dict[str, _Operations] = {}
        self.events: dict[str, dict[int, dict[str, Any]]] = {}  # arn -> event id -> event
        self.callbacks: dict[str, CallbackRow] = {}  # callback id -> row (rowid order)
        self.invokes: dict[tuple[str, str], InvokeRow] = {}  # (arn, op id) -> row
        self.invocations: dict[str, dict[str, tuple[InvocationRow, str | None]]] = {}
        self.tokens: dict[str, dict[int, tuple[str, int]]] = {}  # arn -> seq -> (req, version)
        self.replies: dict[str, CheckpointReply] = {}
        self.body_runs: dict[tuple[str, str, int], BodyRunRow] = {}  # (arn, op id, attempt)


class MemoryTx(Tx):
    """:class:`Tx` over :class:`_Tables`; every change appends its undo to ``undo``."""

    def __init__(self, tables: _Tables, undo: Undo) -> None:  # no SQLite connection
        self._t = tables
        self._undo = undo

    def flush(self) -> None:
        return None

    def committed(self) -> None:
        return None

    # executions -------------------------------------------------------------------

    def insert_execution(self, row: ExecutionRow) -> None:
        t = self._t
        if row.arn in t.executions:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: executions.arn")
        if row.name in t.names:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: executions.name")
        t.executions[row.arn] = _execution_values(row)
        t.names[row.name] = row.arn

        def undo() -> None:
            del t.executions[row.arn]
            del t.names[row.name]

        self._undo.append(undo)

    def save_execution(self, row: ExecutionRow) -> None:
        t = self._t
        previous = t.executions.get(row.arn)
        if previous is None:
            return  # UPDATE ... WHERE arn = ? changes no row
        values = _execution_values(row)
        old_name, new_name = previous[1], values[1]
        if new_name != old_name and new_name in t.names:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: executions.name")
        t.executions[row.arn] = values
        if new_name != old_name:
            del t.names[old_name]
            t.names[new_name] = row.arn

        def undo() -> None:
            t.executions[row.arn] = previous
            if new_name != old_name:
                del t.names[new_name]
                t.names[old_name] = row.arn

        self._undo.append(undo)

    def load_execution(self, arn: str) -> ExecutionRow | None:
        values = self._t.executions.get(arn)
        return None if values is None else ExecutionRow(*values)

    def find_execution_by_name(self, name: str) -> ExecutionRow | None:
        arn = self._t.names.get(name)
        return None if arn is None else self.load_execution(arn)

    def list_executions(self) -> list[ExecutionRow]:
        return [ExecutionRow(*values) for values in self._t.executions.values()]

    # operations -------------------------------------------------------------------

    def _operations(self, arn: str) -> _Operations:
        ops = self._t.operations.get(arn)
        if ops is None:
            ops = self._t.operations[arn] = _Operations()
        return ops

    def put_operation(self, arn: str, stored: StoredOperation, due_ts: float | None) -> None:
        ops = self._operations(arn)
        op_id = stored.operation.operation_id
        previous = ops.by_id.get(op_id)
        previous_due = ops.due.get(op_id)
        if previous is not None and previous.position != stored.position:
            # ON CONFLICT DO UPDATE keeps the row's position
            stored = StoredOperation(stored.operation, previous.position, stored.version)
        ops.by_id[op_id] = stored
        index = -1
        if previous is None:
            index = bisect.bisect_right(ops.positions, stored.position)
            ops.positions.insert(index, stored.position)
            ops.order.insert(index, op_id)
            ops.types[op_id] = stored.operation.operation_type.value
        if due_ts is None:
            ops.due.pop(op_id, None)
        else:
            ops.due[op_id] = float(due_ts)
        if ops.changes and stored.version <= ops.changes[-1][0]:
            ops.ascending = False  # deltas then scan every write (still correct)
        ops.changes.append((stored.version, op_id))

        def undo() -> None:
            ops.changes.pop()
            if previous_due is None:
                ops.due.pop(op_id, None)
            else:
                ops.due[op_id] = previous_due
            if previous is None:
                del ops.by_id[op_id]
                del ops.positions[index]
                del ops.order[index]
                del ops.types[op_id]
            else:
                ops.by_id[op_id] = previous

        self._undo.append(undo)

    def operation(self, arn: str, op_id: str) -> StoredOperation | None:
        ops = self._t.operations.get(arn)
        return None if ops is None else ops.by_id.get(op_id)

    def operations(self, arn: str) -> list[StoredOperation]:
        return self.operations_page(arn)

    def due_operations(self, arn: str, until_ts: float) -> list[StoredOperation]:
        ops = self._t.operations.get(arn)
        if ops is None or not ops.due:
            return []
        due = [
            (due_ts, ops.by_id[op_id].position, op_id)
            for op_id, due_ts in ops.due.items()
            if due_ts <= until_ts
        ]
        return [ops.by_id[op_id] for _, _, op_id in sorted(due)]

    def earliest_due(self, arn: str) -> float | None:
        ops = self._t.operations.get(arn)
        return min(ops.due.values()) if ops is not None and ops.due else None

    def any_operation(
        self,
        arn: str,
        statuses: tuple[str, ...],
        *,
        types: tuple[str, ...] | None = None,
        changed_after: int | None = None,
    ) -> bool:
        ops = self._t.operations.get(arn)
        if ops is None:
            return False
        for op_id, stored in ops.by_id.items():
            if (
                stored.operation.status.value in statuses
                and (types is None or ops.types[op_id] in types)
                and (changed_after is None or stored.version > changed_after)
            ):
                return True
        return False

    def operations_page(
        self,
        arn: str,
        *,
        after_position: int = -1,
        versions: tuple[int, int] | None = None,
        limit: int | None = None,
    ) -> list[StoredOperation]:
        ops = self._t.operations.get(arn)
        if ops is None:
            return []
        if versions is None:
            start = bisect.bisect_right(ops.positions, after_position)
            end = None if limit is None else start + max(0, limit)
            return [ops.by_id[op_id] for op_id in ops.order[start:end]]
        # The operations whose current version is in (low, high]: the latest writes,
        # newest first, back to the first one at or below ``low``.
        low, high = versions
        found: dict[str, StoredOperation] = {}
        for version, op_id in reversed(ops.changes) if ops.ascending else ops.changes:
            if version <= low:
                if ops.ascending:
                    break
                continue
            stored = ops.by_id.get(op_id)
            if (
                stored is not None
                and stored.version == version <= high
                and stored.position > after_position
            ):
                found[op_id] = stored
        page = sorted(found.values(), key=lambda stored: stored.position)
        return page if limit is None else page[: max(0, limit)]

    # history ----------------------------------------------------------------------

    def append_event(self, arn: str, event_id: int, event: dict[str, Any]) -> None:
        events = self._t.events.setdefault(arn, {})
        if event_id in events:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: events.arn, events.event_id")
        events[event_id] = event
        self._undo.append(lambda: events.pop(event_id))

    def events(self, arn: str, *, after: int = 0) -> list[dict[str, Any]]:
        events = self._t.events.get(arn, {})
        return [_through_json(events[event_id]) for event_id in sorted(events) if event_id > after]

    def last_event_id(self, arn: str) -> int:
        events = self._t.events.get(arn)
        return max(events) if events else 0

    # callbacks --------------------------------------------------------------------

    def put_callback(self, row: CallbackRow) -> None:
        callbacks = self._t.callbacks
        before = dict(callbacks)  # INSERT OR REPLACE gives a replaced row a new rowid
        callbacks.pop(row.callback_id, None)
        callbacks[row.callback_id] = CallbackRow(
            row.callback_id,
            row.arn,
            row.op_id,
            _real(row.timeout_ts),
            _integer(row.heartbeat_s),
            _real(row.heartbeat_ts),
        )

        def undo() -> None:
            callbacks.clear()
            callbacks.update(before)

        self._undo.append(undo)

    def callback(self, callback_id: str) -> CallbackRow | None:
        return self._t.callbacks.get(callback_id)

    def due_callbacks(self, arn: str, until_ts: float) -> list[CallbackRow]:
        return [
            row
            for row in self._t.callbacks.values()
            if row.arn == arn
            and (
                (row.timeout_ts is not None and row.timeout_ts <= until_ts)
                or (row.heartbeat_ts is not None and row.heartbeat_ts <= until_ts)
            )
        ]

    def earliest_callback_due(self, arn: str) -> float | None:
        timers = [
            min(
                1e300 if row.timeout_ts is None else row.timeout_ts,
                1e300 if row.heartbeat_ts is None else row.heartbeat_ts,
            )
            for row in self._t.callbacks.values()
            if row.arn == arn and (row.timeout_ts is not None or row.heartbeat_ts is not None)
        ]
        return float(min(timers)) if timers else None

    # chained invokes --------------------------------------------------------------

    def put_invoke(self, row: InvokeRow) -> None:
        invokes = self._t.invokes
        before = dict(invokes)
        key = (row.arn, row.op_id)
        invokes.pop(key, None)
        invokes[key] = row

        def undo() -> None:
            invokes.clear()
            invokes.update(before)

        self._undo.append(undo)

    def invoke_of_child(self, child_arn: str) -> InvokeRow | None:
        return next((row for row in self._t.invokes.values() if row.child_arn == child_arn), None)

    def running_invokes(self, arn: str) -> list[InvokeRow]:
        ops = self._t.operations.get(arn)
        if ops is None:
            return []
        running = []
        for row in self._t.invokes.values():
            stored = ops.by_id.get(row.op_id) if row.arn == arn else None
            if stored is not None and stored.operation.status is OperationStatus.STARTED:
                running.append((stored.position, row))
        return [row for _, row in sorted(running, key=lambda entry: entry[0])]

    # durable-mp metadata ----------------------------------------------------------

    def put_body_runs(self, rows: list[BodyRunRow]) -> None:
        runs = self._t.body_runs
        before = dict(runs)
        for row in rows:
            runs[(row.arn, row.op_id, row.attempt)] = row

        def undo() -> None:
            runs.clear()
            runs.update(before)

        self._undo.append(undo)

    def body_runs(self, arn: str) -> list[BodyRunRow]:
        found = [row for row in self._t.body_runs.values() if row.arn == arn]
        return sorted(found, key=lambda row: row.started_at)

    def operation_counts(self, op_type: str) -> list[tuple[str, str, int]]:
        counts: dict[tuple[str, str], int] = {}
        for arn, ops in self._t.operations.items():
            for op_id, stored in ops.by_id.items():
                if ops.types[op_id] == op_type:
                    key = (arn, stored.operation.status.value)
                    counts[key] = counts.get(key, 0) + 1
        return [(arn, status, count) for (arn, status), count in sorted(counts.items())]

    # invocations ------------------------------------------------------------------

    def insert_invocation(self, row: InvocationRow) -> None:
        invocations = self._t.invocations.setdefault(row.arn, {})
        if row.request_id in invocations:
            raise sqlite3.IntegrityError(
                "UNIQUE constraint failed: invocations.arn, invocations.request_id"
            )
        invocations[row.request_id] = (
            InvocationRow(row.arn, row.request_id, _real(row.started_ts), _real(row.ended_ts)),
            None,
        )
        self._undo.append(lambda: invocations.pop(row.request_id))

    def open_invocation(self, arn: str) -> InvocationRow | None:
        for row, _ in self._t.invocations.get(arn, {}).values():
            if row.ended_ts is None:
                return row
        return None

    def close_invocation(
        self, arn: str, request_id: str, ended_ts: float, error: str | None
    ) -> None:
        invocations = self._t.invocations.get(arn, {})
        previous = invocations.get(request_id)
        if previous is None:
            return
        row = previous[0]
        invocations[request_id] = (
            InvocationRow(row.arn, row.request_id, row.started_ts, _real(ended_ts)),
            error,
        )
        self._undo.append(lambda: invocations.__setitem__(request_id, previous))

    # tokens -----------------------------------------------------------------------

    def put_token(self, arn: str, sequence: int, request_id: str, version: int) -> None:
        tokens = self._t.tokens
        before = tokens.get(arn)
        kept = {seq: value for seq, value in (before or {}).items() if seq >= sequence}
        kept[sequence] = (request_id, _integer(version))
        tokens[arn] = kept

        def undo() -> None:
            if before is None:
                del tokens[arn]
            else:
                tokens[arn] = before

        self._undo.append(undo)

    def token_version(self, arn: str, sequence: int) -> int | None:
        value = self._t.tokens.get(arn, {}).get(sequence)
        return None if value is None else int(value[1])

    def put_reply(self, arn: str, reply: CheckpointReply) -> None:
        replies = self._t.replies
        before = replies.get(arn)
        replies[arn] = reply

        def undo() -> None:
            if before is None:
                del replies[arn]
            else:
                replies[arn] = before

        self._undo.append(undo)

    def reply(self, arn: str, client_token: str, inbound_token: str) -> CheckpointOutput | None:
        stored = self._t.replies.get(arn)
        if (
            stored is None
            or stored.client_token != client_token
            or stored.inbound_token != inbound_token
        ):
            return None
        return CheckpointOutput.from_dict(_through_json(reply_json(stored.output)))


class MemoryStore:
    """The in-memory counterpart of :class:`~durable_mp.local.store.Store`."""

    def __init__(self) -> None:
        self.path = MEMORY
        self._lock = threading.RLock()
        self._tables = _Tables()
        self._tx: MemoryTx | None = None
        self._closed = False

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """One atomic unit, re-entrant on the same thread (see ``Store.transaction``)."""
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self._tx is not None:
                yield self._tx
                return
            undo: Undo = []
            tx = self._tx = MemoryTx(self._tables, undo)
            try:
                yield tx
            except BaseException:
                for step in reversed(undo):
                    step()
                raise
            finally:
                self._tx = None

    def data_version(self) -> int:
        """Constant: nobody but this process can change an in-memory store."""
        return 0

    def close(self) -> None:
        with self._lock:
            self._closed = True
