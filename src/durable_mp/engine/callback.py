"""Callbacks: an operation an external system completes through its callback id.

``create_callback`` checkpoints CALLBACK START and returns at once with the id the
service assigned; failures are deferred to ``Callback.result()`` so that the code between
creating and awaiting a callback runs identically on every replay. ``wait_for_callback``
groups create + a submitter step + the wait in one child context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable_mp.config import StepConfig
from durable_mp.engine.child import run_child
from durable_mp.engine.manager import Completion
from durable_mp.engine.step import run_step
from durable_mp.exceptions import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    StepError,
)
from durable_mp.futures import RemoteCallback
from durable_mp.lambda_service import (
    CallbackOptions,
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
)
from durable_mp.serdes import PassThroughSerDes, deserialize
from durable_mp.types import WaitForCallbackContext

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.config import CallbackConfig, WaitForCallbackConfig
    from durable_mp.engine.ids import OperationIdentifier
    from durable_mp.engine.operation_context import OperationContext
    from durable_mp.engine.scope import ExecutionScope
    from durable_mp.serdes import SerDes
    from durable_mp.types import StepContext

T = TypeVar("T")

_PASS_THROUGH: SerDes[Any] = PassThroughSerDes()


class Callback(Generic[T]):
    """A pending callback; give ``callback_id`` to the system that will complete it."""

    def __init__(
        self,
        callback_id: str,
        scope: ExecutionScope,
        identifier: OperationIdentifier,
        completion: Completion[T],
    ) -> None:
        self.callback_id = callback_id
        self.operation_id = identifier.operation_id
        self._scope = scope
        self._label = identifier.label
        self._completion = completion

    def result(self) -> T | None:
        """The callback's result; waits (suspending the execution if need be) until then.

        Raises CallbackTimeoutError when it timed out (or missed a heartbeat), and
        CallbackExternalError when the external system reported failure.
        """
        manager = self._scope.manager
        try:
            return manager.wait_for_completion(self._completion)
        finally:
            if self._completion.done:  # instrumentation sees the end before the caller
                manager.observed(self.operation_id)

    def done(self) -> bool:
        return self._completion.done

    def __reduce__(self) -> tuple[Any, ...]:
        # Inside a step body in a worker: the id travels, the result is awaited through
        # the parent.
        return (RemoteCallback, (self.operation_id, self._label, self.callback_id))


def create_callback(
    ctx: OperationContext, identifier: OperationIdentifier, config: CallbackConfig | None
) -> Callback[Any]:
    scope = ctx.scope
    manager = scope.manager
    op = manager.get(identifier.operation_id)
    if op is None:
        options = (
            CallbackOptions(config.timeout_seconds, config.heartbeat_timeout_seconds)
            if config
            else CallbackOptions()
        )
        scope.batcher.checkpoint(identifier.update(OperationAction.START, callback_options=options))
        op = manager.get(identifier.operation_id)
    if op is None or op.callback_details is None or not op.callback_details.callback_id:
        raise CallbackError(message=f"The service returned no callback id for {identifier.label}")
    serdes = config.serdes if config else None
    completion: Completion[Any] = Completion(identifier.label)
    scope.completions[identifier.operation_id] = completion

    def outcome(current: Operation) -> tuple[Any, BaseException | None]:
        return _outcome(current, serdes, scope.durable_execution_arn)

    manager.complete_when(identifier.operation_id, _terminal, completion, outcome)
    return Callback(op.callback_details.callback_id, scope, identifier, completion)


def _terminal(op: Operation | None) -> bool:
    return op is not None and op.is_terminal


def _outcome(
    op: Operation, serdes: SerDes[Any] | None, arn: str
) -> tuple[Any, BaseException | None]:
    if op.status is OperationStatus.SUCCEEDED:
        payload = op.result
        if payload is None:
            return None, None
        try:
            return deserialize(serdes or _PASS_THROUGH, payload, op.operation_id, arn), None
        except Exception as error:
            return None, error
    failure = op.error
    timed_out = op.status is OperationStatus.TIMED_OUT
    kind: type[CallbackError] = CallbackTimeoutError if timed_out else CallbackExternalError
    default = "Callback timed out" if timed_out else "Callback failed"
    return None, kind(
        message=failure.message if failure and failure.message else default,
        data=failure.data if failure else None,
        stack_trace=failure.stack_trace if failure else None,
    )


def wait_for_callback(
    ctx: OperationContext,
    submitter: Callable[[str, WaitForCallbackContext], Any],
    name: str | None,
    config: WaitForCallbackConfig | None,
) -> Any:
    """Create a callback, hand its id to ``submitter`` in a step, wait for the result."""
    prefix = f"{name} " if name else ""

    def in_child(child: OperationContext) -> Any:
        sub_type = (config.sub_type if config else None) or OperationSubType.CALLBACK.value
        with child.operation(
            OperationType.CALLBACK, sub_type, f"{prefix}create callback id"
        ) as identifier:
            callback = create_callback(child, identifier, config)

        def submit(step: StepContext) -> Any:
            return submitter(callback.callback_id, WaitForCallbackContext(logger=step.logger))

        step_config = (
            StepConfig(retry_strategy=config.retry_strategy, serdes=config.serdes)
            if config
            else StepConfig()
        )
        with child.operation(
            OperationType.STEP, OperationSubType.STEP.value, f"{prefix}submitter"
        ) as identifier:
            run_step(child, identifier, submit, step_config)
        return callback.result()

    try:
        with ctx.operation(
            OperationType.CONTEXT, OperationSubType.WAIT_FOR_CALLBACK.value, name
        ) as identifier:
            return run_child(ctx, identifier, in_child, None)
    except ChildContextError as error:
        inner = error.__cause__
        if isinstance(inner, CallbackError):
            raise inner from None
        if isinstance(inner, StepError):
            raise CallbackSubmitterError(
                inner.message or "Callback submitter failed",
                data=inner.data,
                stack_trace=inner.stack_trace,
            ) from inner
        raise
