"""Wire models of the Lambda durable execution API.

Shapes and field names follow botocore's ``lambda`` service model (the contract). Two
encodings exist: ``to_dict``/``from_dict`` carry ``datetime`` objects, as boto3 returns
them; ``to_json_dict``/``from_json_dict`` carry Unix milliseconds, as the Lambda
invocation event does.
``durable_mp.lambda_service`` re-exports all of it under the official SDK's module name,
together with the service clients (which themselves use these models).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from durable_mp.exceptions import (
    SERDES_ERROR_TYPES,
    DurableOperationError,
    SerDesError,
    qualified_name,
)

if TYPE_CHECKING:
    import builtins
    from collections.abc import Mapping

# Limits of the service, from botocore's model and the AWS documentation.
MAX_OPERATION_PAYLOAD_BYTES = 6 * 1024 * 1024  # OperationPayload max in the API model
MAX_ERROR_OBJECT_BYTES = 32 * 1024
MAX_OPERATION_ID_LENGTH = 64
MAX_OPERATION_NAME_LENGTH = 256
CHECKPOINT_SIZE_LIMIT_BYTES = 256 * 1024  # above this a child context uses ReplayChildren
LAMBDA_RESPONSE_SIZE_LIMIT = 6 * 1024 * 1024 - 50

OperationPayload: TypeAlias = str  # a serialized result or input, as the API carries it


__all__ = [
    "CHECKPOINT_SIZE_LIMIT_BYTES",
    "LAMBDA_RESPONSE_SIZE_LIMIT",
    "MAX_ERROR_OBJECT_BYTES",
    "MAX_OPERATION_ID_LENGTH",
    "MAX_OPERATION_NAME_LENGTH",
    "MAX_OPERATION_PAYLOAD_BYTES",
    "TERMINAL_STATUSES",
    "CallbackDetails",
    "CallbackOptions",
    "ChainedInvokeDetails",
    "ChainedInvokeOptions",
    "CheckpointOutput",
    "CheckpointUpdatedExecutionState",
    "ContextDetails",
    "ContextOptions",
    "DurableExecutionInvocationOutput",
    "ErrorObject",
    "ExecutionDetails",
    "InvocationStatus",
    "Operation",
    "OperationAction",
    "OperationPayload",
    "OperationStatus",
    "OperationSubType",
    "OperationType",
    "OperationUpdate",
    "StateOutput",
    "StepDetails",
    "StepOptions",
    "WaitDetails",
    "WaitOptions",
    "from_millis",
    "to_millis",
]


class OperationAction(Enum):
    START = "START"
    SUCCEED = "SUCCEED"
    FAIL = "FAIL"
    RETRY = "RETRY"
    CANCEL = "CANCEL"


class OperationStatus(Enum):
    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.TIMED_OUT,
        OperationStatus.STOPPED,
    }
)


class OperationType(Enum):
    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class OperationSubType(StrEnum):
    """Subtypes the SDK records for its own operations."""

    STEP = "Step"
    WAIT = "Wait"
    CALLBACK = "Callback"
    RUN_IN_CHILD_CONTEXT = "RunInChildContext"
    MAP = "Map"
    MAP_ITERATION = "MapIteration"
    PARALLEL = "Parallel"
    PARALLEL_BRANCH = "ParallelBranch"
    WAIT_FOR_CALLBACK = "WaitForCallback"
    WAIT_FOR_CONDITION = "WaitForCondition"
    CHAINED_INVOKE = "ChainedInvoke"


class InvocationStatus(Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"


# -- time -------------------------------------------------------------------------------


def to_millis(value: datetime.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def from_millis(value: int | float | None) -> datetime.datetime | None:
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)


def _as_datetime(value: Any) -> datetime.datetime | None:
    """Accept what boto3 returns (datetime) and what JSON carries (millis or ISO text)."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    if isinstance(value, int | float):
        return from_millis(value)
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    raise TypeError(f"not a timestamp: {value!r}")


