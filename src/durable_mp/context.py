"""DurableContext: the object a durable handler receives.

Method names and signatures follow the official SDK. Each operation allocates the next
deterministic operation id of this context, checks it against the checkpoint (replay),
and delegates to its implementation in ``durable_mp.engine``.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
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
from durable_mp.engine.ids import OperationCounter, OperationIdentifier
from durable_mp.exceptions import NestedOperationError, ValidationError
from durable_mp.lambda_service import OperationSubType, OperationType
from durable_mp.logger import Logger, LogInfo
from durable_mp.types import StepContext, WaitForCallbackContext, WaitForConditionCheckContext

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from durable_mp.concurrency.models import BatchResult
    from durable_mp.engine.callback import Callback
    from durable_mp.engine.scope import ExecutionScope
    from durable_mp.futures import DurableFuture
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
    """Issues durable operations for one handler or child context."""

    def __init__(
        self,
        scope: ExecutionScope,
        *,
        parent_id: str | None = None,
        step_id_prefix: str | None = None,
        path: str = "",
        replaying: bool = False,
        logger: Logger | None = None,
        lineage: tuple[str, ...] = (),
        is_virtual: bool = False,
    ) -> None:
        self.scope = scope
        self._lineage = lineage
        self._is_virtual = is_virtual
        self.execution_context = ExecutionContext(scope.durable_execution_arn)
        self.lambda_context = scope.lambda_context
        self._parent_id = parent_id
        self._counter = OperationCounter(
            step_id_prefix if step_id_prefix is not None else parent_id, path
        )
        self._path = path
        self._replaying = replaying
        self._replay_lock = threading.Lock()
        info = LogInfo(scope.durable_execution_arn, parent_id=parent_id)
        base = logger or Logger.from_log_info(logging.getLogger(), info)
        self.logger: Logger = base.with_log_info(info).with_is_replaying(self.is_replaying)

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
        from durable_mp.config import StepConfig
        from durable_mp.engine.step import run_step

        self._refuse_inside_step("step")
        config = config or StepConfig()
        identifier = self._allocate(
            OperationType.STEP,
            config.sub_type or OperationSubType.STEP.value,
            name or getattr(func, "_original_name", None),
        )
        with self._replay_aware(identifier):
            return run_step(self, identifier, func, config)

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
        from durable_mp.config import StepConfig
        from durable_mp.engine.step import start_step

        self._refuse_inside_step("step_async")
        config = config or StepConfig()
        identifier = self._allocate(
            OperationType.STEP,
            config.sub_type or OperationSubType.STEP.value,
            name or getattr(func, "_original_name", None),
        )
        with self._replay_aware(identifier):
            return start_step(self, identifier, func, config)

    def wait_async(self, duration: Duration, name: str | None = None) -> DurableFuture[None]:
        """Start a durable wait and return at once; ``.result()`` returns when it elapses."""
        from durable_mp.engine.wait import start_wait

        self._refuse_inside_step("wait_async")
        if duration.to_seconds() < 1:
            raise ValidationError("duration must be at least 1 second")
        identifier = self._allocate(OperationType.WAIT, OperationSubType.WAIT.value, name)
        with self._replay_aware(identifier):
            return start_wait(self, identifier, duration.to_seconds())

    def wait(self, duration: Duration, name: str | None = None) -> None:
        """Pause the execution durably; no compute is billed while it suspends."""
        from durable_mp.engine.wait import run_wait

        self._refuse_inside_step("wait")
        if duration.to_seconds() < 1:
            raise ValidationError("duration must be at least 1 second")
        identifier = self._allocate(OperationType.WAIT, OperationSubType.WAIT.value, name)
        with self._replay_aware(identifier):
            run_wait(self, identifier, duration.to_seconds())

    def run_in_child_context(
        self,
        func: Callable[[DurableContext], T],
        name: str | None = None,
        config: ChildConfig[T] | None = None,
    ) -> T:
        """Run ``func`` with a child context whose operations are grouped under one."""
        sub_type = (
            config.sub_type if config else None
        ) or OperationSubType.RUN_IN_CHILD_CONTEXT.value
        return self._run_child(
            func, name or getattr(func, "_original_name", None), config, sub_type
        )

    def _run_child(
        self,
        func: Callable[[DurableContext], T],
        name: str | None,
        config: ChildConfig[T] | None,
        sub_type: str,
    ) -> T:
        from durable_mp.engine.child import run_child

        self._refuse_inside_step("run_in_child_context")
        identifier = self._allocate(OperationType.CONTEXT, sub_type, name)
        with self._replay_aware(identifier):
            return run_child(self, identifier, func, config)

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> Callback[Any]:
        """Create a callback and return at once; its ``callback_id`` goes to the system
        that completes it (SendDurableExecutionCallbackSuccess/Failure/Heartbeat)."""
        from durable_mp.engine.callback import create_callback

        self._refuse_inside_step("create_callback")
        sub_type = (config.sub_type if config else None) or OperationSubType.CALLBACK.value
        identifier = self._allocate(OperationType.CALLBACK, sub_type, name)
        with self._replay_aware(identifier):
            return create_callback(self, identifier, config)

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
        from durable_mp.engine.callback import wait_for_callback

        self._refuse_inside_step("wait_for_callback")
        return wait_for_callback(
            self, submitter, name or getattr(submitter, "_original_name", None), config
        )

    def invoke(
        self,
        function_name: str,
        payload: Any,
        name: str | None = None,
        config: InvokeConfig[Any, Any] | None = None,
    ) -> Any:
        """Invoke another Lambda function durably and return its result."""
        from durable_mp.config import InvokeConfig
        from durable_mp.engine.invoke import run_invoke

        self._refuse_inside_step("invoke")
        identifier = self._allocate(
            OperationType.CHAINED_INVOKE, OperationSubType.CHAINED_INVOKE.value, name
        )
        with self._replay_aware(identifier):
            return run_invoke(self, identifier, function_name, payload, config or InvokeConfig())

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
        from durable_mp.engine.batch import run_map

        self._refuse_inside_step("map")
        if config is not None:
            config.completion_config._validate_for_total(len(inputs))
        identifier = self._allocate(
            OperationType.CONTEXT,
            OperationSubType.MAP.value,
            name or getattr(func, "_original_name", None),
        )
        with self._replay_aware(identifier):
            return run_map(self, identifier, inputs, func, config)

    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> BatchResult[T]:
        """Run each function (or ParallelBranch) in its own child context, concurrently."""
        from durable_mp.engine.batch import run_parallel

        self._refuse_inside_step("parallel")
        if config is not None:
            config.completion_config._validate_for_total(len(functions))
        identifier = self._allocate(OperationType.CONTEXT, OperationSubType.PARALLEL.value, name)
        with self._replay_aware(identifier):
            return run_parallel(self, identifier, functions, config)

    def wait_for_condition(
        self,
        check: Callable[[T, WaitForConditionCheckContext], T],
        config: WaitForConditionConfig[T],
        name: str | None = None,
    ) -> T:
        """Run ``check`` (as a step) until ``config.wait_strategy`` stops it; the final state."""
        from durable_mp.engine.condition import run_wait_for_condition

        self._refuse_inside_step("wait_for_condition")
        if check is None:
            raise ValidationError("`check` is required for wait_for_condition")
        if not config:
            raise ValidationError("`config` is required for wait_for_condition")
        identifier = self._allocate(
            OperationType.STEP, OperationSubType.WAIT_FOR_CONDITION.value, name
        )
        with self._replay_aware(identifier):
            result: T = run_wait_for_condition(self, identifier, check, config)
            return result

    @property
    def is_virtual(self) -> bool:
        """True in a FLAT map/parallel branch: it records no CONTEXT operation of its own."""
        return self._is_virtual

    # -- logging and replay -------------------------------------------------------------

    def set_logger(self, new_logger: LoggerInterface) -> None:
        """Log through ``new_logger`` (records keep the execution fields)."""
        info = LogInfo(self.scope.durable_execution_arn, parent_id=self._parent_id)
        self.logger = Logger.from_log_info(new_logger, info, self.is_replaying)

    def is_replaying(self) -> bool:
        """True while this context re-issues operations an earlier invocation completed."""
        with self._replay_lock:
            return self._replaying

    def _stop_replaying(self) -> None:
        with self._replay_lock:
            self._replaying = False

    @contextmanager
    def _replay_aware(self, identifier: OperationIdentifier) -> Iterator[None]:
        """Move this context from replay to new work at the right moment.

        Brand-new operations and steps about to run their body count as new work before
        they start; a resumed non-step operation (a wait that has now elapsed) stays quiet
        and flips afterwards; replay also ends once the next operation has no checkpoint.
        """
        was_replaying = self.is_replaying()
        checkpoint = self.scope.manager.get(identifier.operation_id)
        identifier.validate_replay(checkpoint)
        if was_replaying and checkpoint is not None:
            self.scope.hooks.reached_on_replay(checkpoint)
        flip_after = False
        if was_replaying:
            is_step = checkpoint is not None and checkpoint.operation_type is OperationType.STEP
            terminal = checkpoint is not None and checkpoint.is_terminal
            if checkpoint is None or (is_step and not terminal):
                self._stop_replaying()
            elif not terminal:
                flip_after = True
        try:
            yield
        finally:
            if flip_after or (
                self.is_replaying() and self.scope.manager.get(self._counter.peek()) is None
            ):
                self._stop_replaying()

    # -- internals ----------------------------------------------------------------------

    def _allocate(
        self, operation_type: OperationType, sub_type: str, name: str | None
    ) -> OperationIdentifier:
        self.scope.refuse_orphan(self._lineage)
        operation_id, path = self._counter.next()
        return OperationIdentifier(
            operation_id=operation_id,
            operation_type=operation_type,
            sub_type=sub_type,
            parent_id=self._parent_id,
            name=name,
            path=path,
        )

    def _child(
        self, identifier: OperationIdentifier, *, is_virtual: bool = False
    ) -> DurableContext:
        return DurableContext(
            self.scope,
            parent_id=self._parent_id if is_virtual else identifier.operation_id,
            step_id_prefix=identifier.operation_id,
            path=identifier.path,
            replaying=self.is_replaying(),
            logger=self.logger,
            lineage=(*self._lineage, identifier.operation_id),
            is_virtual=is_virtual,
        )

    @staticmethod
    def _refuse_inside_step(operation: str) -> None:
        label = step_body_label()
        if label is not None:
            _raise_nested(operation, label)

    def __reduce__(self) -> tuple[Any, ...]:
        # A step body shipped to a worker may capture the context; it arrives as a
        # stand-in that explains why durable operations cannot start there.
        return (DetachedDurableContext, (self.scope.durable_execution_arn,))


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
