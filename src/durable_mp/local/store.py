"""What the local service keeps, and the one interface every store implements.

The service reads and writes its rows only through a :class:`Tx`, opened by
:meth:`Store.transaction`. Two backends implement both protocols, side by side:

- :class:`~durable_mp.local.sqlite_store.SqliteStore`: a SQLite file (or ``:memory:``),
  durable across crashes and shared between processes;
- :class:`~durable_mp.local.memory_store.MemoryStore`: Python objects, for
  ``LocalService()`` without a file, where nothing outlives the process.

What both guarantee (``tests/local`` runs every service test on each):

- a transaction is atomic: everything in it commits together, or an exception undoes it
  all; it is re-entrant on its thread (inner levels join the outer one);
- a write transaction sees the state it writes over (SQLite: ``BEGIN IMMEDIATE``);
- a row read is the caller's to change (a fresh object); operations are immutable;
- orders are part of the answer: operations by position, due timers by (due time,
  position), callbacks by when they were last put, executions by when they were inserted;
- inserting an execution, an invocation or a history event whose key exists raises
  :class:`DuplicateKeyError`; any call after :meth:`Store.close` raises
  :class:`StoreClosedError`; a transaction the storage fails raises :class:`StoreIOError`
  (rolled back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from durable_mp.lambda_service import CheckpointOutput, Operation

MEMORY = ":memory:"

OperationKey = tuple[str, str]  # (arn, op_id)


class DuplicateKeyError(Exception):
    """A row with that key exists already (an execution name taken, an event id reused)."""


class StoreClosedError(Exception):
    """The store was closed; open it again to use it."""


class StoreError(Exception):
    """The store cannot do what was asked; the message says why and what to do."""


class NotAStoreError(StoreError):
    """The file is not a durable-mp store (or one of a newer version); nothing was written."""


class StoreIOError(StoreError):
    """Reading or writing the store failed (disk full, an I/O error, locked too long).

    The transaction that failed was rolled back: what was committed before is intact.
    """


class StoreDamagedError(StoreError):
    """SQLite finds the store's file malformed (a disk fault, a copy taken mid-write, a
    file edited by hand): running again cannot help; the message says what can."""


SQLITE_CORRUPT = 11  # SQLite's primary result code for a malformed database file


def sqlite_result_code(error: BaseException) -> int:
    """The primary SQLite result code of a ``sqlite3.Error`` (0 for anything else)."""
    return int(getattr(error, "sqlite_errorcode", 0)) & 0xFF


def is_damage(error: BaseException) -> bool:
    """Whether a ``sqlite3.Error`` says the database file is malformed."""
    return sqlite_result_code(error) == SQLITE_CORRUPT


def damaged(path: str, error: BaseException, *, untouched: bool) -> StoreDamagedError:
    """One line: the store is damaged, and what to do (``untouched``: nothing was written)."""
    left = "; it was left as it was" if untouched else ""
    return StoreDamagedError(
        f"the store {path} is damaged ({error}){left}: restore it from a copy, or save what "
        f"SQLite can still read (sqlite3 {path} .recover | sqlite3 recovered.db) and use that "
        "file, or use another --store path"
    )


class StoreReadOnlyError(StoreError):
    """A change was asked of a store opened read-only."""


@dataclass
class ExecutionRow:
    """Everything the service keeps about one execution, besides its operations.

    ``version`` counts operation changes; each operation remembers the version of its
    last change, which is how checkpoint deltas and ``UpdatedOperationIds`` are found.
    ``seen_version`` is the newest version the running (or last) invocation was shown;
    ``begin_version`` the version when the last invocation began. ``closing`` is set
    when an EXECUTION checkpoint ended the execution and its terminal history event is
    owed once the invocation completes.
    """

    arn: str
    name: str
    function_name: str
    execution_op_id: str
    status: str
    input_payload: str | None
    result: str | None
    error: str | None
    start_ts: float
    end_ts: float | None
    timeout_s: int
    invocation_count: int = 0
    version: int = 0
    op_count: int = 0
    event_count: int = 0
    token_seq: int = 0
    seen_version: int = 0
    begin_version: int = 0
    failed_attempts: int = 0
    retry_at: float | None = None
    closing: int = 0


@dataclass(frozen=True)
class StoredOperation:
    operation: Operation
    position: int
    version: int


@dataclass(frozen=True)
class InvocationRow:
    arn: str
    request_id: str
    started_ts: float
    ended_ts: float | None


@dataclass(frozen=True)
class CallbackRow:
    """Where a callback id leads, and its timers (epoch seconds; None when not running).

    ``heartbeat_s`` is the heartbeat timeout (0 = none): each heartbeat moves
    ``heartbeat_ts`` that far ahead.
    """

    callback_id: str
    arn: str
    op_id: str
    timeout_ts: float | None
    heartbeat_s: int
    heartbeat_ts: float | None

    @property
    def due_ts(self) -> float | None:
        """When the first of its timers fires."""
        timers = [ts for ts in (self.timeout_ts, self.heartbeat_ts) if ts is not None]
        return min(timers) if timers else None


@dataclass(frozen=True)
class InvokeRow:
    """A chained invoke's target: a child execution (durable) or a plain function call.

    ``payload`` is kept for a plain target, whose call is repeated if the process that
    made it died before the outcome was recorded.
    """

    arn: str
    op_id: str
    function_name: str
    child_arn: str | None
    payload: str | None
    tenant_id: str | None


@dataclass(frozen=True)
class LeaseRow:
    """Who drives the execution ``arn`` (see :mod:`durable_mp.local.owners`).

    The owner renews ``expires_ts`` while it lives; ``pid``, ``host``, ``boot_id``,
    ``pid_namespace`` and ``process_start`` let another process on the same machine see
    at once that the owner has died.
    """

    arn: str
    owner_id: str
    pid: int
    host: str
    boot_id: str
    pid_namespace: str
    process_start: float
    acquired_ts: float
    renewed_ts: float
    expires_ts: float


@dataclass(frozen=True)
class BodyRunRow:
    """One attempt of a step-like body: where it ran (``executor`` process / thread /
    inline, the process id, the thread name) and when (epoch seconds, measured there).

    durable-mp's own metadata, kept beside the AWS-format history and never inside it
    (the console draws its worker lanes from these rows).
    """

    arn: str
    op_id: str
    attempt: int
    executor: str
    pid: int
    thread: str
    started_at: float
    ended_at: float


@dataclass(frozen=True)
class CheckpointReply:
    """The last checkpoint response of an execution, kept for ClientToken idempotency."""

    client_token: str
    inbound_token: str
    output: CheckpointOutput


def reply_json(output: CheckpointOutput) -> dict[str, Any]:
    """A checkpoint response as stored for ClientToken idempotency."""
    return {
        "CheckpointToken": output.checkpoint_token,
        "NewExecutionState": {
            "Operations": [op.to_json_dict() for op in output.new_execution_state.operations],
            "NextMarker": output.new_execution_state.next_marker,
        },
    }


class Tx(Protocol):
    """Typed reads and writes inside one transaction of a :class:`Store`."""

    # executions -------------------------------------------------------------------

    def insert_execution(self, row: ExecutionRow) -> None:
        """Add an execution; :class:`DuplicateKeyError` if its ARN or name exists."""

    def save_execution(self, row: ExecutionRow) -> None:
        """Overwrite the execution ``row.arn`` (nothing happens if there is none)."""

    def load_execution(self, arn: str) -> ExecutionRow | None: ...

    def find_execution_by_name(self, name: str) -> ExecutionRow | None: ...

    def list_executions(self) -> list[ExecutionRow]:
        """Every execution, in the order they were inserted."""

    # operations -------------------------------------------------------------------

    def put_operation(self, arn: str, stored: StoredOperation, due_ts: float | None) -> None:
        """Insert or replace one operation; ``due_ts`` is when its timer fires, if any.

        A replaced operation keeps its position and its type.
        """

    def operation(self, arn: str, op_id: str) -> StoredOperation | None: ...

    def operations(self, arn: str) -> list[StoredOperation]:
        """Every operation of the execution, by position."""

    def due_operations(self, arn: str, until_ts: float) -> list[StoredOperation]:
        """Operations whose timer fires at or before ``until_ts``, by (due time, position)."""

    def earliest_due(self, arn: str) -> float | None:
        """When the first operation timer fires, if one runs."""

    def any_operation(
        self,
        arn: str,
        statuses: tuple[str, ...],
        *,
        types: tuple[str, ...] | None = None,
        changed_after: int | None = None,
    ) -> bool:
        """Whether some operation has one of ``statuses`` (and type, and newer version)."""

    def operations_page(
        self,
        arn: str,
        *,
        after_position: int = -1,
        versions: tuple[int, int] | None = None,
        limit: int | None = None,
    ) -> list[StoredOperation]:
        """Operations by position; ``versions`` = (exclusive low, inclusive high)."""

    # history ----------------------------------------------------------------------

    def append_event(self, arn: str, event_id: int, event: dict[str, Any]) -> None:
        """Append a history event; ids of an execution only grow."""

    def events(self, arn: str, *, after: int = 0) -> list[dict[str, Any]]:
        """The events with an id above ``after``, in id order."""

    def last_event_id(self, arn: str) -> int:
        """The highest event id of the execution (0 for none)."""

    # callbacks --------------------------------------------------------------------

    def put_callback(self, row: CallbackRow) -> None:
        """Insert or replace a callback; a replaced one moves to the end of the order."""

    def callback(self, callback_id: str) -> CallbackRow | None: ...

    def due_callbacks(self, arn: str, until_ts: float) -> list[CallbackRow]:
        """Callbacks of the execution with a timer due at or before ``until_ts``."""

    def earliest_callback_due(self, arn: str) -> float | None:
        """When the execution's first callback timer fires, if one runs."""

    # chained invokes --------------------------------------------------------------

    def put_invoke(self, row: InvokeRow) -> None:
        """Insert or replace the target of the chained invoke ``(row.arn, row.op_id)``."""

    def invoke_of_child(self, child_arn: str) -> InvokeRow | None:
        """The chained invoke that started the execution ``child_arn``, if one did."""

    def running_invokes(self, arn: str) -> list[InvokeRow]:
        """The execution's chained invokes whose operation is STARTED, by position."""

    # invocations ------------------------------------------------------------------

    def insert_invocation(self, row: InvocationRow) -> None:
        """Open an invocation; :class:`DuplicateKeyError` if its request id exists."""

    def open_invocation(self, arn: str) -> InvocationRow | None:
        """The execution's invocation that has not ended, if any."""

    def close_invocation(
        self, arn: str, request_id: str, ended_ts: float, error: str | None
    ) -> None: ...

    # tokens -----------------------------------------------------------------------

    def put_token(self, arn: str, sequence: int, request_id: str, version: int) -> None:
        """Record the newest token; older ones can never be used again, so they go."""

    def token_version(self, arn: str, sequence: int) -> int | None:
        """The operation version at the moment the token ``sequence`` was issued."""

    def put_reply(self, arn: str, reply: CheckpointReply) -> None:
        """Keep the execution's last checkpoint response (one per execution)."""

    def reply(self, arn: str, client_token: str, inbound_token: str) -> CheckpointOutput | None:
        """The last checkpoint response, if it answered these tokens (else None)."""

    # body runs (durable-mp's metadata) --------------------------------------------

    def put_body_runs(self, rows: list[BodyRunRow]) -> None:
        """Record body runs; a repeated (arn, op_id, attempt) replaces the earlier one."""

    def body_runs(self, arn: str) -> list[BodyRunRow]:
        """The execution's body runs, in the order they started."""

    def operation_counts(self, op_type: str) -> list[tuple[str, str, int]]:
        """(arn, status, how many) of every execution's operations of ``op_type``, by
        (arn, status)."""

    # leases -----------------------------------------------------------------------

    def lease(self, arn: str) -> LeaseRow | None: ...

    def put_lease(self, row: LeaseRow) -> None:
        """Insert or replace the lease of ``row.arn``."""

    def leases(self, owner_id: str | None = None) -> list[LeaseRow]:
        """Every lease (or those of one owner), by ARN."""

    def delete_lease(self, arn: str) -> None: ...


class Store(Protocol):
    """Where a :class:`~durable_mp.local.service.LocalService` keeps its state."""

    @property
    def path(self) -> str:
        """The SQLite file, or ``:memory:``."""

    def transaction(self, *, write: bool = True) -> AbstractContextManager[Tx]:
        """One atomic unit (see the module docstring); ``write=False`` only reads."""

    def data_version(self) -> int:
        """A number that changes whenever another process commits to the store (a
        reader's cheap way to notice other processes' writes; constant in memory)."""

    def close(self) -> None: ...
