"""Execution history in the shape of ``GetDurableExecutionHistory``.

Events are appended as things happen (a checkpoint is applied, a timer fires, an
invocation ends), so the history reads like the real service's: ``EventType``,
``SubType``, ``EventId`` (1-based per execution), ``Id``, ``Name``, ``EventTimestamp``,
``ParentId`` and one ``<EventType>Details`` object. Payloads are stored in full;
``include_execution_data=False`` hides inputs and results when the history is read,
as the API does.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from durable_mp.lambda_service import ErrorObject, Operation

_TIMESTAMP_KEYS = frozenset(
    {"EventTimestamp", "ScheduledEndTimestamp", "StartTimestamp", "EndTimestamp"}
)
_DATA_KEYS = ("Input", "Result")


@dataclass(frozen=True)
class HistoryEvent:
    """One event before it is numbered and stored."""

    event_type: str
    timestamp: datetime.datetime
    details: dict[str, Any]
    operation_id: str | None = None
    name: str | None = None
    parent_id: str | None = None
    sub_type: str | None = None

    def to_stored(self, event_id: int) -> dict[str, Any]:
        """The stored (JSON) form: the API's keys, timestamps as ISO 8601 text."""
        event: dict[str, Any] = {"EventType": self.event_type}
        if self.sub_type:
            event["SubType"] = self.sub_type
        event["EventId"] = event_id
        if self.operation_id:
            event["Id"] = self.operation_id
        if self.name:
            event["Name"] = self.name
        event["EventTimestamp"] = self.timestamp.isoformat()
        if self.parent_id:
            event["ParentId"] = self.parent_id
        event[f"{self.event_type}Details"] = _to_json(self.details)
        return event


# -- shared shapes ------------------------------------------------------------------


def _data(payload: str | None) -> dict[str, Any]:
    """``{Payload, Truncated}`` as the API wraps inputs and results."""
    wrapped: dict[str, Any] = {"Truncated": False}
    if payload is not None:
        wrapped["Payload"] = payload
    return wrapped


def _error(error: ErrorObject | None) -> dict[str, Any]:
    return {"Payload": error.to_dict() if error is not None else {}, "Truncated": False}


def _retry_details(attempt: int, next_delay: int | None) -> dict[str, Any]:
    details: dict[str, Any] = {"CurrentAttempt": attempt}
    if next_delay is not None:
        details["NextAttemptDelaySeconds"] = next_delay
    return details


def _of(
    operation: Operation, event_type: str, at: datetime.datetime, **details: Any
) -> HistoryEvent:
    return HistoryEvent(
        event_type=event_type,
        timestamp=at,
        details=details,
        operation_id=operation.operation_id,
        name=operation.name,
        parent_id=operation.parent_id,
        sub_type=operation.sub_type,
    )


def _attempt(operation: Operation) -> int:
    return operation.step_details.attempt if operation.step_details else 0


# -- execution ----------------------------------------------------------------------


def execution_started(
    operation_id: str, name: str, input_payload: str | None, timeout_s: int, at: datetime.datetime
) -> HistoryEvent:
    return HistoryEvent(
        "ExecutionStarted",
        at,
        {"Input": _data(input_payload), "ExecutionTimeout": timeout_s},
        operation_id,
        name,
    )


def execution_succeeded(
    operation_id: str, name: str, result: str | None, at: datetime.datetime
) -> HistoryEvent:
    return HistoryEvent("ExecutionSucceeded", at, {"Result": _data(result)}, operation_id, name)


def execution_failed(
    operation_id: str, name: str, error: ErrorObject | None, at: datetime.datetime
) -> HistoryEvent:
    return HistoryEvent("ExecutionFailed", at, {"Error": _error(error)}, operation_id, name)


def execution_timed_out(
    operation_id: str, name: str, error: ErrorObject | None, at: datetime.datetime
) -> HistoryEvent:
    return HistoryEvent("ExecutionTimedOut", at, {"Error": _error(error)}, operation_id, name)


def execution_stopped(
    operation_id: str, name: str, error: ErrorObject | None, at: datetime.datetime
) -> HistoryEvent:
    return HistoryEvent("ExecutionStopped", at, {"Error": _error(error)}, operation_id, name)


def invocation_completed(
    started: datetime.datetime,
    ended: datetime.datetime,
    request_id: str,
    error: ErrorObject | None = None,
) -> HistoryEvent:
    details: dict[str, Any] = {
        "StartTimestamp": started,
        "EndTimestamp": ended,
        "RequestId": request_id,
    }
    if error is not None:
        details["Error"] = _error(error)
    return HistoryEvent("InvocationCompleted", ended, details)


# -- steps --------------------------------------------------------------------------


def step_started(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "StepStarted", at)


