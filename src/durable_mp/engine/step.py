"""The step operation: replay, START, run the body in an executor, SUCCEED/RETRY/FAIL.

Wire behaviour matches the official SDK: an at-least-once step checkpoints START
asynchronously and may run again after a crash; an at-most-once step waits for START to be
durable and, found STARTED on a later invocation, is handed to its retry strategy as
:class:`StepInterruptedError`. A retry is a RETRY checkpoint followed by a wait for the
service to make the step READY again -- which suspends the invocation when nothing else
is running.

The caller hands its activity to the step's own context while the body runs (register
step, deregister caller, ..., register caller, deregister step), so the active count
reads the same whether the step is awaited at once or later.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from durable_mp.config import StepSemantics
from durable_mp.engine.activity import ActiveContext, acting_as, current_context
from durable_mp.engine.errors import error_object_for, log_failure
from durable_mp.engine.executors import get_executor, resolve_executor_name
from durable_mp.engine.manager import Completion
from durable_mp.engine.step_body import ParentSide, StepJob
from durable_mp.exceptions import (
    ExecutionError,
    InternalInvariantError,
    PayloadTooLargeError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    StepInterruptedError,
)
from durable_mp.futures import DurableFuture
from durable_mp.lambda_service import (
    MAX_OPERATION_PAYLOAD_BYTES,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    StepOptions,
)
from durable_mp.logger import LogInfo
from durable_mp.retries import RetryPresets
from durable_mp.serdes import deserialize

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.config import StepConfig
    from durable_mp.engine.ids import OperationIdentifier
    from durable_mp.engine.operation_context import OperationContext
    from durable_mp.engine.scope import ExecutionScope
    from durable_mp.logger import Logger
    from durable_mp.types import StepContext
    from durable_mp.workers.jobs import Outcome

T = TypeVar("T")


def run_step(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    func: Callable[[StepContext], T],
    config: StepConfig,
) -> T:
    """Run a step to its outcome on the calling thread (``ctx.step``)."""
    step = _Step(ctx.scope, identifier, func, config, ctx.logger, lineage=ctx.lineage)
    done, value = step.replayed()
    if done:
        return value  # type: ignore[no-any-return]
    caller = current_context()
    if caller is None:
        raise InternalInvariantError(
            f"{identifier.label} was started from a thread that belongs to no durable context"
        )
    manager = ctx.scope.manager
    step_context = caller.spawn(_context_name(identifier))
    manager.hand_off(step_context, caller)
    try:
        with acting_as(step_context):
            result: T = step.run()
    finally:
        manager.hand_off(caller, step_context)
    return result


def start_step(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    func: Callable[[StepContext], T],
    config: StepConfig,
) -> DurableFuture[T]:
    """Start a step on a driver thread and return its future (``ctx.step_async``)."""
    scope = ctx.scope
    manager = scope.manager
    completion: Completion[T] = Completion(identifier.label)
    scope.completions[identifier.operation_id] = completion
    future = DurableFuture(manager, completion, identifier.operation_id, identifier.label)
    step = _Step(scope, identifier, func, config, ctx.logger, lineage=ctx.lineage)
    try:
        done, value = step.replayed()
    except Exception as error:
        manager.complete(completion, error=error)
        return future
    if done:
        manager.complete(completion, value=value)
        return future
    caller = current_context()
    name = _context_name(identifier)
    step_context = caller.spawn(name) if caller is not None else ActiveContext(name)
    manager.register(step_context)  # ordering 1: active before the work is submitted

    def drive() -> None:
        try:
            result = step.run()
        except BaseException as error:  # the future carries whatever ended the step
            manager.complete(completion, error=error, completing=step_context)
        else:
            manager.complete(completion, value=result, completing=step_context)

    scope.tasks.spawn(step_context, drive)
    return future


def _context_name(identifier: OperationIdentifier) -> str:
    suffix = f" [{identifier.name}]" if identifier.name else ""
    return f"{identifier.path}-step{suffix}"


class _Step:
    def __init__(
        self,
        scope: ExecutionScope,
        identifier: OperationIdentifier,
        func: Callable[[StepContext], Any],
        config: StepConfig,
        context_logger: Logger,
        *,
        lineage: tuple[str, ...] = (),
    ) -> None:
        self.scope = scope
        self.lineage = (*lineage, identifier.operation_id)
        self.identifier = identifier
        self.func = func
        self.config = config
        self.context_logger = context_logger
        self.at_most_once = config.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY

    @property
    def _operation(self) -> Operation | None:
        return self.scope.manager.get(self.identifier.operation_id)

    def replayed(self) -> tuple[bool, Any]:
        """(True, value) when the checkpoint already holds the outcome; raises a failure."""
        op = self._operation
        if op is None or not op.is_terminal:
            return False, None
        return True, self._terminal_outcome(op)

    def _terminal_outcome(self, op: Operation) -> Any:
        if op.status is OperationStatus.SUCCEEDED:
            return self._deserialize(op.result)
        error = op.error or ErrorObject.from_message(f"{self.identifier.label} failed")
        error.raise_as_operation_error(StepError)

    def _deserialize(self, payload: str | None) -> Any:
        if payload is None:
            return None
        return deserialize(
            self.config.serdes,
            payload,
            self.identifier.operation_id,
            self.scope.durable_execution_arn,
        )

    def run(self) -> Any:
        manager = self.scope.manager
        batcher = self.scope.batcher
        identifier = self.identifier
        while True:
            op = self._operation
            if op is not None and op.is_terminal:
                return self._terminal_outcome(op)
            if op is not None and op.status is OperationStatus.PENDING:
                details = op.step_details
                due = details.next_attempt_timestamp if details else None
                manager.wait_for_operation(
                    identifier.operation_id,
                    lambda current: (
                        current is not None and current.status is not OperationStatus.PENDING
                    ),
                    wake_at=due.timestamp() if due else None,
                )
                continue
            attempts_made = op.step_details.attempt if op and op.step_details else 0
            attempt = attempts_made + 1
            if op is not None and op.status is OperationStatus.STARTED and self.at_most_once:
                self._handle_failure(
                    StepInterruptedError(
                        f"{identifier.label} started in an earlier invocation that ended before "
                        "the step finished; with AT_MOST_ONCE_PER_RETRY it is not run again "
                        "in the same attempt",
                        step_id=identifier.operation_id,
                    ),
                    attempt,
                    None,
                )
                continue
            if op is None or op.status is OperationStatus.READY:
                start = identifier.update(OperationAction.START)
                if self.at_most_once:
                    batcher.checkpoint(start)
                else:
                    batcher.checkpoint_async(start)
            outcome = self._execute(attempt)
            if outcome.ok:
                return self._succeed(outcome.value)
            assert outcome.error is not None
            self._handle_failure(outcome.error, attempt, outcome.traceback)

    def _execute(self, attempt: int) -> Outcome:
        self.scope.refuse_orphan(self.lineage)
        return execute_body(
            self.scope,
            self.identifier,
            self.func,
            attempt=attempt,
            config=self.config,
            context_logger=self.context_logger,
        )

    def _succeed(self, payload: str | None) -> Any:
        identifier = self.identifier
        self.scope.refuse_orphan(self.lineage)
        if payload is not None and len(payload.encode()) > MAX_OPERATION_PAYLOAD_BYTES:
            size_mb = len(payload.encode()) / 1024 / 1024
            self._fail_permanently(
                PayloadTooLargeError(
                    f"{identifier.label} returned {size_mb:.1f} MB once serialized; the durable "
                    "execution service accepts at most 6 MB per operation. Return a reference "
                    "(an S3 key, a file path) instead of the data."
                )
            )
        try:
            value = self._deserialize(payload)  # the first run sees what replay will see
        except SerDesError as error:
            self._fail_permanently(error)
        succeed = identifier.update(OperationAction.SUCCEED, payload=payload)
        if self.scope.pipelined and not self.at_most_once:
            # At-least-once: if this never reaches the service, the step simply runs again.
            self.scope.batcher.checkpoint_async(succeed)
        else:
            self.scope.batcher.checkpoint(succeed)
        return value

    def _fail_permanently(self, error: SerDesError) -> None:
        failure = error_object_for(error)
        self.scope.batcher.checkpoint(self.identifier.update(OperationAction.FAIL, error=failure))
        failure.raise_as_operation_error(StepError)

    def _handle_failure(self, error: BaseException, attempt: int, trace: list[str] | None) -> None:
        """RETRY (and return, to wait for READY) or FAIL (and raise StepError)."""
        self.scope.refuse_orphan(self.lineage)
        if isinstance(error, RetryableSerDesError | ExecutionError) or not isinstance(
            error, Exception
        ):
            raise error
        if isinstance(error, SerDesError):
            self._fail_permanently(error)
        strategy = self.config.retry_strategy or RetryPresets.default()
        decision = strategy(error, attempt)
        log_failure(f"{self.identifier.label} attempt {attempt}", error, trace)
        failure = error_object_for(error)
        if decision.should_retry:
            delay = max(1, decision.delay_seconds)
            self.scope.batcher.checkpoint(
                self.identifier.update(
                    OperationAction.RETRY,
                    error=failure,
                    step_options=StepOptions(next_attempt_delay_seconds=delay),
                )
            )
            return
        self.scope.batcher.checkpoint(self.identifier.update(OperationAction.FAIL, error=failure))
        failure.raise_as_operation_error(StepError)


def execute_body(
    scope: ExecutionScope,
    identifier: OperationIdentifier,
    func: Callable[[StepContext], Any],
    *,
    attempt: int,
    config: StepConfig,
    context_logger: Logger,
) -> Outcome:
    """Run one attempt of a step-like body in its executor (steps, checks, submitters)."""
    settings = scope.settings
    executor_name = resolve_executor_name(config.executor, settings.step_executor)
    step_logger = context_logger.with_log_info(
        LogInfo(
            scope.durable_execution_arn,
            parent_id=identifier.parent_id,
            operation_id=identifier.operation_id,
            name=identifier.name,
            attempt=attempt,
        )
    )
    job = StepJob(
        func=func,
        attempt=attempt,
        serdes=config.serdes,
        operation_id=identifier.operation_id,
        durable_execution_arn=scope.durable_execution_arn,
        label=identifier.label,
        log_fields=step_logger.fields,
        timeout=config.timeout_seconds,
        memory_limit_mb=config.memory_limit_mb,
    )
    # The step's own context (the caller hands its activity to it before running us).
    parent = ParentSide(step_logger, scope.manager, scope.completions, current_context())
    executor = get_executor(executor_name, settings.workers, settings.max_workers)
    hooks = scope.hooks
    if not hooks.active:
        return _recorded(scope, identifier, attempt, executor.run(job, parent))
    contexts = hooks.worker_contexts(identifier, attempt)
    first = len(job.body_wrappers)
    if contexts.factories:
        job = replace(job, body_wrappers=(*job.body_wrappers, *contexts.factories))
    outcome = executor.run(job, parent)
    reports = contexts.owners_of(((r.wrapper, r.payload) for r in parent.reports), first)
    hooks.body_ran(identifier, attempt, outcome.run, outcome.error, reports)
    return _recorded(scope, identifier, attempt, outcome)


def _recorded(
    scope: ExecutionScope, identifier: OperationIdentifier, attempt: int, outcome: Outcome
) -> Outcome:
    """Hand the attempt's body run to a service that keeps them (the local one does, for
    the console's worker lanes; the boto3 client does not)."""
    record = getattr(scope.batcher.client, "record_body_run", None)
    if record is not None and outcome.run is not None:
        record(scope.durable_execution_arn, identifier.operation_id, attempt, outcome.run)
    return outcome
