"""One unit of change to one execution, inside one store transaction.

Every change to an operation bumps the execution's version and stamps the operation
with it; every history event gets the next EventId. Keeping both counters here means no
code path can change an operation without it showing up in deltas, or append an event
out of order. A change that reaches another execution (a chained invoke creating its
child, a child completing its parent's operation) goes through a linked journal in the
same transaction, so both sides commit together or not at all.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import ErrorObject, Operation, from_millis, to_millis
from durable_mp.local.store import ExecutionRow, StoredOperation, Tx
from durable_mp.local.transitions import due_at, evolve

if TYPE_CHECKING:
    import datetime

    from durable_mp.local.history import HistoryEvent


class Journal:
    """Changes to the execution ``row``; the caller saves and commits."""

    def __init__(self, tx: Tx, row: ExecutionRow, now: datetime.datetime) -> None:
        self.tx = tx
        self.row = row
        self.now = now
        self.appended: list[dict[str, Any]] = []
        self.linked: list[Journal] = []

    @property
    def arn(self) -> str:
        return self.row.arn

    def operation(self, op_id: str) -> StoredOperation | None:
        return self.tx.operation(self.row.arn, op_id)

    def put(self, operation: Operation) -> None:
        """Store the operation's new state under the next version."""
        # The stored form has millisecond timestamps; timers must agree with it exactly.
        operation = stored_form(operation)
        existing = self.tx.operation(self.row.arn, operation.operation_id)
        if existing is None:
            self.row.op_count += 1
            position = self.row.op_count
        else:
            position = existing.position
        self.row.version += 1
        due = due_at(operation)
        self.tx.put_operation(
            self.row.arn,
            StoredOperation(operation, position, self.row.version),
            None if due is None else due.timestamp(),
        )

    def record(self, event: HistoryEvent) -> None:
        self.row.event_count += 1
        stored = event.to_stored(self.row.event_count)
        self.tx.append_event(self.row.arn, self.row.event_count, stored)
        self.appended.append(stored)

    def link(self, journal: Journal) -> Journal:
        """Save ``journal`` (another execution's) with this one."""
        self.linked.append(journal)
        return journal

    def link_row(self, row: ExecutionRow) -> Journal:
        """A journal for another execution, in this transaction, saved with this one."""
        return self.link(Journal(self.tx, row, self.now))

    def all(self) -> list[Journal]:
        """This journal and every journal linked to it, depth first."""
        return [self, *(inner for journal in self.linked for inner in journal.all())]

    def save(self) -> None:
        for journal in self.all():
            journal.tx.save_execution(journal.row)


def stored_form(operation: Operation) -> Operation:
    """``Operation.from_json_dict(operation.to_json_dict())``: the operation as it reads
    back from the store (millisecond UTC timestamps, empty strings and empty errors as
    None). The common case -- an operation the state machine built from stored
    operations and normalized updates, with timestamps still in microseconds -- only
    needs its timestamps cut, and gets just that."""
    if not _only_timestamps_differ(operation):
        return Operation.from_json_dict(operation.to_json_dict())
    changes: dict[str, Any] = {}
    for name in ("start_timestamp", "end_timestamp"):
        value = getattr(operation, name)
        if value is not None:
            stored = _millis(value)
            if stored is not value:
                changes[name] = stored
    step = operation.step_details
    if step is not None and step.next_attempt_timestamp is not None:
        stored = _millis(step.next_attempt_timestamp)
        if stored is not step.next_attempt_timestamp:
            changes["step_details"] = replace(step, next_attempt_timestamp=stored)
    wait = operation.wait_details
    if wait is not None and wait.scheduled_end_timestamp is not None:
        stored = _millis(wait.scheduled_end_timestamp)
        if stored is not wait.scheduled_end_timestamp:
            changes["wait_details"] = replace(wait, scheduled_end_timestamp=stored)
    return evolve(operation, **changes) if changes else operation


def _millis(value: datetime.datetime) -> datetime.datetime:
    """The timestamp as stored (``from_millis(to_millis(value))``); ``value`` itself when
    that changes nothing."""
    stored = from_millis(to_millis(value))
    assert stored is not None
    return value if stored == value and value.tzinfo is stored.tzinfo else stored


def _only_timestamps_differ(operation: Operation) -> bool:
    """Whether the JSON round trip would change nothing but timestamps."""
    if operation.parent_id == "" or operation.name == "" or operation.sub_type == "":
        return False
    step = operation.step_details
    if step is not None and (type(step.attempt) is not int or _empty(step.error)):
        return False
    context = operation.context_details
    if context is not None and (
        type(context.replay_children) is not bool or _empty(context.error)
    ):
        return False
    callback = operation.callback_details
    if callback is not None and _empty(callback.error):
        return False
    invoke = operation.chained_invoke_details
    return invoke is None or not _empty(invoke.error)


def _empty(error: ErrorObject | None) -> bool:
    """An error with no field set reads back as no error at all."""
    return error is not None and not error.to_dict()
