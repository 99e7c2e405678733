"""The SQLite store: the local service's state in a file (or in SQLite's ``:memory:``).

Durability is the point of this module. The database runs in WAL mode with
``synchronous=FULL`` and every service call that changes state is one transaction, so a
process killed at any instant (SIGKILL included) loses no acknowledged checkpoint and
never leaves half of a batch behind; a transaction the storage fails (disk full) is
rolled back whole. Opening the file (refusing what is not a store, keeping it private,
migrating its schema) is :mod:`durable_mp.local.store_file`'s job.

One connection serves every thread (the SDK's checkpoint thread, the runner, readers of
the CLI) behind a re-entrant lock; other processes may open the same file. Nothing is
cached between transactions, so another process's changes are seen at the next one.
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import threading
from contextlib import contextmanager, suppress
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import CheckpointOutput, Operation
from durable_mp.local import schema, store_file
from durable_mp.local.store import (
    MEMORY,
    BodyRunRow,
    CallbackRow,
    CheckpointReply,
    DuplicateKeyError,
    ExecutionRow,
    InvocationRow,
    InvokeRow,
    LeaseRow,
    OperationKey,
    StoreClosedError,
    StoredOperation,
    StoreIOError,
    StoreReadOnlyError,
    reply_json,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

_EXECUTION_COLUMNS = tuple(f.name for f in fields(ExecutionRow))
_execution_values = operator.attrgetter(*_EXECUTION_COLUMNS)  # row -> tuple, in column order
_SAVE_EXECUTION = (
    f"UPDATE executions SET {', '.join(f'{column} = ?' for column in _EXECUTION_COLUMNS[1:])}"
    " WHERE arn = ?"
)


_CALLBACK_COLUMNS = ", ".join(f.name for f in fields(CallbackRow))
_PUT_OPERATION = (
    "INSERT INTO operations (arn, op_id, position, version, op_type, status, due_ts, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn, op_id) DO UPDATE SET"
    " version = excluded.version, status = excluded.status, due_ts = excluded.due_ts,"
    " body = excluded.body"
)
_INVOKE_COLUMNS = ", ".join(f.name for f in fields(InvokeRow))
_LEASE_COLUMNS = ", ".join(f.name for f in fields(LeaseRow))
_BODY_RUN_FIELDS = tuple(f.name for f in fields(BodyRunRow))
_body_run_values = operator.attrgetter(*_BODY_RUN_FIELDS)
_PUT_BODY_RUN = (
    f"INSERT OR REPLACE INTO body_runs ({', '.join(_BODY_RUN_FIELDS)})"
    f" VALUES ({', '.join('?' for _ in _BODY_RUN_FIELDS)})"
)


class _DecodedOperations:
    """Decoded operations of committed states, so a read does not parse JSON again.

    An entry is the operation as it was stored at ``version``; a row read later is
    served from here when its version matches, whoever wrote it (the version of an
    execution's operations only grows, so another process's state never reuses one).
    Only the store's transactions touch it, under the store's lock, and only states
    that committed enter it.
    """

    def __init__(self) -> None:
        self._entries: dict[OperationKey, tuple[int, Operation]] = {}

    def get(self, key: OperationKey, version: int) -> Operation | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] == version else None

    def update(self, states: dict[OperationKey, StoredOperation]) -> None:
        for key, stored in states.items():
            self._entries[key] = (stored.version, stored.operation)


class SqliteTx:
    """The :class:`~durable_mp.local.store.Tx` of a :class:`SqliteStore` transaction.

    Operations read or written are remembered for the rest of the transaction (it
    holds the state it read: writes take the write lock up front, reads see one
    snapshot). Writes of operations and history events are queued and go to SQLite
    together, before any query that could see them and before the commit, so an
    operation changed twice in one checkpoint (START, then SUCCEED) is written once.
    """

    def __init__(self, connection: sqlite3.Connection, decoded: _DecodedOperations) -> None:
        self._db = connection
        self._decoded = decoded
        self._seen: dict[OperationKey, StoredOperation | None] = {}
        self._states: dict[OperationKey, StoredOperation] = {}  # decoded or written here
        self._queued_operations: dict[OperationKey, float | None] = {}  # key -> due_ts
        self._queued_events: list[tuple[str, int, str]] = []

    def flush(self) -> None:
        """Send the queued writes to SQLite (queries and the commit call this)."""
        if self._queued_operations:
            rows = []
            for key, due_ts in self._queued_operations.items():
                stored = self._states[key]
                operation = stored.operation
                rows.append(
                    (
                        key[0],
                        key[1],
                        stored.position,
                        stored.version,
                        operation.operation_type.value,
                        operation.status.value,
                        due_ts,
                        json.dumps(operation.to_json_dict(), separators=(",", ":")),
                    )
                )
            self._queued_operations.clear()
            self._db.executemany(_PUT_OPERATION, rows)
        if self._queued_events:
            events, self._queued_events = self._queued_events, []
            with _unique("an event id"):
                self._db.executemany(
                    "INSERT INTO events (arn, event_id, body) VALUES (?, ?, ?)", events
                )

    def committed(self) -> None:
        """The transaction committed: what it decoded and wrote may be reused."""
        self._decoded.update(self._states)

    def _stored(
        self, arn: str, op_id: str, body: str, position: int, version: int
    ) -> StoredOperation:
        """The operation of a row just read (decoded once per stored state)."""
        key = (arn, op_id)
        known = self._states.get(key)
        if known is not None and known.version == version:
            return known
        operation = self._decoded.get(key, version)
        if operation is None:
            operation = Operation.from_json_dict(json.loads(body))
        stored = StoredOperation(operation, position, version)
        self._seen[key] = self._states[key] = stored
        return stored

    # executions -------------------------------------------------------------------

    def insert_execution(self, row: ExecutionRow) -> None:
        placeholders = ", ".join("?" for _ in _EXECUTION_COLUMNS)
        with _unique("an execution ARN or name"):
            self._db.execute(
                f"INSERT INTO executions ({', '.join(_EXECUTION_COLUMNS)}) VALUES ({placeholders})",
                _execution_values(row),
            )

    def save_execution(self, row: ExecutionRow) -> None:
        self._db.execute(_SAVE_EXECUTION, (*_execution_values(row)[1:], row.arn))

    def load_execution(self, arn: str) -> ExecutionRow | None:
        return self._one_execution("arn = ?", arn)

    def find_execution_by_name(self, name: str) -> ExecutionRow | None:
        return self._one_execution("name = ?", name)

    def list_executions(self) -> list[ExecutionRow]:
        cursor = self._db.execute(
            f"SELECT {', '.join(_EXECUTION_COLUMNS)} FROM executions ORDER BY rowid"
        )
        return [ExecutionRow(*values) for values in cursor.fetchall()]

    def _one_execution(self, where: str, value: str) -> ExecutionRow | None:
        cursor = self._db.execute(
            f"SELECT {', '.join(_EXECUTION_COLUMNS)} FROM executions WHERE {where}", (value,)
        )
        values = cursor.fetchone()
        return None if values is None else ExecutionRow(*values)

    # operations -------------------------------------------------------------------

    def put_operation(self, arn: str, stored: StoredOperation, due_ts: float | None) -> None:
        """Insert or replace one operation; ``due_ts`` is when its timer fires, if any."""
        key = (arn, stored.operation.operation_id)
        self._seen[key] = self._states[key] = stored
        self._queued_operations[key] = due_ts

    def operation(self, arn: str, op_id: str) -> StoredOperation | None:
        key = (arn, op_id)
        if key in self._seen:
            return self._seen[key]
        values = self._db.execute(
            "SELECT body, position, version FROM operations WHERE arn = ? AND op_id = ?",
            (arn, op_id),
        ).fetchone()
        stored = None if values is None else self._stored(arn, op_id, *values)
        self._seen[key] = stored
        return stored

    def operations(self, arn: str) -> list[StoredOperation]:
        return self.operations_page(arn)

    def due_operations(self, arn: str, until_ts: float) -> list[StoredOperation]:
        """Operations whose timer fires at or before ``until_ts``, earliest first."""
        self.flush()
        cursor = self._db.execute(
            "SELECT op_id, body, position, version FROM operations"
            " WHERE arn = ? AND due_ts IS NOT NULL AND due_ts <= ? ORDER BY due_ts, position",
            (arn, until_ts),
        )
        return [self._stored(arn, *values) for values in cursor.fetchall()]

    def earliest_due(self, arn: str) -> float | None:
        self.flush()
        (value,) = self._db.execute(
            "SELECT MIN(due_ts) FROM operations WHERE arn = ? AND due_ts IS NOT NULL", (arn,)
        ).fetchone()
        return None if value is None else float(value)

    def any_operation(
        self,
        arn: str,
        statuses: tuple[str, ...],
        *,
        types: tuple[str, ...] | None = None,
        changed_after: int | None = None,
    ) -> bool:
        """Whether some operation has one of ``statuses`` (and type, and newer version)."""
        self.flush()
        query = (
            "SELECT 1 FROM operations WHERE arn = ?"
            f" AND status IN ({', '.join('?' for _ in statuses)})"
        )
        parameters: list[Any] = [arn, *statuses]
        if types is not None:
            query += f" AND op_type IN ({', '.join('?' for _ in types)})"
            parameters.extend(types)
        if changed_after is not None:
            query += " AND version > ?"
            parameters.append(changed_after)
        return self._db.execute(query + " LIMIT 1", parameters).fetchone() is not None

    def operations_page(
        self,
        arn: str,
        *,
        after_position: int = -1,
        versions: tuple[int, int] | None = None,
        limit: int | None = None,
    ) -> list[StoredOperation]:
        """Operations in creation order; ``versions`` = (exclusive low, inclusive high)."""
        self.flush()
        parameters: list[Any] = [arn, after_position]
        if versions is None:
            query = (
                "SELECT op_id, body, position, version FROM operations WHERE arn = ?"
                " AND position > ? ORDER BY position"
            )
        else:
            # A delta is a few changed operations among possibly many: find them by
            # version and sort those (``+position`` keeps the planner off the position
            # index, which would scan every operation of the execution).
            query = (
                "SELECT op_id, body, position, version FROM operations WHERE arn = ?"
                " AND +position > ? AND version > ? AND version <= ? ORDER BY +position"
            )
            parameters.extend(versions)
        if limit is not None:
            query += " LIMIT ?"
            parameters.append(limit)
        rows = self._db.execute(query, parameters).fetchall()
        return [self._stored(arn, *values) for values in rows]

    # history ----------------------------------------------------------------------

    def append_event(self, arn: str, event_id: int, event: dict[str, Any]) -> None:
        self._queued_events.append((arn, event_id, json.dumps(event, separators=(",", ":"))))

    def events(self, arn: str, *, after: int = 0) -> list[dict[str, Any]]:
        self.flush()
        cursor = self._db.execute(
            "SELECT body FROM events WHERE arn = ? AND event_id > ? ORDER BY event_id",
            (arn, after),
        )
        return [json.loads(body) for (body,) in cursor.fetchall()]

    def last_event_id(self, arn: str) -> int:
        self.flush()
        (value,) = self._db.execute(
            "SELECT MAX(event_id) FROM events WHERE arn = ?", (arn,)
        ).fetchone()
        return int(value or 0)

    # callbacks --------------------------------------------------------------------

    def put_callback(self, row: CallbackRow) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO callbacks"
            " (callback_id, arn, op_id, timeout_ts, heartbeat_s, heartbeat_ts)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                row.callback_id,
                row.arn,
                row.op_id,
                row.timeout_ts,
                row.heartbeat_s,
                row.heartbeat_ts,
            ),
        )

    def callback(self, callback_id: str) -> CallbackRow | None:
        values = self._db.execute(
            f"SELECT {_CALLBACK_COLUMNS} FROM callbacks WHERE callback_id = ?", (callback_id,)
        ).fetchone()
        return None if values is None else CallbackRow(*values)

    def due_callbacks(self, arn: str, until_ts: float) -> list[CallbackRow]:
        """Callbacks of the execution with a timer due at or before ``until_ts``."""
        cursor = self._db.execute(
            f"SELECT {_CALLBACK_COLUMNS} FROM callbacks WHERE arn = ?"
            " AND (timeout_ts <= ? OR heartbeat_ts <= ?) ORDER BY rowid",
            (arn, until_ts, until_ts),
        )
        return [CallbackRow(*values) for values in cursor.fetchall()]

    def earliest_callback_due(self, arn: str) -> float | None:
        (value,) = self._db.execute(
            "SELECT MIN(MIN(COALESCE(timeout_ts, 1e300), COALESCE(heartbeat_ts, 1e300)))"
            " FROM callbacks WHERE arn = ?"
            " AND (timeout_ts IS NOT NULL OR heartbeat_ts IS NOT NULL)",
            (arn,),
        ).fetchone()
        return None if value is None else float(value)

    # chained invokes --------------------------------------------------------------

    def put_invoke(self, row: InvokeRow) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO chained_invokes"
            " (arn, op_id, function_name, child_arn, payload, tenant_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (row.arn, row.op_id, row.function_name, row.child_arn, row.payload, row.tenant_id),
        )

    def invoke_of_child(self, child_arn: str) -> InvokeRow | None:
        """The chained invoke that started the execution ``child_arn``, if one did."""
        values = self._db.execute(
            f"SELECT {_INVOKE_COLUMNS} FROM chained_invokes WHERE child_arn = ?", (child_arn,)
        ).fetchone()
        return None if values is None else InvokeRow(*values)

    def running_invokes(self, arn: str) -> list[InvokeRow]:
        """The execution's chained invokes still STARTED, in creation order."""
        self.flush()
        cursor = self._db.execute(
            f"SELECT {', '.join(f'c.{c}' for c in _INVOKE_COLUMNS.split(', '))}"
            " FROM chained_invokes c JOIN operations o ON o.arn = c.arn AND o.op_id = c.op_id"
            " WHERE c.arn = ? AND o.status = 'STARTED' ORDER BY o.position",
            (arn,),
        )
        return [InvokeRow(*values) for values in cursor.fetchall()]

    # invocations ------------------------------------------------------------------

    def insert_invocation(self, row: InvocationRow) -> None:
        with _unique("an invocation request id"):
            self._db.execute(
                "INSERT INTO invocations (arn, request_id, started_ts, ended_ts)"
                " VALUES (?, ?, ?, ?)",
                (row.arn, row.request_id, row.started_ts, row.ended_ts),
            )

    def open_invocation(self, arn: str) -> InvocationRow | None:
        values = self._db.execute(
            "SELECT arn, request_id, started_ts, ended_ts FROM invocations"
            " WHERE arn = ? AND ended_ts IS NULL",
            (arn,),
        ).fetchone()
        return None if values is None else InvocationRow(*values)

    def close_invocation(
        self, arn: str, request_id: str, ended_ts: float, error: str | None
    ) -> None:
        self._db.execute(
            "UPDATE invocations SET ended_ts = ?, error = ? WHERE arn = ? AND request_id = ?",
            (ended_ts, error, arn, request_id),
        )

    # tokens -----------------------------------------------------------------------

    def put_token(self, arn: str, sequence: int, request_id: str, version: int) -> None:
        """Record the newest token; older ones can never be used again, so they go."""
        self._db.execute("DELETE FROM tokens WHERE arn = ? AND seq < ?", (arn, sequence))
        self._db.execute(
            "INSERT OR REPLACE INTO tokens (arn, seq, request_id, version) VALUES (?, ?, ?, ?)",
            (arn, sequence, request_id, version),
        )

    def token_version(self, arn: str, sequence: int) -> int | None:
        """The operation version at the moment the token ``sequence`` was issued."""
        values = self._db.execute(
            "SELECT version FROM tokens WHERE arn = ? AND seq = ?", (arn, sequence)
        ).fetchone()
        return None if values is None else int(values[0])

    def put_reply(self, arn: str, reply: CheckpointReply) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO checkpoint_replies (arn, client_token, inbound_token, reply)"
            " VALUES (?, ?, ?, ?)",
            (arn, reply.client_token, reply.inbound_token, json.dumps(reply_json(reply.output))),
        )

    def reply(self, arn: str, client_token: str, inbound_token: str) -> CheckpointOutput | None:
        """The last checkpoint response, if it answered these tokens (else None)."""
        values = self._db.execute(
            "SELECT reply FROM checkpoint_replies"
            " WHERE arn = ? AND client_token = ? AND inbound_token = ?",
            (arn, client_token, inbound_token),
        ).fetchone()
        return None if values is None else CheckpointOutput.from_dict(json.loads(values[0]))

    # body runs (durable-mp's metadata) --------------------------------------------

    def put_body_runs(self, rows: list[BodyRunRow]) -> None:
        self._db.executemany(_PUT_BODY_RUN, [_body_run_values(row) for row in rows])

    def body_runs(self, arn: str) -> list[BodyRunRow]:
        cursor = self._db.execute(
            f"SELECT {', '.join(_BODY_RUN_FIELDS)} FROM body_runs WHERE arn = ?"
            " ORDER BY started_at",
            (arn,),
        )
        return [BodyRunRow(*values) for values in cursor.fetchall()]

    def operation_counts(self, op_type: str) -> list[tuple[str, str, int]]:
        self.flush()
        cursor = self._db.execute(
            "SELECT arn, status, COUNT(*) FROM operations WHERE op_type = ?"
            " GROUP BY arn, status ORDER BY arn, status",
            (op_type,),
        )
        return [(arn, status, int(count)) for arn, status, count in cursor.fetchall()]

    # leases -----------------------------------------------------------------------

    def lease(self, arn: str) -> LeaseRow | None:
        values = self._db.execute(
            f"SELECT {_LEASE_COLUMNS} FROM leases WHERE arn = ?", (arn,)
        ).fetchone()
        return None if values is None else LeaseRow(*values)

    def put_lease(self, row: LeaseRow) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO leases ({_LEASE_COLUMNS})"
            f" VALUES ({', '.join('?' for _ in fields(LeaseRow))})",
            tuple(getattr(row, f.name) for f in fields(LeaseRow)),
        )

    def leases(self, owner_id: str | None = None) -> list[LeaseRow]:
        if owner_id is None:
            cursor = self._db.execute(f"SELECT {_LEASE_COLUMNS} FROM leases ORDER BY arn")
        else:
            cursor = self._db.execute(
                f"SELECT {_LEASE_COLUMNS} FROM leases WHERE owner_id = ? ORDER BY arn",
                (owner_id,),
            )
        return [LeaseRow(*values) for values in cursor.fetchall()]

    def delete_lease(self, arn: str) -> None:
        self._db.execute("DELETE FROM leases WHERE arn = ?", (arn,))


