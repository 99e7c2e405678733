"""One unit of change to one execution, inside one store transaction.

Every change to an operation bumps the execution's version and stamps the operation
with it; every history event gets the next EventId. Keeping both counters here means no
code path can change an operation without it showing up in deltas, or append an event
out of order. A change that reaches another execution (a chained invoke creating its
child, a child completing its parent's operation) goes through a linked journal in the
same transaction, so both sides commit together or not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import Operation
from durable_mp.local.store import ExecutionRow, StoredOperation, Tx
from durable_mp.local.transitions import due_at

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
        operation = Operation.from_json_dict(operation.to_json_dict())
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