def step_succeeded(
    operation: Operation, at: datetime.datetime, next_delay: int | None = None
) -> HistoryEvent:
    """A finished attempt with a result (a wait-for-condition RETRY carries a delay)."""
    return _of(
        operation,
        "StepSucceeded",
        at,
        Result=_data(operation.result),
        RetryDetails=_retry_details(_attempt(operation), next_delay),
    )


def step_failed(
    operation: Operation,
    error: ErrorObject | None,
    at: datetime.datetime,
    next_delay: int | None = None,
) -> HistoryEvent:
    """A failed attempt; ``next_delay`` is set when another attempt follows."""
    return _of(
        operation,
        "StepFailed",
        at,
        Error=_error(error),
        RetryDetails=_retry_details(_attempt(operation), next_delay),
    )


# -- waits --------------------------------------------------------------------------


def wait_started(
    operation: Operation, duration: int, scheduled_end: datetime.datetime, at: datetime.datetime
) -> HistoryEvent:
    return _of(operation, "WaitStarted", at, Duration=duration, ScheduledEndTimestamp=scheduled_end)


def wait_succeeded(operation: Operation, duration: int, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "WaitSucceeded", at, Duration=duration)


def wait_cancelled(
    operation: Operation, error: ErrorObject | None, at: datetime.datetime
) -> HistoryEvent:
    return (
        _of(operation, "WaitCancelled", at, Error=_error(error))
        if error is not None
        else _of(operation, "WaitCancelled", at)
    )


# -- contexts -----------------------------------------------------------------------


def context_started(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "ContextStarted", at)


def context_succeeded(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "ContextSucceeded", at, Result=_data(operation.result))


def context_failed(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "ContextFailed", at, Error=_error(operation.error))


# -- callbacks ----------------------------------------------------------------------


def callback_started(
    operation: Operation,
    callback_id: str,
    at: datetime.datetime,
    timeout_s: int | None = None,
    heartbeat_timeout_s: int | None = None,
) -> HistoryEvent:
    details: dict[str, Any] = {"CallbackId": callback_id}
    if heartbeat_timeout_s:
        details["HeartbeatTimeout"] = heartbeat_timeout_s
    if timeout_s:
        details["Timeout"] = timeout_s
    return _of(operation, "CallbackStarted", at, **details)


def callback_succeeded(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "CallbackSucceeded", at, Result=_data(operation.result))


def callback_failed(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "CallbackFailed", at, Error=_error(operation.error))


def callback_timed_out(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "CallbackTimedOut", at, Error=_error(operation.error))


# -- chained invokes ----------------------------------------------------------------


def chained_invoke_started(
    operation: Operation,
    function_name: str,
    input_payload: str | None,
    at: datetime.datetime,
    *,
    durable_execution_arn: str | None = None,
    executed_version: str | None = None,
    tenant_id: str | None = None,
) -> HistoryEvent:
    details: dict[str, Any] = {"FunctionName": function_name}
    if input_payload is not None:  # none kept for a target that never started
        details["Input"] = _data(input_payload)
    if tenant_id is not None:
        details["TenantId"] = tenant_id
    if executed_version is not None:
        details["ExecutedVersion"] = executed_version
    if durable_execution_arn is not None:
        details["DurableExecutionArn"] = durable_execution_arn
    return _of(operation, "ChainedInvokeStarted", at, **details)


def chained_invoke_succeeded(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "ChainedInvokeSucceeded", at, Result=_data(operation.result))


def chained_invoke_failed(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "ChainedInvokeFailed", at, Error=_error(operation.error))


def chained_invoke_timed_out(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "ChainedInvokeTimedOut", at, Error=_error(operation.error))


def chained_invoke_stopped(operation: Operation, at: datetime.datetime) -> HistoryEvent:
    return _of(operation, "ChainedInvokeStopped", at, Error=_error(operation.error))


# -- reading ------------------------------------------------------------------------


def present(stored: Mapping[str, Any], *, include_execution_data: bool = True) -> dict[str, Any]:
    """A stored event as boto3 returns it: timestamps as ``datetime``.

    Without execution data, inputs and results lose their ``Payload`` and say
    ``Truncated: true``; errors are kept (they are what a failed run is debugged by).
    """
    event: dict[str, Any] = _parse_timestamps(copy.deepcopy(dict(stored)))
    if not include_execution_data:
        for key, details in event.items():
            if key.endswith("Details") and isinstance(details, dict):
                for data_key in _DATA_KEYS:
                    if isinstance(details.get(data_key), dict):
                        details[data_key] = {"Truncated": True}
    return event


def history_to_json(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """History events with every ``datetime`` as ISO 8601 text, ready for ``json.dumps``."""
    return [_to_json(dict(event)) for event in events]


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    return value


def _parse_timestamps(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _parse_timestamps(item, k) for k, item in value.items()}
    if isinstance(value, list):
        return [_parse_timestamps(item) for item in value]
    if key in _TIMESTAMP_KEYS and isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    return value
