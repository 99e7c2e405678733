"""Chained invoke: run another Lambda function (durable or not) and wait for its result.

START carries the JSON payload and the function name (and the trace header an
instrumentation plugin offers, as the official SDK sends it); the service runs the target
and completes the CHAINED_INVOKE operation. Until then the caller waits like for any
service operation -- suspending the execution when nothing else runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from durable_mp.exceptions import InvokeError
from durable_mp.lambda_service import (
    ChainedInvokeOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
)
from durable_mp.serdes import DEFAULT_JSON_SERDES, deserialize, serialize

if TYPE_CHECKING:
    from durable_mp.config import InvokeConfig
    from durable_mp.engine.ids import OperationIdentifier
    from durable_mp.engine.operation_context import OperationContext


def _terminal(op: Operation | None) -> bool:
    return op is not None and op.is_terminal


def run_invoke(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    function_name: str,
    payload: Any,
    config: InvokeConfig[Any, Any],
) -> Any:
    scope = ctx.scope
    manager = scope.manager
    arn = scope.durable_execution_arn
    op = manager.get(identifier.operation_id)
    if op is None:
        body = serialize(
            config.serdes_payload or DEFAULT_JSON_SERDES, payload, identifier.operation_id, arn
        )
        # Only a new START carries trace context: a replayed invoke keeps its own.
        trace_header = scope.hooks.propagation_header(identifier, function_name)
        scope.batcher.checkpoint(
            identifier.update(
                OperationAction.START,
                payload=body,
                chained_invoke_options=ChainedInvokeOptions(
                    function_name, config.tenant_id, trace_header
                ),
            )
        )
    op = manager.wait_for_operation(identifier.operation_id, _terminal)
    if op.status is OperationStatus.SUCCEEDED:
        result = op.result
        if result is None:
            return None
        return deserialize(
            config.serdes_result or DEFAULT_JSON_SERDES, result, identifier.operation_id, arn
        )
    failure = op.error or ErrorObject.from_message(
        f"{identifier.label} ended {op.status.value} without an error"
    )
    failure.raise_as_operation_error(InvokeError)
