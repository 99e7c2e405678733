"""The wait operation: checkpoint START, then wait for the service's timer.

Waiting deregisters the caller; with nothing else active the invocation suspends (PENDING)
and the service invokes again once the timer has fired.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from durable_mp.engine.manager import Completion
from durable_mp.futures import DurableFuture
from durable_mp.lambda_service import Operation, OperationAction, WaitOptions

if TYPE_CHECKING:
    from durable_mp.engine.ids import OperationIdentifier
    from durable_mp.engine.operation_context import OperationContext


def _finished(op: Operation | None) -> bool:
    return op is not None and op.is_terminal


def run_wait(ctx: OperationContext, identifier: OperationIdentifier, seconds: int) -> None:
    """``ctx.wait``: the caller waits (inactive) until the timer has fired."""
    wake_at = _start(ctx, identifier, seconds)
    if wake_at is not None:
        ctx.scope.manager.wait_for_operation(identifier.operation_id, _finished, wake_at=wake_at)


def start_wait(
    ctx: OperationContext, identifier: OperationIdentifier, seconds: int
) -> DurableFuture[None]:
    """``ctx.wait_async``: a future that resolves when the timer has fired."""
    scope = ctx.scope
    completion: Completion[None] = Completion(identifier.label)
    scope.completions[identifier.operation_id] = completion
    wake_at = _start(ctx, identifier, seconds)
    if wake_at is None:
        scope.manager.complete(completion, value=None)
    else:
        scope.manager.complete_when(
            identifier.operation_id,
            _finished,
            completion,
            lambda _op: (None, None),
            wake_at=wake_at,
        )
    return DurableFuture(scope.manager, completion, identifier.operation_id, identifier.label)


def _start(ctx: OperationContext, identifier: OperationIdentifier, seconds: int) -> float | None:
    """Checkpoint START if new; the Unix time the timer ends, or None if it has."""
    manager = ctx.scope.manager
    op = manager.get(identifier.operation_id)
    if _finished(op):
        return None
    if op is None:
        ctx.scope.batcher.checkpoint(
            identifier.update(OperationAction.START, wait_options=WaitOptions(seconds))
        )
        op = manager.get(identifier.operation_id)
        if _finished(op):
            return None
    details = op.wait_details if op is not None else None
    end = details.scheduled_end_timestamp if details is not None else None
    return end.timestamp() if end is not None else time.time() + seconds
