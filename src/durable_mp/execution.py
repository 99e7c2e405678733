"""The ``@durable_execution`` decorator: turns ``handler(event, ctx)`` into a Lambda handler."""

from __future__ import annotations

from durable_mp.init_workers import start_workers_during_init, start_workers_early

# A handler module is being imported: the worker pool starts now, in the background, so its
# fork server boots while the rest of this module and of the handler module import.
start_workers_early()

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

from durable_mp.config import (
    CheckpointingMode,
    StepExecutorName,
    validate_checkpointing,
    validate_executor,
)
from durable_mp.context import DurableContext
from durable_mp.engine.invocation import run_invocation
from durable_mp.engine.scope import InvocationSettings
from durable_mp.exceptions import ValidationError
from durable_mp.invocation_input import (
    DurableExecutionInvocationInput,
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
)
from durable_mp.lambda_service import (
    DurableExecutionInvocationOutput,
    InvocationStatus,
    Operation,
    OperationUpdate,
)
from durable_mp.plugins.discovery import load_configured_plugins

if TYPE_CHECKING:
    from durable_mp.engine.operation_context import OperationContext
    from durable_mp.plugin import DurableInstrumentationPluginFactory

__all__ = [
    "DurableExecutionInvocationInput",
    "DurableExecutionInvocationInputWithClient",
    "DurableExecutionInvocationOutput",
    "InitialExecutionState",
    "InvocationStatus",
    "Operation",
    "OperationUpdate",
    "durable_execution",
]

UserHandler = Callable[[Any, "DurableContext"], Any]
LambdaHandler = Callable[[Any, Any], dict[str, Any]]


@overload
def durable_execution(func: UserHandler) -> LambdaHandler: ...


@overload
def durable_execution(
    func: None = None,
    *,
    boto3_client: Any = None,
    step_executor: StepExecutorName | None = None,
    workers: int | None = None,
    max_workers: int | None = None,
    checkpointing: CheckpointingMode | None = None,
    plugins: list[DurableInstrumentationPluginFactory] | None = None,
) -> Callable[[UserHandler], LambdaHandler]: ...


def durable_execution(
    func: UserHandler | None = None,
    *,
    boto3_client: Any = None,
    step_executor: StepExecutorName | None = None,
    workers: int | None = None,
    max_workers: int | None = None,
    checkpointing: CheckpointingMode | None = None,
    plugins: list[DurableInstrumentationPluginFactory] | None = None,
) -> LambdaHandler | Callable[[UserHandler], LambdaHandler]:
    """Make ``func(event, ctx)`` a durable Lambda handler.

    Args:
        boto3_client: a ``lambda`` client for the durable execution API (default: one
            built from the environment, honouring ``AWS_ENDPOINT_URL_LAMBDA``).
        step_executor: where step bodies run unless a step says otherwise:
            ``"process"`` (default), ``"thread"`` or ``"inline"``.
        workers: worker processes in the pool (default: the CPUs this process may use;
            on Lambda, the vCPUs its memory size buys).
        max_workers: hard cap on worker processes, counting the extra ones started while
            step bodies wait on other operations (default ``max(4 * workers,
            workers + 8)``, or ``DURABLE_MP_MAX_WORKERS``). Hitting it fails the step with
            ``WorkerPoolError`` instead of hanging.
        checkpointing: ``"synchronous"`` (default: every step waits for its SUCCEED to be
            durable) or ``"pipelined"`` (an at-least-once step's SUCCEED is queued and the
            handler goes on; see the README's "Pipelined checkpoints"). Default from
            ``DURABLE_MP_CHECKPOINTING``.
    """
    validate_executor(step_executor, "step_executor")
    validate_checkpointing(checkpointing, "checkpointing")
    for label, value in (("workers", workers), ("max_workers", max_workers)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValidationError(f"{label} must be a positive integer, got {value!r}")
    factories = tuple(load_configured_plugins(plugins))
    settings = InvocationSettings(
        step_executor, workers, boto3_client, max_workers, checkpointing, factories
    )
    settings.checkpointing_mode()  # a bad DURABLE_MP_CHECKPOINTING fails at import, clearly
    if func is None:
        return functools.partial(_decorate, settings=settings)
    return _decorate(func, settings=settings)


def _decorate(func: UserHandler, *, settings: InvocationSettings) -> LambdaHandler:
    def with_facade(event: Any, operations: OperationContext) -> Any:
        return func(event, DurableContext(operations))

    @functools.wraps(func)
    def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
        return run_invocation(with_facade, event, context, settings)

    lambda_handler.__durable_handler__ = func  # type: ignore[attr-defined]
    lambda_handler.__durable_settings__ = settings  # type: ignore[attr-defined]
    start_workers_during_init(settings)
    return lambda_handler
