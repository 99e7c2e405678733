"""The operation state machine: what one update, or one due timer, does to an operation.

Pure functions: they take the operation as stored (or None when new) and return the
operation as it must be stored next, with the history events the change produces. The
batch has been validated (:mod:`durable_mp.local.validation`) before any of this runs.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import (
    ContextDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
)
from durable_mp.local import history
from durable_mp.local.errors import invalid_parameter

if TYPE_CHECKING:
    from durable_mp.local.history import HistoryEvent

Action = OperationAction
Status = OperationStatus


@dataclass(frozen=True)
class Transition:
    """The stored form of the operation after a change, and what the history records."""

    operation: Operation
    events: list[HistoryEvent] = field(default_factory=list)


def apply_update(
    update: OperationUpdate, current: Operation | None, now: datetime.datetime
) -> Transition:
    """Apply one validated, non-EXECUTION update."""
    match update.operation_type:
        case OperationType.STEP:
            return _step(update, current, now)
        case OperationType.WAIT:
            return _wait(update, current, now)
        case OperationType.CONTEXT:
            return _context(update, current, now)
        case _:  # CALLBACK and CHAINED_INVOKE have effects beyond the operation
            raise invalid_parameter(
                f"{update.operation_type.value} updates are applied by their own module, "
                "not as a plain transition."
            )


def _base(update: OperationUpdate, current: Operation | None, now: datetime.datetime) -> Operation:
    """Identity and metadata: kept from the stored operation, else taken from the update."""
    if current is not None:
        return current
    return Operation(
        operation_id=update.operation_id,
        operation_type=update.operation_type,
        status=Status.STARTED,
        parent_id=update.parent_id,
        name=update.name,
        start_timestamp=now,
        sub_type=update.sub_type,
    )


def _step(update: OperationUpdate, current: Operation | None, now: datetime.datetime) -> Transition:
    base = _base(update, current, now)
    attempt = base.step_details.attempt if base.step_details else 0
    if update.action is Action.START:
        started = evolve(base, status=Status.STARTED, step_details=StepDetails(attempt=attempt))
        return Transition(started, [history.step_started(started, now)])
    details = StepDetails(attempt=attempt + 1, result=update.payload, error=update.error)
    if update.action is Action.RETRY:
        delay = update.step_options.next_attempt_delay_seconds if update.step_options else 0
        pending = evolve(
            base,
            status=Status.PENDING,
            step_details=replace(
                details, next_attempt_timestamp=now + datetime.timedelta(seconds=delay)
            ),
        )
        event = (
            history.step_failed(pending, update.error, now, next_delay=delay)
            if update.error is not None
            else history.step_succeeded(pending, now, next_delay=delay)
        )
        return Transition(pending, [event])
    if update.action is Action.SUCCEED:
        done = evolve(base, status=Status.SUCCEEDED, end_timestamp=now, step_details=details)
        return Transition(done, [history.step_succeeded(done, now)])
    failed = evolve(base, status=Status.FAILED, end_timestamp=now, step_details=details)
    return Transition(failed, [history.step_failed(failed, update.error, now)])


def _wait(update: OperationUpdate, current: Operation | None, now: datetime.datetime) -> Transition:
    base = _base(update, current, now)
    if update.action is Action.START:
        seconds = update.wait_options.wait_seconds if update.wait_options else 0
        end = now + datetime.timedelta(seconds=seconds)
        started = evolve(
            base, status=Status.STARTED, wait_details=WaitDetails(scheduled_end_timestamp=end)
        )
        return Transition(started, [history.wait_started(started, seconds, end, now)])
    cancelled = evolve(base, status=Status.CANCELLED, end_timestamp=now)
    return Transition(cancelled, [history.wait_cancelled(cancelled, update.error, now)])


def _context(
    update: OperationUpdate, current: Operation | None, now: datetime.datetime
) -> Transition:
    base = _base(update, current, now)
    if update.action is Action.START:
        started = evolve(base, status=Status.STARTED)
        return Transition(started, [history.context_started(started, now)])
    replay_children = bool(update.context_options and update.context_options.replay_children)
    if update.action is Action.SUCCEED:
        done = evolve(
            base,
            status=Status.SUCCEEDED,
            end_timestamp=now,
            context_details=ContextDetails(replay_children, update.payload, None),
        )
        return Transition(done, [history.context_succeeded(done, now)])
    failed = evolve(
        base,
        status=Status.FAILED,
        end_timestamp=now,
        context_details=ContextDetails(replay_children, None, update.error),
    )
    return Transition(failed, [history.context_failed(failed, now)])


def evolve(operation: Operation, **changes: Any) -> Operation:
    """``dataclasses.replace(operation, **changes)`` without running ``__init__`` again (a
    third of the cost; Operation only assigns its fields there)."""
    if not _PLAIN_OPERATION:
        return replace(operation, **changes)
    copy = object.__new__(Operation)
    copy.__dict__.update(operation.__dict__, **changes)
    return copy


# Operation keeps its fields in __dict__ and does nothing after __init__ assigns them.
_PLAIN_OPERATION = not hasattr(Operation, "__slots__") and not hasattr(Operation, "__post_init__")


# -- timers -------------------------------------------------------------------------


def due_at(operation: Operation) -> datetime.datetime | None:
    """When a timer of this operation fires, if it has one running."""
    if operation.status is Status.STARTED and operation.wait_details is not None:
        return operation.wait_details.scheduled_end_timestamp
    if operation.status is Status.PENDING and operation.step_details is not None:
        return operation.step_details.next_attempt_timestamp
    return None


def fire(operation: Operation, now: datetime.datetime) -> Transition:
    """The operation's timer is due: a wait succeeds, a step retry becomes READY."""
    if operation.operation_type is OperationType.WAIT:
        done = evolve(operation, status=Status.SUCCEEDED, end_timestamp=now)
        return Transition(done, [history.wait_succeeded(done, wait_duration(operation), now)])
    details = operation.step_details or StepDetails()
    ready = evolve(
        operation, status=Status.READY, step_details=replace(details, next_attempt_timestamp=None)
    )
    return Transition(ready)


def wait_duration(operation: Operation) -> int:
    """The wait's modeled length in seconds (its scheduled end minus its start)."""
    end = operation.wait_details.scheduled_end_timestamp if operation.wait_details else None
    if end is None or operation.start_timestamp is None:
        return 0
    return round((end - operation.start_timestamp).total_seconds())