# -- errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorObject:
    """The API's error shape: ErrorMessage, ErrorType, ErrorData, StackTrace."""

    message: str | None
    type: str | None
    data: str | None
    stack_trace: list[str] | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorObject:
        return cls(
            message=data.get("ErrorMessage"),
            type=data.get("ErrorType"),
            data=data.get("ErrorData"),
            stack_trace=data.get("StackTrace"),
        )

    @classmethod
    def from_exception(cls, exception: BaseException) -> ErrorObject:
        if isinstance(exception, SerDesError):
            # Pinned to the base type so replay always rebuilds a SerDesError.
            return cls(
                message=exception.message,
                type=qualified_name(SerDesError),
                data=exception.data,
                stack_trace=exception.stack_trace,
            )
        if isinstance(exception, DurableOperationError):
            return cls(
                message=exception.message,
                type=qualified_name(type(exception)),
                data=exception.data,
                stack_trace=exception.stack_trace,
            )
        return cls(
            message=str(exception),
            type=qualified_name(type(exception)),
            data=None,
            stack_trace=None,
        )

    @classmethod
    def from_message(cls, message: str) -> ErrorObject:
        return cls(message=message, type=None, data=None, stack_trace=None)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self.message is not None:
            result["ErrorMessage"] = self.message
        if self.type is not None:
            result["ErrorType"] = self.type
        if self.data is not None:
            result["ErrorData"] = self.data
        if self.stack_trace is not None:
            result["StackTrace"] = self.stack_trace
        return result

    def to_durable_operation_error(self) -> DurableOperationError:
        return DurableOperationError.from_error_fields(
            self.type, self.message, self.data, self.stack_trace
        )

    def raise_as_operation_error(
        self, operation_error_cls: builtins.type[DurableOperationError]
    ) -> NoReturn:
        """Raise the typed operation error; the first run and replay both come here."""
        cause = self.to_durable_operation_error()
        if self.type in SERDES_ERROR_TYPES:
            raise SerDesError(self.message, self.type, self.data, self.stack_trace) from cause
        raise operation_error_cls(
            message=self.message,
            error_type=self.type,
            data=self.data,
            stack_trace=self.stack_trace,
        ) from cause


def _error_or_none(raw: Any) -> ErrorObject | None:
    return ErrorObject.from_dict(raw) if raw else None


# -- operation details ------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionDetails:
    input_payload: str | None = None


@dataclass(frozen=True)
class ContextDetails:
    replay_children: bool = False
    result: str | None = None
    error: ErrorObject | None = None


@dataclass(frozen=True)
class StepDetails:
    attempt: int = 0
    next_attempt_timestamp: datetime.datetime | None = None
    result: str | None = None
    error: ErrorObject | None = None


@dataclass(frozen=True)
class WaitDetails:
    scheduled_end_timestamp: datetime.datetime | None = None


@dataclass(frozen=True)
class CallbackDetails:
    callback_id: str
    result: str | None = None
    error: ErrorObject | None = None


@dataclass(frozen=True)
class ChainedInvokeDetails:
    result: str | None = None
    error: ErrorObject | None = None


# -- update options ---------------------------------------------------------------------


@dataclass(frozen=True)
class StepOptions:
    next_attempt_delay_seconds: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"NextAttemptDelaySeconds": self.next_attempt_delay_seconds}


@dataclass(frozen=True)
class WaitOptions:
    wait_seconds: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"WaitSeconds": self.wait_seconds}


@dataclass(frozen=True)
class CallbackOptions:
    timeout_seconds: int = 0
    heartbeat_timeout_seconds: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "TimeoutSeconds": self.timeout_seconds,
            "HeartbeatTimeoutSeconds": self.heartbeat_timeout_seconds,
        }


@dataclass(frozen=True)
class ChainedInvokeOptions:
    """``x_amzn_trace_id``: the X-Ray header the target's invocation starts under (an
    instrumentation plugin's, via ``provide_propagation_metadata``); without it the
    service lets the target inherit the execution's own."""

    function_name: str
    tenant_id: str | None = None
    x_amzn_trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"FunctionName": self.function_name}
        if self.tenant_id is not None:
            result["TenantId"] = self.tenant_id
        if self.x_amzn_trace_id is not None:
            result["XAmznTraceId"] = self.x_amzn_trace_id
        return result


@dataclass(frozen=True)
class ContextOptions:
    replay_children: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"ReplayChildren": self.replay_children}


