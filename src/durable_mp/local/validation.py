"""What the durable execution service rejects in a checkpoint.

Every rule raises the 400 ``InvalidParameterValueException`` the real service answers
with, as a :class:`~durable_mp.exceptions.CheckpointError` of category EXECUTION: an SDK
that sends an invalid checkpoint has a bug that invoking again cannot fix. The whole
batch is checked before any of it is applied, and each update is checked against the
state the earlier updates of the same batch leave behind.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from durable_mp.lambda_service import (
    MAX_ERROR_OBJECT_BYTES,
    MAX_OPERATION_NAME_LENGTH,
    MAX_OPERATION_PAYLOAD_BYTES,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)
from durable_mp.local.errors import invalid_parameter

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SUB_TYPE = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_WAIT_SECONDS = 31_622_400  # one year, the API model's bound
MAX_CALLBACK_SECONDS = 99_999_999  # CallbackOptions timeouts, the API model's bound

Action = OperationAction
Status = OperationStatus
Type = OperationType

VALID_ACTIONS: Mapping[OperationType, frozenset[OperationAction]] = {
    Type.STEP: frozenset({Action.START, Action.SUCCEED, Action.FAIL, Action.RETRY}),
    Type.CONTEXT: frozenset({Action.START, Action.SUCCEED, Action.FAIL}),
    Type.WAIT: frozenset({Action.START, Action.CANCEL}),
    Type.CALLBACK: frozenset({Action.START}),
    Type.CHAINED_INVOKE: frozenset({Action.START}),
    Type.EXECUTION: frozenset({Action.SUCCEED, Action.FAIL}),
}

_STATUS_AFTER: Mapping[OperationAction, OperationStatus] = {
    Action.START: Status.STARTED,
    Action.SUCCEED: Status.SUCCEEDED,
    Action.FAIL: Status.FAILED,
    Action.RETRY: Status.PENDING,
    Action.CANCEL: Status.CANCELLED,
}


def validate_batch(updates: Sequence[OperationUpdate], stored: Mapping[str, Operation]) -> None:
    """Raise CheckpointError for the first rule ``updates`` break, given ``stored`` ops."""
    _check_execution_updates(updates)
    working: dict[str, Operation] = {}
    previous: dict[str, OperationUpdate] = {}
    started_here: set[str] = set()
    for update in updates:
        _check_fields(update)
        _check_duplicate(update, previous.get(update.operation_id))
        previous[update.operation_id] = update
        _check_valid_action(update)
        _check_payload_rules(update)
        if update.operation_type is Type.EXECUTION:
            continue
        current = working.get(update.operation_id) or stored.get(update.operation_id)
        _check_parent(update, stored, working, started_here)
        _check_consistent(update, current)
        _check_transition(update, current)
        if update.action is Action.START:
            started_here.add(update.operation_id)
        working[update.operation_id] = _after(update, current)


def _check_execution_updates(updates: Sequence[OperationUpdate]) -> None:
    count = sum(1 for update in updates if update.operation_type is Type.EXECUTION)
    if count > 1:
        raise invalid_parameter("Cannot checkpoint multiple EXECUTION updates.")
    if count and updates[-1].operation_type is not Type.EXECUTION:
        raise invalid_parameter("EXECUTION checkpoint must be the last update.")


def _check_fields(update: OperationUpdate) -> None:
    if not _ID.fullmatch(update.operation_id):
        raise invalid_parameter(
            f"Invalid operation Id {update.operation_id!r}: 1-64 characters of "
            "[a-zA-Z0-9-_] required."
        )
    if update.parent_id is not None and not _ID.fullmatch(update.parent_id):
        raise invalid_parameter(f"Invalid ParentId {update.parent_id!r}.")
    if update.name is not None and not _is_printable_ascii(update.name):
        raise invalid_parameter(
            f"Invalid operation Name for {update.operation_id}: 1-"
            f"{MAX_OPERATION_NAME_LENGTH} printable ASCII characters required."
        )
    if update.sub_type is not None and not _SUB_TYPE.fullmatch(update.sub_type):
        raise invalid_parameter(
            f"Invalid SubType {update.sub_type!r}: 1-32 characters of [a-zA-Z0-9-_] required."
        )
    if (
        update.payload is not None
        and len(update.payload.encode("utf-8")) > MAX_OPERATION_PAYLOAD_BYTES
    ):
        raise invalid_parameter(
            f"Payload of operation {update.operation_id} is larger than "
            f"{MAX_OPERATION_PAYLOAD_BYTES} bytes."
        )
    if (
        update.error is not None
        and len(json.dumps(update.error.to_dict())) > MAX_ERROR_OBJECT_BYTES
    ):
        raise invalid_parameter(
            f"Error object size must be less than {MAX_ERROR_OBJECT_BYTES} bytes."
        )


def _is_printable_ascii(text: str) -> bool:
    return 1 <= len(text) <= MAX_OPERATION_NAME_LENGTH and all(
        " " <= character <= "~" for character in text
    )


def _check_duplicate(update: OperationUpdate, previous: OperationUpdate | None) -> None:
    """One update per id, except a STEP/CONTEXT START followed by one non-START."""
    if previous is None:
        return
    if (
        previous.operation_type in (Type.STEP, Type.CONTEXT)
        and previous.action is Action.START
        and update.action is not Action.START
    ):
        return
    raise invalid_parameter("Cannot checkpoint multiple operations with the same ID.")


def _check_valid_action(update: OperationUpdate) -> None:
    if update.action not in VALID_ACTIONS[update.operation_type]:
        raise invalid_parameter(
            f"Invalid action {update.action.value} for the operation type "
            f"{update.operation_type.value}."
        )


def _check_payload_rules(update: OperationUpdate) -> None:
    if update.action is Action.FAIL and update.payload is not None:
        raise invalid_parameter("Cannot provide a Payload for FAIL action.")
    if update.action is Action.SUCCEED and update.error is not None:
        raise invalid_parameter("Cannot provide an Error for SUCCEED action.")
    if update.action is Action.RETRY and update.error is not None and update.payload is not None:
        raise invalid_parameter("Cannot provide both error and payload to RETRY a STEP.")


def _check_parent(
    update: OperationUpdate,
    stored: Mapping[str, Operation],
    working: Mapping[str, Operation],
    started_here: set[str],
) -> None:
    """A parent is a CONTEXT that exists or was started earlier in this batch."""
    if update.parent_id is None:
        return
    parent = working.get(update.parent_id) if update.parent_id in started_here else None
    parent = parent or stored.get(update.parent_id)
    if parent is None or parent.operation_type is not Type.CONTEXT:
        raise invalid_parameter(
            f"Invalid parent operation id {update.parent_id} for {update.operation_id}: "
            "a parent must be a CONTEXT operation."
        )


def _check_consistent(update: OperationUpdate, current: Operation | None) -> None:
    if current is None:
        return
    if update.operation_type is not current.operation_type:
        raise invalid_parameter(f"Inconsistent operation type for {update.operation_id}.")
    if update.sub_type is not None and update.sub_type != current.sub_type:
        raise invalid_parameter(f"Inconsistent operation subtype for {update.operation_id}.")
    if update.name is not None and update.name != current.name:
        raise invalid_parameter(f"Inconsistent operation name for {update.operation_id}.")
    if update.parent_id is not None and update.parent_id != current.parent_id:
        raise invalid_parameter(f"Inconsistent parent operation id for {update.operation_id}.")


def _check_transition(update: OperationUpdate, current: Operation | None) -> None:
    status = None if current is None else current.status
    match update.operation_type, update.action:
        case Type.STEP, Action.START:
            _require(update, status, {None, Status.READY})
        case Type.STEP, Action.SUCCEED | Action.FAIL:
            _require(update, status, {Status.STARTED, Status.READY})
        case Type.STEP, Action.RETRY:
            _require(update, status, {Status.STARTED, Status.READY})
            if update.step_options is None:
                raise invalid_parameter("StepOptions are required to RETRY a STEP.")
            if update.step_options.next_attempt_delay_seconds < 0:
                raise invalid_parameter("NextAttemptDelaySeconds must not be negative.")
        case Type.CONTEXT, Action.START:
            _require(update, status, {None})
        case Type.CONTEXT, Action.SUCCEED | Action.FAIL:
            _require(update, status, {Status.STARTED})
        case Type.WAIT, Action.START:
            _require(update, status, {None})
            seconds = update.wait_options.wait_seconds if update.wait_options else None
            if seconds is None or not 1 <= seconds <= MAX_WAIT_SECONDS:
                raise invalid_parameter(
                    f"WaitOptions.WaitSeconds between 1 and {MAX_WAIT_SECONDS} is required "
                    "to START a WAIT."
                )
        case Type.WAIT, Action.CANCEL:
            _require(update, status, {Status.STARTED})
        case Type.CALLBACK, Action.START:
            _require(update, status, {None})
            options = update.callback_options
            for field, seconds in (
                ("TimeoutSeconds", options.timeout_seconds if options else 0),
                ("HeartbeatTimeoutSeconds", options.heartbeat_timeout_seconds if options else 0),
            ):
                if not 0 <= seconds <= MAX_CALLBACK_SECONDS:
                    raise invalid_parameter(
                        f"CallbackOptions.{field} must be between 0 and {MAX_CALLBACK_SECONDS} "
                        "(0 = no timeout)."
                    )
        case Type.CHAINED_INVOKE, Action.START:
            _require(update, status, {None})
            if update.chained_invoke_options is None:
                raise invalid_parameter(
                    "ChainedInvokeOptions are required to START a CHAINED_INVOKE."
                )


def _require(
    update: OperationUpdate, status: OperationStatus | None, allowed: set[OperationStatus | None]
) -> None:
    if status in allowed:
        return
    state = "does not exist" if status is None else f"is {status.value}"
    accepted = ", ".join(sorted("new" if s is None else s.value for s in allowed))
    raise invalid_parameter(
        f"Invalid current {update.operation_type.value} state to {update.action.value}: "
        f"operation {update.operation_id} {state} (accepted: {accepted})."
    )


def _after(update: OperationUpdate, current: Operation | None) -> Operation:
    """The operation as the rest of the batch sees it once ``update`` is applied."""
    return Operation(
        operation_id=update.operation_id,
        operation_type=update.operation_type,
        status=_STATUS_AFTER[update.action],
        parent_id=current.parent_id if current else update.parent_id,
        name=current.name if current else update.name,
        sub_type=current.sub_type if current else update.sub_type,
    )