class SqliteStore:
    """The SQLite database behind a :class:`~durable_mp.local.service.LocalService`.

    ``read_only`` opens an existing store without ever writing to it (see
    :mod:`durable_mp.local.store_file`); its write transactions raise
    :class:`StoreReadOnlyError`.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, read_only: bool = False
    ) -> None:
        self.path = MEMORY if path is None else os.fspath(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._tx: SqliteTx | None = None  # the open transaction (nested levels join it)
        self._decoded = _DecodedOperations()
        self._closed = False
        if self.path == MEMORY:
            self._db = store_file.connect_memory()
        else:
            self._db = store_file.connect(self.path, read_only=read_only)
        # An older store read without migrating it has stand-ins for the tables it lacks;
        # each read checks whether a writer has migrated it since (the console lives long).
        self._stand_ins_as_of: int | None = None
        if read_only and self._db.execute("SELECT 1 FROM sqlite_temp_master").fetchone():
            self._stand_ins_as_of = 0

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[SqliteTx]:
        """One atomic unit: everything inside commits together or not at all.

        Re-entrant on the same thread; only the outermost level commits. A write
        transaction takes SQLite's write lock up front (``BEGIN IMMEDIATE``), so the
        state it reads is the state it writes over, even across processes. A failure of
        the storage itself (disk full, I/O error) rolls it back and raises
        :class:`StoreIOError`.
        """
        with self._lock:
            if self._tx is not None:
                yield self._tx
                return
            if self._closed:
                raise StoreClosedError(f"the store {self.path} was closed")
            if write and self.read_only:
                raise StoreReadOnlyError(f"the store {self.path} was opened read-only")
            with self._storage_errors():
                if self._stand_ins_as_of is not None:  # (each statement its own transaction)
                    self._retire_stand_ins(self._stand_ins_as_of)
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            tx = self._tx = SqliteTx(self._db, self._decoded)
            try:
                with self._storage_errors():
                    yield tx
                    tx.flush()
                    self._db.execute("COMMIT")
            except BaseException:
                self._tx = None
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
            self._tx = None
            tx.committed()

    def _retire_stand_ins(self, as_of: int) -> None:
        version = schema.retire_stand_ins(self._db, as_of)
        self._stand_ins_as_of = None if version >= schema.SCHEMA_VERSION else version

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: it changes whenever another connection
        commits to the file (this connection's own commits leave it as it is)."""
        with self._lock:
            if self._closed:
                raise StoreClosedError(f"the store {self.path} was closed")
            with self._storage_errors():
                (value,) = self._db.execute("PRAGMA data_version").fetchone()
            return int(value)

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """SQLite's errors of the storage (not of our statements) as :class:`StoreIOError`."""
        try:
            yield
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.Error as error:
            raise StoreIOError(f"the store {self.path} cannot be used ({error})") from error

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()


@contextmanager
def _unique(what: str) -> Iterator[None]:
    """SQLite's UNIQUE failures, as the store interface names them."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        raise DuplicateKeyError(f"{what} exists already ({error})") from None
