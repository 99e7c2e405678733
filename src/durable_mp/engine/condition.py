"""wait_for_condition: poll a check until the wait strategy says stop.

The operation is a STEP with subtype WaitForCondition. Each check runs like a step body
(in a worker process by default) on the state of the previous check; the new state is
checkpointed with RETRY and the delay the strategy chose, or with SUCCEED when the
condition is met. Between checks the context waits for the service's timer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from durable_mp.config import StepConfig
from durable_mp.engine.errors import error_object_for, log_failure
from durable_mp.engine.step import execute_body
from durable_mp.exceptions import InvocationError, WaitForConditionError
from durable_mp.lambda_service import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    StepOptions,
)
from durable_mp.serdes import deserialize, serialize
from durable_mp.types import WaitForConditionCheckContext

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.engine.ids import OperationIdentifier
    from durable_mp.engine.operation_context import OperationContext
    from durable_mp.types import StepContext
    from durable_mp.waits import WaitForConditionConfig

T = TypeVar("T")


def run_wait_for_condition(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    check: Callable[[T, WaitForConditionCheckContext], T],
    config: WaitForConditionConfig[T],
) -> T:
    scope = ctx.scope
    manager = scope.manager
    op_id = identifier.operation_id
    arn = scope.durable_execution_arn

    def load(payload: str | None) -> Any:
        return None if payload is None else deserialize(config.serdes, payload, op_id, arn)

    while True:
        op = manager.get(op_id)
        if op is not None and op.status is OperationStatus.SUCCEEDED:
            return load(op.result)  # type: ignore[no-any-return]
        if op is not None and op.is_terminal:
            (
                op.error or ErrorObject.from_message("wait_for_condition failed")
            ).raise_as_operation_error(WaitForConditionError)
        if op is not None and op.status is OperationStatus.PENDING:
            due = op.step_details.next_attempt_timestamp if op.step_details else None
            manager.wait_for_operation(
                op_id, _not_pending, wake_at=due.timestamp() if due else None
            )
            continue
        if op is None or op.status is not OperationStatus.STARTED:
            scope.batcher.checkpoint_async(identifier.update(OperationAction.START))
        state = (
            load(op.result)
            if op is not None and op.result
            else load(serialize(config.serdes, config.initial_state, op_id, arn))
        )
        attempt = (op.step_details.attempt if op is not None and op.step_details else 0) + 1
        _check_once(ctx, identifier, check, config, state=state, attempt=attempt)


def _not_pending(op: Operation | None) -> bool:
    return op is not None and op.status is not OperationStatus.PENDING


def _check_once(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    check: Callable[[Any, WaitForConditionCheckContext], Any],
    config: WaitForConditionConfig[Any],
    *,
    state: Any,
    attempt: int,
) -> None:
    """Run one check and checkpoint SUCCEED, RETRY or FAIL."""
    scope = ctx.scope
    op_id = identifier.operation_id
    arn = scope.durable_execution_arn

    def body(step: StepContext) -> Any:
        return check(state, WaitForConditionCheckContext(logger=step.logger, attempt=step.attempt))

    outcome = execute_body(
        scope,
        identifier,
        body,
        attempt=attempt,
        config=StepConfig(serdes=config.serdes),
        context_logger=ctx.logger,
    )
    try:
        if outcome.error is not None:
            raise outcome.error
        payload = outcome.value
        new_state = None if payload is None else deserialize(config.serdes, payload, op_id, arn)
        decision = config.wait_strategy(new_state, attempt)
    except Exception as error:
        if isinstance(error, InvocationError) and error.is_retryable():
            raise
        log_failure(f"{identifier.label} check {attempt}", error, outcome.traceback)
        failure = error_object_for(error)
        scope.batcher.checkpoint(identifier.update(OperationAction.FAIL, error=failure))
        failure.raise_as_operation_error(WaitForConditionError)
    if not decision.should_continue:
        scope.batcher.checkpoint(identifier.update(OperationAction.SUCCEED, payload=payload))
        return
    scope.batcher.checkpoint(
        identifier.update(
            OperationAction.RETRY,
            payload=payload,
            step_options=StepOptions(next_attempt_delay_seconds=max(1, decision.delay_seconds)),
        )
    )
