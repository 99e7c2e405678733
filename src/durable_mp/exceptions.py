"""Exceptions raised by durable-mp.

The names and the hierarchy follow the official ``aws-durable-execution-sdk-python`` so
``except`` clauses migrate unchanged. The classes after ``# durable-mp`` are ours: they
describe failures that only exist because step bodies run in worker processes.

This module imports nothing from the rest of the package; everything else imports it.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any, TypedDict

BAD_REQUEST_ERROR = 400
TOO_MANY_REQUESTS_ERROR = 429
SERVICE_ERROR = 500
INVALID_PARAMETER_VALUE_EXCEPTION = "InvalidParameterValueException"
INVALID_CHECKPOINT_TOKEN_PREFIX = "Invalid checkpoint token"

# Error codes that arrive as 5xx but need the customer to act (a broken KMS key):
# retrying the invocation can never help, so they fail the execution.
NON_RETRYABLE_CUSTOMER_ERROR_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    }
)



def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


def _reduce_without_init(self: BaseException) -> tuple[Any, ...]:
    """Pickle an exception whose ``__init__`` takes more than its ``args``.

    Exceptions cross worker pipes both ways (a body's error; the parent's answer to a
    nested wait), and the default pickling calls ``cls(*args)``, which such a class
    refuses. This rebuilds it from ``args`` and its attributes instead.
    """
    return (_rebuild, (type(self), self.args, dict(self.__dict__)))

class AwsErrorObj(TypedDict):
    """The ``Error`` part of a botocore error response."""

    Code: str | None
    Message: str | None


class AwsErrorMetadata(TypedDict):
    """The ``ResponseMetadata`` part of a botocore error response."""

    RequestId: str | None
    HostId: str | None
    HTTPStatusCode: int | None
    HTTPHeaders: str | None
    RetryAttempts: str | None


class TerminationReason(Enum):
    """Why an execution ended without a result."""

    UNHANDLED_ERROR = "UNHANDLED_ERROR"
    INVOCATION_ERROR = "INVOCATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CHECKPOINT_FAILED = "CHECKPOINT_FAILED"
    NON_DETERMINISTIC_EXECUTION = "NON_DETERMINISTIC_EXECUTION"
    STEP_INTERRUPTED = "STEP_INTERRUPTED"
    SERIALIZATION_ERROR = "SERIALIZATION_ERROR"


class DurableExecutionsError(Exception):
    """Base class of every error durable-mp raises on purpose."""


class PluginLoadError(DurableExecutionsError):
    """A configured instrumentation plugin cannot be used: a name in
    ``DURABLE_EXECUTION_PLUGINS`` that no installed package provides, an entry point that
    fails to import, or a ``plugins=[...]`` entry that is not a factory. Raised when the
    handler is decorated; the message says which one and what to do."""


class UnrecoverableError(DurableExecutionsError):
    """An error that ends the invocation instead of being handled by user code."""

    def __init__(self, message: str, termination_reason: TerminationReason) -> None:
        super().__init__(message)
        self.termination_reason = termination_reason

    __reduce__ = _reduce_without_init


class ExecutionError(UnrecoverableError):
    """The execution fails (status FAILED) and is not retried."""

    def __init__(
        self,
        message: str,
        termination_reason: TerminationReason = TerminationReason.EXECUTION_ERROR,
    ) -> None:
        super().__init__(message, termination_reason)


class InvocationError(UnrecoverableError):
    """The invocation fails so that Lambda (or the local service) invokes again."""

    def __init__(
        self,
        message: str,
        termination_reason: TerminationReason = TerminationReason.INVOCATION_ERROR,
    ) -> None:
        super().__init__(message, termination_reason)

    def is_retryable(self) -> bool:
        return True


class DurableApiErrorCategory(Enum):
    INVOCATION = "INVOCATION"  # retry the invocation
    EXECUTION = "EXECUTION"  # fail the execution


CheckpointErrorCategory = DurableApiErrorCategory


def classify_api_error(
    code: str | None, message: str | None, status: int | None
) -> DurableApiErrorCategory:
    """Decide whether a durable execution API error can be cured by invoking again.

    Throttling (429), server errors (5xx), network errors and a stale checkpoint token are
    transient: the next invocation gets a fresh token and a calmer service. Every other 4xx
    (and the KMS configuration errors) needs a human, so the execution fails cleanly.
    """
    if code in NON_RETRYABLE_CUSTOMER_ERROR_CODES:
        return DurableApiErrorCategory.EXECUTION
    if status is None or not (BAD_REQUEST_ERROR <= status < SERVICE_ERROR):
        return DurableApiErrorCategory.INVOCATION
    if status == TOO_MANY_REQUESTS_ERROR:
        return DurableApiErrorCategory.INVOCATION
    # A stale token. The service names the error in a header; a service that does not
    # (dex-local-runner) leaves botocore no code but the status, and the message says it.
    unnamed = not code or code == str(status)
    if (code == INVALID_PARAMETER_VALUE_EXCEPTION or unnamed) and (message or "").startswith(
        INVALID_CHECKPOINT_TOKEN_PREFIX
    ):
        return DurableApiErrorCategory.INVOCATION
    return DurableApiErrorCategory.EXECUTION


class BotoClientError(InvocationError):
    """A durable execution API call failed; ``error_category`` says whether to retry."""

    def __init__(
        self,
        message: str,
        error_category: DurableApiErrorCategory = DurableApiErrorCategory.INVOCATION,
        error: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
        termination_reason: TerminationReason = TerminationReason.INVOCATION_ERROR,
    ) -> None:
        super().__init__(message, termination_reason)
        self.error = error
        self.response_metadata = response_metadata
        self.error_category = error_category

    @classmethod
    def from_exception(cls, exception: BaseException) -> BotoClientError:
        response: dict[str, Any] = getattr(exception, "response", None) or {}
        error = response.get("Error")
        metadata = response.get("ResponseMetadata")
        category = classify_api_error(
            (error or {}).get("Code"),
            (error or {}).get("Message"),
            (metadata or {}).get("HTTPStatusCode"),
        )
        return cls(str(exception), category, error, metadata)

    def is_retryable(self) -> bool:
        return self.error_category is DurableApiErrorCategory.INVOCATION

    is_retriable = is_retryable

    def build_logger_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        if self.error:
            extras["Error"] = self.error
        if self.response_metadata:
            extras["ResponseMetadata"] = self.response_metadata
        return extras


class CheckpointError(BotoClientError):
    """CheckpointDurableExecution failed."""

    def __init__(
        self,
        message: str,
        error_category: DurableApiErrorCategory = DurableApiErrorCategory.INVOCATION,
        error: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
        termination_reason: TerminationReason = TerminationReason.CHECKPOINT_FAILED,
    ) -> None:
        super().__init__(message, error_category, error, response_metadata, termination_reason)


class GetExecutionStateError(BotoClientError):
    """GetDurableExecutionState failed."""


class NonDeterministicExecutionError(ExecutionError):
    """Replay reached an operation whose type, name or subtype differs from the checkpoint."""

    def __init__(self, message: str, step_id: str | None = None) -> None:
        super().__init__(message, TerminationReason.NON_DETERMINISTIC_EXECUTION)
        self.step_id = step_id


class ValidationError(DurableExecutionsError):
    """An operation was called with arguments it cannot accept."""


class InvalidStateError(DurableExecutionsError):
    """An object was used in a state that does not allow it."""


class _ErrorDetails(DurableExecutionsError):
    """An error that carries the API's error fields, so it survives a checkpoint."""

    def __init__(
        self,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type or qualified_name(type(self))
        self.data = data
        self.stack_trace = stack_trace


class DurableOperationError(_ErrorDetails):
    """A durable operation failed; rebuilt identically on replay from its checkpoint.

    ``error_type`` is the type name of the error that escaped the operation (for example
    ``ValueError``), ``data`` its optional payload and ``stack_trace`` its formatted stack.
    On both the first run and replay ``__cause__`` is a stand-in rebuilt from those fields,
    never the original exception object, so both runs see the same thing.
    """

    @classmethod
    def from_error_fields(
        cls,
        error_type: str | None,
        message: str | None,
        data: str | None,
        stack_trace: list[str] | None,
    ) -> DurableOperationError:
        target = _OPERATION_ERROR_REGISTRY.get(error_type or "", DurableOperationError)
        return target(message=message, error_type=error_type, data=data, stack_trace=stack_trace)


class StepError(DurableOperationError):
    """A step failed for good (its retry strategy declined or was exhausted)."""


class InvokeError(DurableOperationError):
    """A chained invoke failed."""


class ChildContextError(DurableOperationError):
    """A child context (run_in_child_context, map, parallel) failed."""


class WaitForConditionError(DurableOperationError):
    """A wait_for_condition operation failed."""


class CallbackError(DurableOperationError):
    """A callback failed; the subclasses say why."""


class CallbackExternalError(CallbackError):
    """The external system reported failure for the callback."""


class CallbackTimeoutError(CallbackError):
    """The callback timed out, or its heartbeat did."""


class CallbackSubmitterError(CallbackError):
    """The submitter step of wait_for_callback failed."""


class SerDesError(_ErrorDetails):
    """Serializing or deserializing a value failed permanently (no retry)."""


class StepInterruptedError(InvocationError):
    """An at-most-once step started in an earlier invocation and never finished."""

    def __init__(self, message: str, step_id: str | None = None) -> None:
        super().__init__(message, TerminationReason.STEP_INTERRUPTED)
        self.step_id = step_id


class RetryableSerDesError(InvocationError):
    """A transient serdes failure: fail the invocation so the service invokes again."""

    def __init__(
        self,
        message: str,
        termination_reason: TerminationReason = TerminationReason.SERIALIZATION_ERROR,
    ) -> None:
        super().__init__(message, termination_reason)


class SuspendExecution(BaseException):
    """Unwinds user code when the invocation suspends (returns PENDING).

    A ``BaseException`` like ``SystemExit``: ``except Exception`` in user code must not
    swallow it.
    """


class TimedSuspendExecution(SuspendExecution):
    """A suspension that knows when it wants to resume."""

    def __init__(self, message: str, scheduled_timestamp: float) -> None:
        super().__init__(message)
        self.scheduled_timestamp = scheduled_timestamp

    __reduce__ = _reduce_without_init

    @classmethod
    def from_delay(cls, message: str, delay_seconds: float) -> TimedSuspendExecution:
        return cls(message, time.time() + delay_seconds)


class BackgroundThreadError(BaseException):
    """The checkpoint thread failed; raised in user threads to stop them at once."""

    def __init__(self, message: str, source_exception: BaseException) -> None:
        super().__init__(message)
        self.source_exception = source_exception

    __reduce__ = _reduce_without_init


class OrphanedChildException(BaseException):
    """A branch tried to checkpoint after its parent context already completed."""

    def __init__(self, message: str, operation_id: str) -> None:
        super().__init__(message)
        self.operation_id = operation_id

    __reduce__ = _reduce_without_init


# durable-mp ----------------------------------------------------------------------------


class StepExecutionError(DurableExecutionsError):
    """A step body could not run to an outcome in its executor.

    These errors are raised *by the executor*, not by the step body. Like any error a step
    raises they go through the step's retry strategy, unless noted otherwise.
    """


class WorkerCrashedError(StepExecutionError):
    """The worker process running the step died (os._exit, a signal, a segfault).

    Only that step fails; the pool replaces the worker. ``exitcode`` is the process exit
    code, negative for a signal (as ``multiprocessing`` reports it).
    """

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode


class StepTimeoutError(StepExecutionError):
    """The step ran longer than ``StepConfig(timeout=...)``; its worker tree was killed."""


class StepMemoryLimitError(StepExecutionError):
    """The step's worker tree used more memory than ``StepConfig(memory_limit_mb=...)``."""


class StepPicklingError(SerDesError):
    """A step's function, arguments or result cannot cross the process boundary.

    A permanent failure (retrying cannot make an object picklable), so it fails the step
    without consulting its retry strategy.
    """


class PayloadTooLargeError(SerDesError):
    """A serialized value is larger than the durable execution service accepts."""


class NestedOperationError(DurableExecutionsError):
    """A durable operation was started from inside a step body.

    Step bodies are single units of work; compose operations with
    ``ctx.run_in_child_context`` instead.
    """


class WorkerPoolError(DurableExecutionsError):
    """The worker pool cannot run a step (it was shut down, or its hard cap was hit)."""


class InvalidEventError(ExecutionError):
    """The Lambda event is not a durable execution invocation."""


class InternalInvariantError(ExecutionError):
    """durable-mp broke one of its own invariants; the execution fails instead of hanging."""


def qualified_name(cls: type[BaseException]) -> str:
    """The wire ``ErrorType`` of a class: builtins bare, everything else module-qualified."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


# Operation errors rebuilt on replay. Keys are the wire ErrorType. Both our names and the
# official SDK's are accepted, so executions checkpointed by either SDK replay in ours.
_OFFICIAL_MODULE = "aws_durable_execution_sdk_python.exceptions"
_OPERATION_ERROR_REGISTRY: dict[str, type[DurableOperationError]] = {}


def register_operation_error(error_cls: type[DurableOperationError]) -> None:
    """Let replay rebuild ``error_cls`` from its wire ErrorType."""
    _OPERATION_ERROR_REGISTRY[qualified_name(error_cls)] = error_cls
    _OPERATION_ERROR_REGISTRY[f"{_OFFICIAL_MODULE}.{error_cls.__qualname__}"] = error_cls


for _cls in (
    StepError,
    InvokeError,
    ChildContextError,
    WaitForConditionError,
    CallbackError,
    CallbackExternalError,
    CallbackTimeoutError,
    CallbackSubmitterError,
):
    register_operation_error(_cls)

SERDES_ERROR_TYPES = frozenset({qualified_name(SerDesError), f"{_OFFICIAL_MODULE}.SerDesError"})
