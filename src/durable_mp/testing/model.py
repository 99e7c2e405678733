"""Execution history as tests read it, and the operations it implies.

The history comes as ``GetDurableExecutionHistory`` events (dicts in boto3's shape, from
the embedded service or over HTTP). :class:`Event` gives them the attribute names AWS's
testing library uses (``event.callback_started_details.callback_id``);
:func:`events_to_operations` folds them into the service's operations, which is how the
cloud runner builds its result.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from durable_mp._wire import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationStatus,
    OperationType,
    StepDetails,
    WaitDetails,
)
from durable_mp.testing.exceptions import DurableFunctionsTestError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "Event",
    "EventDetails",
    "GetDurableExecutionHistoryResponse",
    "callback_id_from_events",
    "events_to_operations",
]

_TYPE_PREFIXES: tuple[tuple[str, OperationType], ...] = (
    ("ChainedInvoke", OperationType.CHAINED_INVOKE),
    ("Execution", OperationType.EXECUTION),
    ("Callback", OperationType.CALLBACK),
    ("Context", OperationType.CONTEXT),
    ("Step", OperationType.STEP),
    ("Wait", OperationType.WAIT),
)
_STATUS_SUFFIXES: dict[str, OperationStatus] = {
    "Started": OperationStatus.STARTED,
    "Succeeded": OperationStatus.SUCCEEDED,
    "Failed": OperationStatus.FAILED,
    "TimedOut": OperationStatus.TIMED_OUT,
    "Stopped": OperationStatus.STOPPED,
    "Cancelled": OperationStatus.CANCELLED,
}
_CALLBACK_ENDED = ("CallbackSucceeded", "CallbackFailed", "CallbackTimedOut")


def _camel(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


class EventDetails:
    """One ``<EventType>Details`` object, read with snake_case attributes.

    ``details.result.payload`` reads ``{"Result": {"Payload": ...}}``; a key that is not
    there reads as None, as an optional field of the API does.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._data.get(_camel(name))
        return EventDetails(value) if isinstance(value, dict) else value

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"EventDetails({self._data!r})"


@dataclass(frozen=True)
class Event:
    """One history event; ``<event_type>_details`` attributes read its details."""

    event_type: str
    event_timestamp: datetime.datetime | None
    sub_type: str | None = None
    event_id: int = 1
    operation_id: str | None = None
    name: str | None = None
    parent_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        kind = str(data["EventType"])
        stamp = data.get("EventTimestamp")
        if isinstance(stamp, str):
            stamp = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return cls(
            event_type=kind,
            event_timestamp=stamp,
            sub_type=data.get("SubType"),
            event_id=int(data.get("EventId", 1)),
            operation_id=data.get("Id"),
            name=data.get("Name"),
            parent_id=data.get("ParentId"),
            details=dict(data.get(f"{kind}Details") or {}),
        )

    def __getattr__(self, name: str) -> Any:
        if not name.endswith("_details") or name.startswith("_"):
            raise AttributeError(name)
        if _camel(name) != f"{self.event_type}Details":
            return None
        return EventDetails(self.details)

    def to_dict(self) -> dict[str, Any]:
        event: dict[str, Any] = {"EventType": self.event_type, "EventId": self.event_id}
        for key, value in (
            ("SubType", self.sub_type),
            ("Id", self.operation_id),
            ("Name", self.name),
            ("EventTimestamp", self.event_timestamp),
            ("ParentId", self.parent_id),
        ):
            if value is not None:
                event[key] = value
        event[f"{self.event_type}Details"] = dict(self.details)
        return event


@dataclass(frozen=True)
class GetDurableExecutionHistoryResponse:
    events: list[Event]
    next_marker: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GetDurableExecutionHistoryResponse:
        return cls(
            [Event.from_dict(event) for event in data.get("Events") or []],
            data.get("NextMarker") or None,
        )

    def to_dict(self) -> dict[str, Any]:
        reply: dict[str, Any] = {"Events": [event.to_dict() for event in self.events]}
        if self.next_marker is not None:
            reply["NextMarker"] = self.next_marker
        return reply


# -- events to operations ----------------------------------------------------------------


def _classify(event_type: str) -> tuple[OperationType, OperationStatus] | None:
    for prefix, kind in _TYPE_PREFIXES:
        if event_type.startswith(prefix):
            status = _STATUS_SUFFIXES.get(event_type[len(prefix) :])
            return None if status is None else (kind, status)
    return None


