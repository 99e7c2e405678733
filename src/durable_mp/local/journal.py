"""One unit of change to one execution, inside one store transaction.

Every change to an operation bumps the execution's version and stamps the operation
with it; every history event gets the next EventId. Keeping both counters here means no
code path can change an operation without it showing up in deltas, or append an event
out of order.
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

    def save(self) -> None:
        self.tx.save_execution(self.row)
