"""Execution-level changes: timers coming due, the execution timing out, ending.

Timers (waits, step retries, callback timeouts and heartbeats) are fired lazily: at every
checkpoint, when an invocation begins, and when the runner asks (``as_of`` lets it fire
the earliest timer early to fast-forward). Recorded timestamps are always real; only the
decision "is it due" uses ``as_of``. An execution's end reaches the chained invoke that
started it, if one did.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from durable_mp.lambda_service import ErrorObject, OperationStatus
from durable_mp.local import callbacks, history, invoke
from durable_mp.local.clock import from_epoch
from durable_mp.local.records import FAILED, RUNNING, STOPPED, SUCCEEDED, TIMED_OUT
from durable_mp.local.transitions import due_at, fire

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable

    from durable_mp.lambda_service import Operation
    from durable_mp.local.journal import Journal
    from durable_mp.local.store import ExecutionRow, Tx


def fire_due_timers(
    journal: Journal,
    as_of: datetime.datetime,
    *,
    timeout_as_of: datetime.datetime | None = None,
) -> bool:
    """Fire everything due by ``as_of`` in time order; whether anything changed.

    The execution times out once ``timeout_as_of`` (default ``as_of``) reaches its
    deadline: passing the real time there fast-forwards timers but not the timeout.
    """
    row, tx = journal.row, journal.tx
    if row.status != RUNNING:
        return False
    changed = False
    deadline = deadline_of(row)
    until = as_of.timestamp()
    timed_out = deadline <= (until if timeout_as_of is None else timeout_as_of.timestamp())
    due: list[tuple[float, int, Callable[[], None]]] = []
    for stored in tx.due_operations(row.arn, until):
        when = due_at(stored.operation)
        if when is not None:
            due.append((when.timestamp(), stored.position, _firing(journal, stored.operation)))
    for callback in tx.due_callbacks(row.arn, until):
        if callback.due_ts is not None:
            due.append((callback.due_ts, -1, partial(callbacks.fire, journal, callback)))
    for due_ts, _, fire_one in sorted(due, key=lambda item: item[:2]):
        if timed_out and deadline <= due_ts:
            break
        fire_one()
        changed = True
    if timed_out:
        end_execution(
            journal,
            TIMED_OUT,
            error=ErrorObject.from_message(f"Execution timed out after {row.timeout_s} seconds."),
        )
        return True
    if row.retry_at is not None and 0 < row.retry_at <= until:
        row.retry_at = 0.0  # the invocation retry is due now
        changed = True
    return changed


def _firing(journal: Journal, operation: Operation) -> Callable[[], None]:
    def fire_operation() -> None:
        transition = fire(operation, journal.now)
        journal.put(transition.operation)
        for event in transition.events:
            journal.record(event)

    return fire_operation


def next_wakeup(tx: Tx, row: ExecutionRow) -> datetime.datetime | None:
    """The earliest moment something becomes due: a timer, a retry, the timeout."""
    if row.status != RUNNING:
        return None
    candidates = [deadline_of(row)]
    for earliest in (tx.earliest_due(row.arn), tx.earliest_callback_due(row.arn)):
        if earliest is not None:
            candidates.append(earliest)
    if row.retry_at is not None:
        candidates.append(row.retry_at)
    return from_epoch(min(candidates))


def next_skippable(
    tx: Tx, row: ExecutionRow, *, skip_timeout: bool = True
) -> datetime.datetime | None:
    """The moment a fast-forwarding runner may jump to now, or None: wait in real time.

    Waits, step retries and invocation retries may be skipped ahead. A callback's timers
    run in real time (an external system is meant to beat them), so nothing is skipped
    past one; nor past the execution timeout while a callback or a chained invoke is
    open, since its end can still arrive from outside the timers. With
    ``skip_timeout=False`` the execution timeout is never a moment to jump to.
    """
    if row.status != RUNNING:
        return None
    callback_due = tx.earliest_callback_due(row.arn)
    candidates = [ts for ts in (tx.earliest_due(row.arn), row.retry_at) if ts is not None]
    if skip_timeout and not tx.any_operation(
        row.arn, ("STARTED",), types=("CALLBACK", "CHAINED_INVOKE")
    ):
        candidates.append(deadline_of(row))
    if not candidates:
        return None
    earliest = min(candidates)
    if callback_due is not None and callback_due <= earliest:
        return None
    return from_epoch(earliest)


def deadline_of(row: ExecutionRow) -> float:
    return row.start_ts + row.timeout_s


_OPERATION_STATUS = {
    SUCCEEDED: OperationStatus.SUCCEEDED,
    FAILED: OperationStatus.FAILED,
    TIMED_OUT: OperationStatus.TIMED_OUT,
    STOPPED: OperationStatus.STOPPED,
}


def end_execution(
    journal: Journal,
    status: str,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
    defer_event: bool = False,
) -> None:
    """End the execution; ``defer_event`` leaves its history event to the invocation's end."""
    row = journal.row
    row.status = status
    row.result = result
    row.error = None if error is None else json.dumps(error.to_dict())
    row.end_ts = journal.now.timestamp()
    row.retry_at = None
    stored = journal.operation(row.execution_op_id)
    if stored is not None:
        journal.put(
            replace(stored.operation, status=_OPERATION_STATUS[status], end_timestamp=journal.now)
        )
    row.closing = 1
    if not defer_event:
        record_end(journal)


def record_end(journal: Journal) -> None:
    """Append the execution's terminal history event (once)."""
    row = journal.row
    if not row.closing:
        return
    row.closing = 0
    error = stored_error(row)
    op_id, name, now = row.execution_op_id, row.name, journal.now
    if row.status == SUCCEEDED:
        journal.record(history.execution_succeeded(op_id, name, row.result, now))
    elif row.status == FAILED:
        journal.record(history.execution_failed(op_id, name, error, now))
    elif row.status == TIMED_OUT:
        journal.record(history.execution_timed_out(op_id, name, error, now))
    else:
        journal.record(history.execution_stopped(op_id, name, error, now))
    invoke.child_ended(journal)


def stored_error(row: ExecutionRow) -> ErrorObject | None:
    return None if row.error is None else ErrorObject.from_dict(json.loads(row.error))
