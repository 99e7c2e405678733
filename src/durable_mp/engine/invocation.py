"""One invocation end to end: parse the event, load state, run the handler, answer.

The answer is the Lambda output object: SUCCEEDED with the JSON result (checkpointed as an
EXECUTION SUCCEED when larger than Lambda's 6 MB response limit), FAILED with an error, or
PENDING when the execution suspended. Errors that invoking again can cure (throttling,
5xx, a stale token) are raised instead, so Lambda -- or the local service -- retries.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from durable_mp import foreign_invocation
from durable_mp.engine.activity import ActiveContext, acting_as
from durable_mp.engine.batcher import CheckpointBatcher
from durable_mp.engine.errors import error_object_for
from durable_mp.engine.manager import ExecutionManager
from durable_mp.engine.operation_context import OperationContext
from durable_mp.engine.scope import ExecutionScope, InvocationSettings
from durable_mp.exceptions import (
    BackgroundThreadError,
    BotoClientError,
    ExecutionError,
    InvalidEventError,
    InvocationError,
    OrphanedChildException,
    SuspendExecution,
)
from durable_mp.invocation_input import (
    DurableExecutionInvocationInput,
    DurableExecutionInvocationInputWithClient,
)
from durable_mp.lambda_service import (
    LAMBDA_RESPONSE_SIZE_LIMIT,
    DurableExecutionInvocationOutput,
    OperationAction,
    OperationType,
    OperationUpdate,
)
from durable_mp.plugins.hooks import plugin_hooks
from durable_mp.service_client import LambdaServiceClient

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.plugins.hooks import OperationHooks
    from durable_mp.service_client import DurableServiceClient

logger = logging.getLogger(__name__)

Output = dict[str, Any]

# Operations started asynchronously and never awaited still finish (and checkpoint) before
# the invocation answers; this bounds how long a stuck one can hold it.
_TASK_JOIN_SECONDS = 600.0


def run_invocation(
    handler: Callable[[Any, OperationContext], Any],
    event: Any,
    lambda_context: Any,
    settings: InvocationSettings,
) -> Output:
    invocation, client = _parse_event(event, settings)
    arn = invocation.durable_execution_arn
    manager = ExecutionManager(arn, invocation.initial_execution_state.operations)
    try:
        _load_remaining_pages(client, manager, invocation)
    except BotoClientError as error:
        if error.is_retryable():
            raise
        logger.error("Loading the execution state failed for good: %s", error)
        return _failed(error)

    input_event = _input_event(manager, arn)
    batcher = CheckpointBatcher(client, manager, invocation.checkpoint_token)
    manager.set_refresh_hook(batcher.schedule_refresh)
    pipelined = settings.checkpointing_mode() == "pipelined"
    hooks = plugin_hooks(settings.plugins, manager, invocation.updated_operation_ids)
    if hooks.active:
        manager.observer = batcher.observer = hooks
    scope = ExecutionScope(
        manager, batcher, arn, settings, lambda_context, pipelined=pipelined, hooks=hooks
    )

    replaying = manager.has_prior_operations()
    root_context = OperationContext(scope, replaying=replaying)
    root = ActiveContext("root")
    manager.register(root)
    _start_hooks(hooks, manager, arn, lambda_context, replaying=replaying, input_event=input_event)
    batcher.start()
    try:
        try:
            with acting_as(root):
                output = _run_handler(handler, input_event, root_context, scope, root)
        finally:
            manager.finish(root)
            if not scope.tasks.join(timeout=_TASK_JOIN_SECONDS):
                logger.warning(
                    "Some asynchronous operations were still running at the end of "
                    "the invocation; their results are lost for this invocation"
                )
            batcher.stop()
    except BaseException as error:
        hooks.invocation_raised(error)
        raise
    hooks.invocation_ended(output)
    return output


def _start_hooks(
    hooks: OperationHooks,
    manager: ExecutionManager,
    arn: str,
    lambda_context: Any,
    *,
    replaying: bool,
    input_event: Any,
) -> None:
    if not hooks.active:
        return
    execution = manager.get(arn.rsplit("/", maxsplit=1)[-1])
    hooks.invocation_started(
        request_id=getattr(lambda_context, "aws_request_id", None),
        is_first_invocation=not replaying,
        execution_start_time=execution.start_timestamp if execution else None,
        execution_input=copy.deepcopy(input_event),
    )


def _parse_event(
    event: Any, settings: InvocationSettings
) -> tuple[DurableExecutionInvocationInput, DurableServiceClient]:
    if isinstance(event, DurableExecutionInvocationInputWithClient):
        return event, event.service_client
    adopted = foreign_invocation.adopt(event)  # AWS's testing library hands its own objects
    if adopted is not None:
        return adopted, adopted.service_client
    try:
        invocation = DurableExecutionInvocationInput.from_dict(event)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise InvalidEventError(
            "Unexpected payload provided to start the durable execution: the event has no "
            f"DurableExecutionArn/CheckpointToken ({type(error).__name__}: {error}). Invoke the "
            "function through the durable execution service (enable DurableConfig on the "
            "function), or run it locally with `durable-mp run`."
        ) from error
    if settings.boto3_client is not None:
        return invocation, LambdaServiceClient(settings.boto3_client)
    return invocation, LambdaServiceClient.from_environment()


def _load_remaining_pages(
    client: DurableServiceClient,
    manager: ExecutionManager,
    invocation: DurableExecutionInvocationInput,
) -> None:
    marker = invocation.initial_execution_state.next_marker
    while marker:
        page = client.get_execution_state(
            invocation.durable_execution_arn, invocation.checkpoint_token, marker
        )
        manager.apply_operations(page.operations)
        marker = page.next_marker or ""


def _input_event(manager: ExecutionManager, arn: str) -> Any:
    execution = manager.get(arn.rsplit("/", maxsplit=1)[-1])
    if execution is None or execution.operation_type is not OperationType.EXECUTION:
        return {}
    payload = execution.execution_details.input_payload if execution.execution_details else None
    if not payload or not payload.strip():
        return {}
    try:
        return json.loads(payload)
    except json.JSONDecodeError as error:
        raise InvalidEventError(
            f"The execution input is not JSON ({error}); start executions with a JSON input."
        ) from error


def _run_handler(
    handler: Callable[[Any, OperationContext], Any],
    input_event: Any,
    root_context: OperationContext,
    scope: ExecutionScope,
    root: ActiveContext,
) -> Output:
    try:
        try:
            result = handler(input_event, root_context)
            scope.manager.raise_if_stopped()
        finally:
            # The barrier at the end of an invocation: no answer runs ahead of a queued
            # (pipelined) checkpoint; a failed one fails the invocation instead.
            scope.batcher.flush()
        scope.manager.finish(root)
        serialized = json.dumps(result)
        return _succeeded(serialized, scope)
    except SuspendExecution:
        logger.debug("Suspending execution %s", scope.durable_execution_arn)
        return DurableExecutionInvocationOutput.create_pending().to_dict()
    except OrphanedChildException:
        return DurableExecutionInvocationOutput.create_pending().to_dict()
    except BackgroundThreadError as background:
        source = background.source_exception
        if isinstance(source, BotoClientError) and not source.is_retryable():
            logger.error("Durable API error that invoking again cannot fix: %s", source)
            return _failed(source)
        raise source from background
    except InvocationError as error:
        if error.is_retryable():
            logger.warning("Invocation failed (Lambda will invoke again): %s", error)
            raise
        return _failed(error)
    except ExecutionError as error:
        logger.error("Execution failed: %s", error)
        return _failed(error)
    except Exception as error:
        logger.info(
            "Handler raised %s: %s\n%s",
            type(error).__name__,
            error,
            "".join(traceback.format_exception(error)).rstrip(),
        )
        return _failed(error, scope)


def _succeeded(serialized: str, scope: ExecutionScope) -> Output:
    if len(serialized) <= LAMBDA_RESPONSE_SIZE_LIMIT:
        return DurableExecutionInvocationOutput.create_succeeded(serialized).to_dict()
    logger.debug(
        "Result of %d bytes exceeds the Lambda response limit; checkpointing it", len(serialized)
    )
    _checkpoint_outcome(scope, OperationAction.SUCCEED, payload=serialized)
    return DurableExecutionInvocationOutput.create_succeeded("").to_dict()


def _failed(error: BaseException, scope: ExecutionScope | None = None) -> Output:
    failure = error_object_for(error)
    output = DurableExecutionInvocationOutput.create_failed(failure).to_dict()
    if scope is None or len(json.dumps(output)) <= LAMBDA_RESPONSE_SIZE_LIMIT:
        return output
    _checkpoint_outcome(scope, OperationAction.FAIL, error=failure)
    return DurableExecutionInvocationOutput.create_failed(None).to_dict()


def _checkpoint_outcome(scope: ExecutionScope, action: OperationAction, **fields: Any) -> None:
    """An outcome too large for Lambda's response goes in an EXECUTION checkpoint."""
    scope.batcher.checkpoint(
        OperationUpdate(
            operation_id=f"execution-result-{int(time.time() * 1000)}",
            operation_type=OperationType.EXECUTION,
            action=action,
            **fields,
        )
    )
