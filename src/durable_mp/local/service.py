"""LocalService: the durable execution service, in-process and backed by SQLite.

It implements the two data-plane calls the SDK makes
(:class:`~durable_mp.service_client.DurableServiceClient`) with the real service's
operation state machine, validation and checkpoint-token discipline, plus the control
plane a runner needs: start executions, begin and complete invocations, fire timers,
read the history in ``GetDurableExecutionHistory`` format.

Each call is one SQLite transaction, so a process killed at any instant resumes from the
last acknowledged checkpoint. One process drives an execution at a time; any number may
read it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from durable_mp.exceptions import CheckpointError, GetExecutionStateError
from durable_mp.lambda_service import (
    MAX_OPERATION_PAYLOAD_BYTES,
    CheckpointOutput,
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StateOutput,
)
from durable_mp.local import checkpoints, history, invocations, lifecycle
from durable_mp.local.clock import Clock, RealClock, from_epoch
from durable_mp.local.errors import (
    ExecutionNameConflictError,
    ExecutionNotFoundError,
    ExecutionNotRunningError,
    execution_not_found,
)
from durable_mp.local.journal import Journal
from durable_mp.local.records import (
    EXECUTION_NAME,
    RUNNING,
    ExecutionRecord,
    Invocation,
    execution_arn,
)
from durable_mp.local.store import CheckpointReply, ExecutionRow, Store
from durable_mp.local.validation import MAX_WAIT_SECONDS

if TYPE_CHECKING:
    import datetime
    import os

logger = logging.getLogger(__name__)

HistoryListener = Callable[[str, dict[str, Any]], object]  # the return value is ignored


class LocalService:
    """The embedded durable execution service.

    ``path`` is the SQLite file (created 0600), or None for an in-memory store.
    ``page_size`` bounds every page of operations it returns (the invocation's first
    page, a checkpoint's ``NewExecutionState``, ``GetDurableExecutionState``).
    ``invocation_retry_delay`` is the backoff before a failed invocation is retried.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        page_size: int = 100,
        region: str = "local",
        account_id: str = "000000000000",
        invocation_retry_delay: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._store = Store(path)
        self._page_size = page_size
        self.region = region
        self.account_id = account_id
        self._retry_delay = invocation_retry_delay
        self._clock: Clock = clock or RealClock()
        self._listeners: list[HistoryListener] = []
        self._listeners_lock = threading.Lock()

    @property
    def path(self) -> str:
        return self._store.path

    # -- data plane (DurableServiceClient) ---------------------------------------------

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        """Apply a batch of updates atomically; answer with a new token and the delta.

        ``NewExecutionState`` holds every operation changed since ``checkpoint_token``
        was issued (this batch, and timers fired meanwhile), in creation order, paged.
        """
        arn = durable_execution_arn
        # What the boto3 path would put on the wire (empty strings are dropped there).
        wire = [OperationUpdate.from_dict(update.to_dict()) for update in updates]
        failure: CheckpointError | None = None
        with self._change(arn, lambda: execution_not_found(CheckpointError, arn)) as journal:
            cached = journal.tx.reply(arn)
            if (
                client_token
                and cached is not None
                and (cached.client_token, cached.inbound_token) == (client_token, checkpoint_token)
            ):
                return CheckpointOutput.from_dict(cached.reply)
            lifecycle.fire_due_timers(journal, journal.now)
            try:
                output = checkpoints.apply(journal, checkpoint_token, wire, self._page_size)
            except CheckpointError as error:
                failure = error  # the fired timers still commit
            else:
                if client_token:
                    journal.tx.put_reply(
                        arn,
                        CheckpointReply(client_token, checkpoint_token, checkpoints.reply(output)),
                    )
        if failure is not None:
            raise failure
        return output

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput:
        """One page of operations: from the start, or where ``next_marker`` points.

        A marker from a checkpoint response continues that checkpoint's delta; any
        other marker continues the full listing. Only the current token is accepted.
        """
        arn = durable_execution_arn
        with self._store.transaction(write=False) as tx:
            row = tx.load_execution(arn)
            if row is None:
                raise execution_not_found(GetExecutionStateError, arn)
            return checkpoints.read_state(
                tx, row, checkpoint_token, next_marker, min(max_items, self._page_size)
            )

    # -- control plane -----------------------------------------------------------------

    def start_execution(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        execution_timeout_seconds: int = 86400,
    ) -> ExecutionRecord:
        """Create an execution (RUNNING, never invoked yet); its ARN names it from now on."""
        name = uuid.uuid4().hex if name is None else name
        if not EXECUTION_NAME.fullmatch(name):
            raise ValueError(
                f"Invalid execution name {name!r}: use 1-64 characters of [a-zA-Z0-9_-]."
            )
        if not function_name or "/" in function_name:
            raise ValueError(f"Invalid function name {function_name!r}.")
        if not 1 <= execution_timeout_seconds <= MAX_WAIT_SECONDS:
            raise ValueError(f"execution_timeout_seconds must be between 1 and {MAX_WAIT_SECONDS}.")
        if input_payload is not None and len(input_payload.encode()) > MAX_OPERATION_PAYLOAD_BYTES:
            raise ValueError(f"The input is larger than {MAX_OPERATION_PAYLOAD_BYTES} bytes.")
        execution_id = str(uuid.uuid4())
        arn = execution_arn(self.region, self.account_id, function_name, name, execution_id)
        now = self._clock.now()
        row = ExecutionRow(
            arn=arn,
            name=name,
            function_name=function_name,
            execution_op_id=execution_id,
            status=RUNNING,
            input_payload=input_payload,
            result=None,
            error=None,
            start_ts=now.timestamp(),
            end_ts=None,
            timeout_s=execution_timeout_seconds,
        )
        try:
            with self._store.transaction() as tx:
                if tx.find_execution_by_name(name) is not None:
                    raise _name_conflict(name)
                tx.insert_execution(row)
                journal = Journal(tx, row, now)
                journal.put(
                    Operation(
                        operation_id=execution_id,
                        operation_type=OperationType.EXECUTION,
                        status=OperationStatus.STARTED,
                        name=name,
                        start_timestamp=now,
                        execution_details=ExecutionDetails(input_payload),
                    )
                )
                row.seen_version = row.version
                journal.record(
                    history.execution_started(
                        execution_id, name, input_payload, execution_timeout_seconds, now
                    )
                )
                journal.save()
        except sqlite3.IntegrityError as error:  # another process took the name meanwhile
            raise _name_conflict(name) from error
        self._notify(arn, journal.appended)
        return _record(row)

    def get_execution(self, arn: str) -> ExecutionRecord:
        with self._store.transaction(write=False) as tx:
            return _record(self._row(tx.load_execution(arn), arn))

    def find_execution(self, name: str) -> ExecutionRecord | None:
        with self._store.transaction(write=False) as tx:
            row = tx.find_execution_by_name(name)
        return None if row is None else _record(row)

    def list_executions(self) -> list[ExecutionRecord]:
        with self._store.transaction(write=False) as tx:
            return [_record(row) for row in tx.list_executions()]

    def get_operations(self, arn: str) -> list[Operation]:
        """Every operation of the execution, in creation order."""
        with self._store.transaction(write=False) as tx:
            self._row(tx.load_execution(arn), arn)
            return [stored.operation for stored in tx.operations(arn)]

    def get_history(self, arn: str, *, include_execution_data: bool = True) -> list[dict[str, Any]]:
        """The history events, as boto3's ``get_durable_execution_history`` returns them.

        ``EventTimestamp`` (and the other timestamps) are ``datetime`` objects; pass the
        list to :func:`~durable_mp.local.history.history_to_json` for JSON.
        """
        with self._store.transaction(write=False) as tx:
            self._row(tx.load_execution(arn), arn)
            stored = tx.events(arn)
        return [
            history.present(event, include_execution_data=include_execution_data)
            for event in stored
        ]

    def begin_invocation(self, arn: str) -> Invocation:
        """Open the next invocation of a RUNNING execution.

        An invocation that was begun but never completed (its process was killed) is
        closed first, as a failed invocation with ``Runtime.ExitError``.
        """
        invocation: Invocation | None = None
        with self._change(arn) as journal:
            self._abandon_open(journal)
            lifecycle.fire_due_timers(journal, journal.now)
            if journal.row.status == RUNNING:
                invocation = invocations.begin(journal, self._page_size)
            status = journal.row.status
        if invocation is None:
            raise ExecutionNotRunningError(
                f"Execution {arn} has ended ({status}); it cannot be invoked again."
            )
        return invocation

    def complete_invocation(
        self,
        invocation: Invocation,
        *,
        output: Mapping[str, Any] | None = None,
        error: ErrorObject | None = None,
    ) -> ExecutionRecord:
        """Apply the handler's output dict, or the error the invocation failed with."""
        if (output is None) == (error is None):
            raise ValueError("complete_invocation needs exactly one of output= or error=")
        with self._change(invocation.arn) as journal:
            current = journal.tx.open_invocation(invocation.arn)
            if current is None or current.request_id != invocation.request_id:
                logger.warning(
                    "Invocation %s of %s was already closed (its process was presumed dead); "
                    "its outcome is ignored.",
                    invocation.request_id,
                    invocation.arn,
                )
            else:
                invocations.complete(journal, current, output, error, self._retry_delay)
            record = _record(journal.row)
        return record

    def recover_interrupted_invocation(self, arn: str) -> bool:
        """Close an invocation whose process died; whether there was one.

        It counts as a failed invocation, but the retry is due at once: whoever calls
        this is taking the execution over after a crash (the runner's ``drive`` does).
        Never call it while another process is still running that invocation.
        """
        with self._change(arn) as journal:
            return self._abandon_open(journal)

    def _abandon_open(self, journal: Journal) -> bool:
        interrupted = journal.tx.open_invocation(journal.arn)
        if interrupted is None:
            return False
        logger.warning(
            "Invocation %s of %s never completed; recording it as failed (Runtime.ExitError).",
            interrupted.request_id,
            journal.arn,
        )
        invocations.abandon(journal, interrupted, retry_delay=0.0)
        return True

    def fire_due_timers(self, arn: str, *, as_of: datetime.datetime | None = None) -> bool:
        """Complete waits and ready step retries due by ``as_of`` (default now).

        Passing a future ``as_of`` fast-forwards: the timers fire now, with real
        timestamps, as if that moment had come. Also fires the execution timeout and a
        pending invocation retry. Returns whether anything changed.
        """
        with self._change(arn) as journal:
            return lifecycle.fire_due_timers(journal, as_of or journal.now)

    def next_wakeup(self, arn: str) -> datetime.datetime | None:
        """When the next timer, invocation retry or the timeout comes due (None if ended)."""
        with self._store.transaction(write=False) as tx:
            return lifecycle.next_wakeup(tx, self._row(tx.load_execution(arn), arn))

    def has_work(self, arn: str) -> bool:
        """Whether an invocation should run now.

        True when the execution was never invoked, an invocation was interrupted, a
        failed invocation's retry is due, or something changed that no invocation has
        seen yet (a wait fired, a step retry became READY).
        """
        with self._store.transaction(write=False) as tx:
            row = self._row(tx.load_execution(arn), arn)
            if row.status != RUNNING:
                return False
            if row.invocation_count == 0 or tx.open_invocation(arn) is not None:
                return True
            if row.retry_at is not None:
                return row.retry_at <= self._clock.now().timestamp()
            return row.version > row.seen_version or invocations.ready_since_begin(
                tx, arn, row.begin_version
            )

    def add_listener(self, listener: HistoryListener) -> None:
        """Call ``listener(arn, event)`` for every history event appended from now on."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> LocalService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    @contextmanager
    def _change(
        self, arn: str, missing: Callable[[], Exception] | None = None
    ) -> Iterator[Journal]:
        """One transaction changing one execution; listeners hear of it after commit."""
        with self._store.transaction() as tx:
            row = tx.load_execution(arn)
            if row is None and missing is not None:
                raise missing()
            journal = Journal(tx, self._row(row, arn), self._clock.now())
            yield journal
            journal.save()
        self._notify(arn, journal.appended)

    def _row(self, row: ExecutionRow | None, arn: str) -> ExecutionRow:
        if row is None:
            where = "the in-memory store" if self.path == ":memory:" else f"store {self.path}"
            raise ExecutionNotFoundError(arn, where)
        return row

    def _notify(self, arn: str, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        with self._listeners_lock:
            listeners = list(self._listeners)
        for event in events:
            for listener in listeners:
                try:
                    listener(arn, history.present(event))
                except Exception:
                    logger.exception("A history listener failed; the event is still recorded")


def _record(row: ExecutionRow) -> ExecutionRecord:
    start = from_epoch(row.start_ts)
    assert start is not None
    return ExecutionRecord(
        arn=row.arn,
        name=row.name,
        function_name=row.function_name,
        status=row.status,
        input_payload=row.input_payload,
        result=row.result,
        error=lifecycle.stored_error(row),
        start_timestamp=start,
        end_timestamp=from_epoch(row.end_ts),
        invocation_count=row.invocation_count,
    )


def _name_conflict(name: str) -> ExecutionNameConflictError:
    return ExecutionNameConflictError(
        f"An execution named {name!r} already exists in this store; choose another name, "
        "or omit it to get a generated one."
    )