# -- updates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationUpdate:
    """One entry of ``CheckpointDurableExecution.Updates``."""

    operation_id: str
    operation_type: OperationType
    action: OperationAction
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    payload: str | None = None
    error: ErrorObject | None = None
    context_options: ContextOptions | None = None
    step_options: StepOptions | None = None
    wait_options: WaitOptions | None = None
    callback_options: CallbackOptions | None = None
    chained_invoke_options: ChainedInvokeOptions | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "Id": self.operation_id,
            "Type": self.operation_type.value,
            "Action": self.action.value,
        }
        if self.parent_id:
            result["ParentId"] = self.parent_id
        if self.name:
            result["Name"] = self.name
        if self.sub_type:
            result["SubType"] = self.sub_type
        if self.payload is not None:
            result["Payload"] = self.payload
        if self.error is not None:
            result["Error"] = self.error.to_dict()
        for key, options in (
            ("ContextOptions", self.context_options),
            ("StepOptions", self.step_options),
            ("WaitOptions", self.wait_options),
            ("CallbackOptions", self.callback_options),
            ("ChainedInvokeOptions", self.chained_invoke_options),
        ):
            if options is not None:
                result[key] = options.to_dict()
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationUpdate:
        step = data.get("StepOptions")
        wait = data.get("WaitOptions")
        callback = data.get("CallbackOptions")
        invoke = data.get("ChainedInvokeOptions")
        context = data.get("ContextOptions")
        return cls(
            operation_id=data["Id"],
            operation_type=OperationType(data["Type"]),
            action=OperationAction(data["Action"]),
            parent_id=data.get("ParentId"),
            name=data.get("Name"),
            sub_type=data.get("SubType") or None,
            payload=data.get("Payload"),
            error=_error_or_none(data.get("Error")),
            context_options=ContextOptions(bool(context.get("ReplayChildren", False)))
            if context is not None
            else None,
            step_options=StepOptions(int(step.get("NextAttemptDelaySeconds", 0)))
            if step is not None
            else None,
            wait_options=WaitOptions(int(wait.get("WaitSeconds", 1))) if wait is not None else None,
            callback_options=CallbackOptions(
                int(callback.get("TimeoutSeconds", 0)),
                int(callback.get("HeartbeatTimeoutSeconds", 0)),
            )
            if callback is not None
            else None,
            chained_invoke_options=ChainedInvokeOptions(
                invoke["FunctionName"], invoke.get("TenantId"), invoke.get("XAmznTraceId")
            )
            if invoke is not None
            else None,
        )

    @property
    def is_execution_terminal(self) -> bool:
        return self.operation_type is OperationType.EXECUTION and self.action in {
            OperationAction.SUCCEED,
            OperationAction.FAIL,
        }


# -- operations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One operation of ``GetDurableExecutionState`` / ``NewExecutionState``."""

    operation_id: str
    operation_type: OperationType
    status: OperationStatus
    parent_id: str | None = None
    name: str | None = None
    start_timestamp: datetime.datetime | None = None
    end_timestamp: datetime.datetime | None = None
    sub_type: str | None = None
    execution_details: ExecutionDetails | None = None
    context_details: ContextDetails | None = None
    step_details: StepDetails | None = None
    wait_details: WaitDetails | None = None
    callback_details: CallbackDetails | None = None
    chained_invoke_details: ChainedInvokeDetails | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def result(self) -> str | None:
        """The payload of whichever details this operation type carries."""
        details = self._outcome_details()
        return details.result if details is not None else None

    @property
    def error(self) -> ErrorObject | None:
        details = self._outcome_details()
        return details.error if details is not None else None

    def _outcome_details(
        self,
    ) -> StepDetails | ContextDetails | CallbackDetails | ChainedInvokeDetails | None:
        match self.operation_type:
            case OperationType.STEP:
                return self.step_details
            case OperationType.CONTEXT:
                return self.context_details
            case OperationType.CALLBACK:
                return self.callback_details
            case OperationType.CHAINED_INVOKE:
                return self.chained_invoke_details
            case _:
                return None

    def with_status(self, status: OperationStatus, **changes: Any) -> Operation:
        return replace(self, status=status, **changes)

    # boto3 shape (datetime values) --------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Operation:
        execution = data.get("ExecutionDetails")
        context = data.get("ContextDetails")
        step = data.get("StepDetails")
        wait = data.get("WaitDetails")
        callback = data.get("CallbackDetails")
        invoke = data.get("ChainedInvokeDetails")
        return cls(
            operation_id=data["Id"],
            operation_type=OperationType(data["Type"]),
            status=OperationStatus(data["Status"]),
            parent_id=data.get("ParentId"),
            name=data.get("Name"),
            start_timestamp=_as_datetime(data.get("StartTimestamp")),
            end_timestamp=_as_datetime(data.get("EndTimestamp")),
            sub_type=data.get("SubType") or None,
            execution_details=ExecutionDetails(execution.get("InputPayload"))
            if execution is not None
            else None,
            context_details=ContextDetails(
                bool(context.get("ReplayChildren", False)),
                context.get("Result"),
                _error_or_none(context.get("Error")),
            )
            if context is not None
            else None,
            step_details=StepDetails(
                int(step.get("Attempt", 0)),
                _as_datetime(step.get("NextAttemptTimestamp")),
                step.get("Result"),
                _error_or_none(step.get("Error")),
            )
            if step is not None
            else None,
            wait_details=WaitDetails(_as_datetime(wait.get("ScheduledEndTimestamp")))
            if wait is not None
            else None,
            callback_details=CallbackDetails(
                callback.get("CallbackId", ""),
                callback.get("Result"),
                _error_or_none(callback.get("Error")),
            )
            if callback is not None
            else None,
            chained_invoke_details=ChainedInvokeDetails(
                invoke.get("Result"), _error_or_none(invoke.get("Error"))
            )
            if invoke is not None
            else None,
        )

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "Id": self.operation_id,
            "Type": self.operation_type.value,
            "Status": self.status.value,
        }
        if self.parent_id:
            result["ParentId"] = self.parent_id
        if self.name:
            result["Name"] = self.name
        if self.start_timestamp is not None:
            result["StartTimestamp"] = self.start_timestamp
        if self.end_timestamp is not None:
            result["EndTimestamp"] = self.end_timestamp
        if self.sub_type:
            result["SubType"] = self.sub_type
        if self.execution_details is not None:
            result["ExecutionDetails"] = _drop_none(
                {"InputPayload": self.execution_details.input_payload}
            )
        if self.context_details is not None:
            context = _outcome_dict(self.context_details.result, self.context_details.error)
            if self.context_details.replay_children:
                context["ReplayChildren"] = True
            result["ContextDetails"] = context
        if self.step_details is not None:
            step: dict[str, Any] = {"Attempt": self.step_details.attempt}
            if self.step_details.next_attempt_timestamp is not None:
                step["NextAttemptTimestamp"] = self.step_details.next_attempt_timestamp
            step.update(_outcome_dict(self.step_details.result, self.step_details.error))
            result["StepDetails"] = step
        if self.wait_details is not None:
            result["WaitDetails"] = _drop_none(
                {"ScheduledEndTimestamp": self.wait_details.scheduled_end_timestamp}
            )
        if self.callback_details is not None:
            result["CallbackDetails"] = {
                "CallbackId": self.callback_details.callback_id,
                **_outcome_dict(self.callback_details.result, self.callback_details.error),
            }
        if self.chained_invoke_details is not None:
            result["ChainedInvokeDetails"] = _outcome_dict(
                self.chained_invoke_details.result, self.chained_invoke_details.error
            )
        return result

    # JSON shape (Unix milliseconds), as in the Lambda invocation event -------------------

    def to_json_dict(self) -> dict[str, Any]:
        return _convert_timestamps(self.to_dict(), to_millis)

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Operation:
        return cls.from_dict(data)  # from_dict accepts millis as well as datetimes


