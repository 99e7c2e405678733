"""Child contexts: CONTEXT START, run the function in a child context, SUCCEED/FAIL.

A result larger than 256 KB is not checkpointed: SUCCEED carries a summary (or nothing)
with ReplayChildren, and replay re-runs the function, whose own operations replay from
their checkpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from durable_mp.engine.errors import error_object_for
from durable_mp.exceptions import (
    ChildContextError,
    ExecutionError,
    InvocationError,
)
from durable_mp.lambda_service import (
    CHECKPOINT_SIZE_LIMIT_BYTES,
    ContextOptions,
    ErrorObject,
    OperationAction,
    OperationStatus,
)
from durable_mp.serdes import deserialize, serialize

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.config import ChildConfig
    from durable_mp.engine.ids import OperationIdentifier
    from durable_mp.engine.operation_context import OperationContext

T = TypeVar("T")


def run_child(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    func: Callable[[OperationContext], T],
    config: ChildConfig[T] | None,
) -> T:
    scope = ctx.scope
    arn = scope.durable_execution_arn
    serdes = config.serdes if config else None
    is_virtual = bool(config and config.is_virtual)
    op = scope.manager.get(identifier.operation_id)
    replay_children = bool(op and op.context_details and op.context_details.replay_children)

    if op is not None and op.status is OperationStatus.SUCCEEDED and not replay_children:
        stored = op.result
        replayed: Any = (
            None if stored is None else deserialize(serdes, stored, identifier.operation_id, arn)
        )
        return replayed  # type: ignore[no-any-return]
    if op is not None and op.status is OperationStatus.FAILED:
        failure = op.error or ErrorObject.from_message(f"{identifier.label} failed")
        failure.raise_as_operation_error(ChildContextError)
    if op is None and not is_virtual:
        scope.batcher.checkpoint_async(identifier.update(OperationAction.START))

    child = ctx.child(identifier, is_virtual=is_virtual)
    if op is None and not is_virtual:
        child.stop_replaying()  # a branch never checkpointed before is new work
    hooks = scope.hooks
    try:
        with hooks.user_function(
            identifier, attempt=None if op else 1, is_replay_children=replay_children
        ):
            raw = func(child)
        payload = serialize(serdes, raw, identifier.operation_id, arn)
        value: Any = (
            None if payload is None else deserialize(serdes, payload, identifier.operation_id, arn)
        )
        if is_virtual or replay_children:
            hooks.context_returned(
                identifier, OperationStatus.SUCCEEDED, is_replayed=replay_children or op is not None
            )
            return value  # type: ignore[no-any-return]
        scope.refuse_orphan((*ctx.lineage, identifier.operation_id))
        checkpointed, replay = payload, False
        if payload is not None and len(payload) > CHECKPOINT_SIZE_LIMIT_BYTES:
            summarize = config.summary_generator if config else None
            checkpointed, replay = (summarize(raw) if summarize else ""), True
        scope.batcher.checkpoint(
            identifier.update(
                OperationAction.SUCCEED,
                payload=checkpointed,
                context_options=ContextOptions(replay_children=replay),
            )
        )
        return value  # type: ignore[no-any-return]
    except ExecutionError:
        raise  # non-determinism and other execution-ending errors pass through unchanged
    except Exception as error:
        if isinstance(error, InvocationError) and error.is_retryable():
            raise
        failure = error_object_for(error)
        scope.refuse_orphan((*ctx.lineage, identifier.operation_id))
        if not is_virtual:
            scope.batcher.checkpoint(identifier.update(OperationAction.FAIL, error=failure))
        else:
            hooks.context_returned(
                identifier, OperationStatus.FAILED, error=failure, is_replayed=op is not None
            )
        failure.raise_as_operation_error(ChildContextError)
