"""The wait operation: checkpoint START, then wait for the service's timer.

Waiting deregisters the caller; with nothing else active the invocation suspends (PENDING)
and the service invokes again once the timer has fired.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from durable_mp.lambda_service import Operation, OperationAction, WaitOptions

if TYPE_CHECKING:
    from durable_mp.context import DurableContext
    from durable_mp.engine.ids import OperationIdentifier


def _finished(op: Operation | None) -> bool:
    return op is not None and op.is_terminal


def run_wait(ctx: DurableContext, identifier: OperationIdentifier, seconds: int) -> None:
    manager = ctx.scope.manager
    op = manager.get(identifier.operation_id)
    if _finished(op):
        return
    if op is None:
        ctx.scope.batcher.checkpoint(
            identifier.update(OperationAction.START, wait_options=WaitOptions(seconds))
        )
        op = manager.get(identifier.operation_id)
    details = op.wait_details if op is not None else None
    end = details.scheduled_end_timestamp if details is not None else None
    manager.wait_for_operation(
        identifier.operation_id,
        _finished,
        wake_at=end.timestamp() if end is not None else time.time() + seconds,
    )
