"""DurableContext: the object a durable handler receives.

Method names and signatures follow the official SDK. Each operation allocates the next
deterministic operation id of this context, checks it against the checkpoint (replay),
and delegates to its implementation in ``durable_mp.engine``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, NoReturn, ParamSpec, TypeVar

from durable_mp.config import (  # re-exported: the official module names them too
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from durable_mp.engine.activity import step_body_label
from durable_mp.engine.batch import run_map, run_parallel
from durable_mp.engine.callback import create_callback, wait_for_callback
from durable_mp.engine.child import run_child
from durable_mp.engine.condition import run_wait_for_condition
from durable_mp.engine.invoke import run_invoke
from durable_mp.engine.step import run_step, start_step
from durable_mp.engine.wait import run_wait, start_wait
from durable_mp.exceptions import NestedOperationError, ValidationError
from durable_mp.lambda_service import OperationSubType, OperationType
from durable_mp.types import StepContext, WaitForCallbackContext, WaitForConditionCheckContext

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from durable_mp.concurrency.models import BatchResult
    from durable_mp.engine.callback import Callback
    from durable_mp.engine.operation_context import OperationContext
    from durable_mp.futures import DurableFuture
    from durable_mp.logger import Logger
    from durable_mp.types import LoggerInterface
    from durable_mp.waits import WaitForConditionConfig

__all__ = [
    "CallbackConfig",
    "ChildConfig",
    "DetachedDurableContext",
    "DurableContext",
    "Duration",
    "ExecutionContext",
    "InvokeConfig",
    "MapConfig",
    "ParallelBranch",
    "ParallelConfig",
    "StepConfig",
    "StepContext",
    "WaitForCallbackConfig",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
]

T = TypeVar("T")
U = TypeVar("U")
Params = ParamSpec("Params")


@dataclass(frozen=True)
class ExecutionContext:
    """Read-only facts about the execution."""

    durable_execution_arn: str


def durable_step(
    func: Callable[Concatenate[StepContext, Params], T],
) -> Callable[Params, Callable[[StepContext], T]]:
    """Bind arguments now, run later as a step named after the function.

    ``ctx.step(fetch(url))`` records the step under the name ``fetch``.
    """

    def bind(*args: Params.args, **kwargs: Params.kwargs) -> Callable[[StepContext], T]:
        def step_body(step_context: StepContext) -> T:
            return func(step_context, *args, **kwargs)

        step_body._original_name = func.__name__  # type: ignore[attr-defined]
        return step_body

    return bind


def durable_with_child_context(
    func: Callable[Concatenate[DurableContext, Params], T],
) -> Callable[Params, Callable[[DurableContext], T]]:
    """Bind arguments now, run later as a child context named after the function."""

    def bind(*args: Params.args, **kwargs: Params.kwargs) -> Callable[[DurableContext], T]:
        def child_body(child_context: DurableContext) -> T:
            return func(child_context, *args, **kwargs)

        child_body._original_name = func.__name__  # type: ignore[attr-defined]
        return child_body

    return bind


def durable_parallel_branch(
    name: str | None = None,
) -> Callable[
    [Callable[Concatenate[DurableContext, Params], T]], Callable[Params, ParallelBranch[T]]
]:
    """Bind arguments now, run later as a named ``ctx.parallel`` branch."""

    def decorator(
        func: Callable[Concatenate[DurableContext, Params], T],
    ) -> Callable[Params, ParallelBranch[T]]:
        def bind(*args: Params.args, **kwargs: Params.kwargs) -> ParallelBranch[T]:
            def branch(ctx: DurableContext) -> T:
                return func(ctx, *args, **kwargs)

            return ParallelBranch(func=branch, name=name)

        return bind

    return decorator


def durable_wait_for_callback(
    func: Callable[Concatenate[str, WaitForCallbackContext, Params], T],
) -> Callable[Params, Callable[[str, WaitForCallbackContext], T]]:
    """Bind arguments now; the result is a ``wait_for_callback`` submitter."""

    def bind(
        *args: Params.args, **kwargs: Params.kwargs
    ) -> Callable[[str, WaitForCallbackContext], T]:
        def submitter(callback_id: str, context: WaitForCallbackContext) -> T:
            return func(callback_id, context, *args, **kwargs)

        submitter._original_name = func.__name__  # type: ignore[attr-defined]
        return submitter

    return bind


class DurableContext:
    """Issues durable operations for one handler or child context.

    A thin facade: each method checks its arguments, allocates the operation through the
    context's :class:`~durable_mp.engine.operation_context.OperationContext` and hands it
    to the operation's module in ``durable_mp.engine``.
    """

    def __init__(self, operations: OperationContext) -> None:
        self._operations = operations
        self.execution_context = ExecutionContext(operations.durable_execution_arn)
        self.lambda_context = operations.scope.lambda_context

    @property
    def logger(self) -> Logger:
        """Logs with the execution's fields; quiet while the context replays."""
        return self._operations.logger

    @logger.setter
    def logger(self, value: Logger) -> None:
        self._operations.logger = value

    # -- operations ---------------------------------------------------------------------

    def step(
        self,
        func: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> T:
        """Run ``func`` once (per its retry policy) and checkpoint its result.

        On replay the checkpointed result is returned and ``func`` does not run. The body
        runs in a worker process unless the step, the handler or the environment chooses
        ``thread`` or ``inline``.
        """
        _refuse_inside_step("step")
        config = config or StepConfig()
        sub_type = config.sub_type or OperationSubType.STEP.value
        with self._operations.operation(
            OperationType.STEP, sub_type, name or _original_name(func)
        ) as identifier:
            return run_step(self._operations, identifier, func, config)

    def step_async(
        self,
        func: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> DurableFuture[T]:
        """Start a step and return at once; ``.result()`` waits for it.

        The step runs concurrently with the caller (its body in a worker process by
        default). A future of a step that completed in an earlier invocation resolves
        from the checkpoint without running anything.
        """
        _refuse_inside_step("step_async")
        config = config or StepConfig()
        sub_type = config.sub_type or OperationSubType.STEP.value
        with self._operations.operation(
            OperationType.STEP, sub_type, name or _original_name(func)
        ) as identifier:
            return start_step(self._operations, identifier, func, config)

    def wait_async(self, duration: Duration, name: str | None = None) -> DurableFuture[None]:
        """Start a durable wait and return at once; ``.result()`` returns when it elapses."""
        _refuse_inside_step("wait_async")
        seconds = _wait_seconds(duration)
        with self._operations.operation(
            OperationType.WAIT, OperationSubType.WAIT.value, name
        ) as identifier:
            return start_wait(self._operations, identifier, seconds)

    def wait(self, duration: Duration, name: str | None = None) -> None:
        """Pause the execution durably; no compute is billed while it suspends."""
        _refuse_inside_step("wait")
        seconds = _wait_seconds(duration)
        with self._operations.operation(
            OperationType.WAIT, OperationSubType.WAIT.value, name
        ) as identifier:
            run_wait(self._operations, identifier, seconds)

    def run_in_child_context(
        self,
        func: Callable[[DurableContext], T],
        name: str | None = None,
        config: ChildConfig[T] | None = None,
    ) -> T:
        """Run ``func`` with a child context whose operations are grouped under one."""
        _refuse_inside_step("run_in_child_context")
        sub_type = (
            config.sub_type if config else None
        ) or OperationSubType.RUN_IN_CHILD_CONTEXT.value
        with self._operations.operation(
            OperationType.CONTEXT, sub_type, name or _original_name(func)
        ) as identifier:
            return run_child(self._operations, identifier, _facing_user(func), config)

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> Callback[Any]:
        """Create a callback and return at once; its ``callback_id`` goes to the system
        that completes it (SendDurableExecutionCallbackSuccess/Failure/Heartbeat)."""
        _refuse_inside_step("create_callback")
        sub_type = (config.sub_type if config else None) or OperationSubType.CALLBACK.value
        with self._operations.operation(OperationType.CALLBACK, sub_type, name) as identifier:
            return create_callback(self._operations, identifier, config)

    def wait_for_callback(
        self,
        submitter: Callable[[str, WaitForCallbackContext], Any],
        name: str | None = None,
        config: WaitForCallbackConfig | None = None,
    ) -> Any:
        """Create a callback, pass its id to ``submitter`` (run as a step), and wait for it.

        Raises CallbackSubmitterError if the submitter fails, CallbackTimeoutError or
        CallbackExternalError if the callback does.
        """
        _refuse_inside_step("wait_for_callback")
        return wait_for_callback(
            self._operations, submitter, name or _original_name(submitter), config
        )

    def invoke(
        self,
        function_name: str,
        payload: Any,
        name: str | None = None,
        config: InvokeConfig[Any, Any] | None = None,
    ) -> Any:
        """Invoke another Lambda function durably and return its result."""
        _refuse_inside_step("invoke")
        with self._operations.operation(
            OperationType.CHAINED_INVOKE, OperationSubType.CHAINED_INVOKE.value, name
        ) as identifier:
            return run_invoke(
                self._operations, identifier, function_name, payload, config or InvokeConfig()
            )

    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig[U] | None = None,
    ) -> BatchResult[T]:
        """Run ``func(ctx, item, index, inputs)`` for every item, concurrently.

        Each item runs in its own child context on a parent thread; the steps inside run
        in worker processes, so CPU-heavy items use every core.
        """
        _refuse_inside_step("map")
        if config is not None:
            config.completion_config._validate_for_total(len(inputs))

        def item_body(ops: OperationContext, item: U, index: int, items: Sequence[U]) -> T:
            return func(DurableContext(ops), item, index, items)

        with self._operations.operation(
            OperationType.CONTEXT, OperationSubType.MAP.value, name or _original_name(func)
        ) as identifier:
            return run_map(self._operations, identifier, inputs, item_body, config)

    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> BatchResult[T]:
        """Run each function (or ParallelBranch) in its own child context, concurrently."""
        _refuse_inside_step("parallel")
        if config is not None:
            config.completion_config._validate_for_total(len(functions))
        branches = [
            ParallelBranch(func=_facing_user(f.func), name=f.name)
            if isinstance(f, ParallelBranch)
            else _facing_user(f)
            for f in functions
        ]
        with self._operations.operation(
            OperationType.CONTEXT, OperationSubType.PARALLEL.value, name
        ) as identifier:
            return run_parallel(self._operations, identifier, branches, config)

    def wait_for_condition(
        self,
        check: Callable[[T, WaitForConditionCheckContext], T],
        config: WaitForConditionConfig[T],
        name: str | None = None,
    ) -> T:
        """Run ``check`` (as a step) until ``config.wait_strategy`` stops it; the final state."""
        _refuse_inside_step("wait_for_condition")
        if check is None:
            raise ValidationError("`check` is required for wait_for_condition")
        if not config:
            raise ValidationError("`config` is required for wait_for_condition")
        with self._operations.operation(
            OperationType.STEP, OperationSubType.WAIT_FOR_CONDITION.value, name
        ) as identifier:
            result: T = run_wait_for_condition(
                self._operations, identifier, check, config
            )
            return result

    @property
    def is_virtual(self) -> bool:
        """True in a FLAT map/parallel branch: it records no CONTEXT operation of its own."""
        return self._operations.is_virtual

    # -- logging and replay -------------------------------------------------------------

    def set_logger(self, new_logger: LoggerInterface) -> None:
        """Log through ``new_logger`` (records keep the execution fields)."""
        self._operations.use_logger(new_logger)

    def is_replaying(self) -> bool:
        """True while this context re-issues operations an earlier invocation completed."""
        return self._operations.is_replaying()

    def __reduce__(self) -> tuple[Any, ...]:
        # A step body shipped to a worker may capture the context; it arrives as a
        # stand-in that explains why durable operations cannot start there.
        return (DetachedDurableContext, (self._operations.durable_execution_arn,))


def _facing_user(func: Callable[[DurableContext], T]) -> Callable[[OperationContext], T]:
    """Adapt a user function of a DurableContext to the engine, which passes contexts."""

    def with_facade(operations: OperationContext) -> T:
        return func(DurableContext(operations))

    return with_facade


def _original_name(func: object) -> str | None:
    """The name ``@durable_step`` and friends recorded for the function they bound."""
    name = getattr(func, "_original_name", None)
    return name if isinstance(name, str) else None


def _wait_seconds(duration: Duration) -> int:
    seconds = duration.to_seconds()
    if seconds < 1:
        raise ValidationError("duration must be at least 1 second")
    return seconds


def _refuse_inside_step(operation: str) -> None:
    label = step_body_label()
    if label is not None:
        _raise_nested(operation, label)


def _raise_nested(operation: str, label: str) -> NoReturn:
    raise NestedOperationError(
        f"ctx.{operation}() was called inside the body of {label}. A step body is a single "
        "unit of work and cannot start durable operations; group operations with "
        "ctx.run_in_child_context(...) instead, or return data from the step and start the "
        "operation after it."
    )


class DetachedDurableContext:
    """What a DurableContext becomes inside a worker process: every operation refuses."""

    def __init__(self, durable_execution_arn: str) -> None:
        self.execution_context = ExecutionContext(durable_execution_arn)
        self.logger = logging.getLogger("durable_mp.step")

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        if name.startswith("__"):
            raise AttributeError(name)

        def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
            _raise_nested(name, step_body_label() or "a step")

        return refuse