_TIMESTAMP_FIELDS = (
    ("StartTimestamp",),
    ("EndTimestamp",),
    ("StepDetails", "NextAttemptTimestamp"),
    ("WaitDetails", "ScheduledEndTimestamp"),
)


def _convert_timestamps(data: dict[str, Any], convert: Any) -> dict[str, Any]:
    for path in _TIMESTAMP_FIELDS:
        holder: Any = data
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and holder.get(path[-1]) is not None:
            holder[path[-1]] = convert(holder[path[-1]])
    return data


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def _outcome_dict(result: str | None, error: ErrorObject | None) -> dict[str, Any]:
    outcome: dict[str, Any] = {}
    if result is not None:
        outcome["Result"] = result
    if error is not None:
        outcome["Error"] = error.to_dict()
    return outcome


# -- API responses ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointUpdatedExecutionState:
    operations: list[Operation] = field(default_factory=list)
    next_marker: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointUpdatedExecutionState:
        return cls(
            [Operation.from_dict(op) for op in data.get("Operations") or []],
            data.get("NextMarker") or None,
        )


@dataclass(frozen=True)
class CheckpointOutput:
    """``CheckpointDurableExecution`` response; no token once the execution has ended."""

    checkpoint_token: str | None
    new_execution_state: CheckpointUpdatedExecutionState

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointOutput:
        return cls(
            data.get("CheckpointToken"),
            CheckpointUpdatedExecutionState.from_dict(data.get("NewExecutionState") or {}),
        )


@dataclass(frozen=True)
class StateOutput:
    """``GetDurableExecutionState`` response (one page)."""

    operations: list[Operation] = field(default_factory=list)
    next_marker: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StateOutput:
        return cls(
            [Operation.from_dict(op) for op in data.get("Operations") or []],
            data.get("NextMarker") or None,
        )


@dataclass(frozen=True)
class DurableExecutionInvocationOutput:
    """What a durable handler returns to Lambda."""

    status: InvocationStatus
    result: str | None = None
    error: ErrorObject | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DurableExecutionInvocationOutput:
        return cls(
            InvocationStatus(data["Status"]),
            data.get("Result"),
            _error_or_none(data.get("Error")),
        )

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"Status": self.status.value}
        if self.result is not None:
            result["Result"] = self.result
        if self.error is not None:
            result["Error"] = self.error.to_dict()
        return result

    @classmethod
    def create_succeeded(cls, result: str) -> DurableExecutionInvocationOutput:
        return cls(InvocationStatus.SUCCEEDED, result=result)

    @classmethod
    def create_pending(cls) -> DurableExecutionInvocationOutput:
        return cls(InvocationStatus.PENDING)

    @classmethod
    def create_failed(cls, error: ErrorObject | None) -> DurableExecutionInvocationOutput:
        return cls(InvocationStatus.FAILED, error=error)