def _payload(details: Mapping[str, Any], key: str) -> Any:
    wrapped = details.get(key)
    return wrapped.get("Payload") if isinstance(wrapped, dict) else None


def _error(details: Mapping[str, Any]) -> ErrorObject | None:
    payload = _payload(details, "Error")
    return ErrorObject.from_dict(payload) if isinstance(payload, dict) and payload else None


def events_to_operations(events: Iterable[Event]) -> list[Operation]:
    """Fold the history into one operation per id, in order of first appearance.

    Each event sets the status its type implies and adds what its details carry (a
    callback's id, a result, an error, the attempt); ``InvocationCompleted`` and other
    events that are not about an operation are skipped.
    """
    folded: dict[str, Operation] = {}
    for event in events:
        classified = _classify(event.event_type)
        if classified is None or not event.operation_id:
            continue
        kind, status = classified
        previous = folded.get(event.operation_id)
        operation = previous or Operation(
            event.operation_id,
            kind,
            status,
            parent_id=event.parent_id,
            name=event.name,
            sub_type=event.sub_type or None,
            start_timestamp=event.event_timestamp,
        )
        ended = status is not OperationStatus.STARTED
        operation = replace(
            operation,
            status=status,
            end_timestamp=event.event_timestamp if ended else operation.end_timestamp,
            **_details_of(operation, event),
        )
        folded[event.operation_id] = operation
    return list(folded.values())


def _details_of(operation: Operation, event: Event) -> dict[str, Any]:
    details, kind = event.details, operation.operation_type
    result = _payload(details, "Result")
    error = _error(details)
    if kind is OperationType.EXECUTION:
        if event.event_type == "ExecutionStarted":
            return {"execution_details": ExecutionDetails(_payload(details, "Input"))}
        return {}
    if kind is OperationType.STEP:
        step = operation.step_details or StepDetails()
        retry = details.get("RetryDetails") or {}
        attempt = int(retry.get("CurrentAttempt", step.attempt))
        next_attempt = step.next_attempt_timestamp
        delay = retry.get("NextAttemptDelaySeconds")
        if delay is not None and event.event_timestamp is not None:
            next_attempt = event.event_timestamp + datetime.timedelta(seconds=delay)
        return {
            "step_details": StepDetails(
                attempt, next_attempt, result or step.result, error or step.error
            )
        }
    if kind is OperationType.WAIT:
        if event.event_type == "WaitStarted":
            end = details.get("ScheduledEndTimestamp")
            if isinstance(end, str):
                end = datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
            return {"wait_details": WaitDetails(end)}
        return {}
    if kind is OperationType.CALLBACK:
        callback = operation.callback_details or CallbackDetails("")
        return {
            "callback_details": CallbackDetails(
                details.get("CallbackId") or callback.callback_id,
                result or callback.result,
                error or callback.error,
            )
        }
    if kind is OperationType.CONTEXT:
        if result is None and error is None:
            return {}
        return {"context_details": ContextDetails(False, result, error)}
    if result is None and error is None:
        return {}
    return {"chained_invoke_details": ChainedInvokeDetails(result, error)}


# -- callbacks ---------------------------------------------------------------------------


def callback_id_from_events(events: Sequence[Event], name: str | None = None) -> str | None:
    """The id of an open callback whose invocation has ended, or None (yet).

    Without ``name``, the latest such callback. A callback counts once the invocation
    that created it has completed, as AWS's library has it, so the handler has reached
    the wait before a test answers. Raises :class:`DurableFunctionsTestError` if the
    named callback has already ended.
    """
    ended = {event.operation_id for event in events if event.event_type in _CALLBACK_ENDED}
    ready: list[Event] = []
    for position, event in enumerate(events):
        if event.event_type != "CallbackStarted":
            continue
        if name is not None and event.name != name:
            continue
        if name is not None and event.operation_id in ended:
            raise DurableFunctionsTestError(
                f"Callback {name} has already completed (succeeded/failed/timed out)"
            )
        settled = any(
            later.event_type == "InvocationCompleted" for later in events[position + 1 :]
        )
        if name is not None:
            return str(event.details.get("CallbackId")) if settled else None
        if settled and event.operation_id not in ended:
            ready.append(event)
    if not ready:
        return None
    return str(ready[-1].details.get("CallbackId"))
