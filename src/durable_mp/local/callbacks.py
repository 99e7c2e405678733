"""Callbacks: the id handed out at START, completion from outside, timeouts, heartbeats.

A callback id is the only thing an external system needs to complete a callback, so it
is a bearer secret: 256 bits from :mod:`secrets`, encoding nothing (no ARN, no operation
id) that could be read or forged. It is written in letters and digits only, which is
URL-safe and fits the API's ``CallbackId`` pattern (``[A-Za-z0-9+/]+={0,2}``). The id
leads to its execution through the store.

Timers live beside the id: the overall timeout from START, and the heartbeat timeout,
which every heartbeat pushes back. Either firing times the callback out with the
service's error types, ``Callback.Timeout`` and ``Callback.Heartbeat``.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from dataclasses import replace
from typing import TYPE_CHECKING

from durable_mp.lambda_service import (
    CallbackDetails,
    ErrorObject,
    Operation,
    OperationStatus,
    OperationType,
)
from durable_mp.local import history
from durable_mp.local.errors import (
    CallbackAlreadyCompletedError,
    CallbackNotFoundError,
    InvalidCallbackRequestError,
)
from durable_mp.local.records import RUNNING
from durable_mp.local.store import CallbackRow

if TYPE_CHECKING:
    import datetime

    from durable_mp.lambda_service import OperationUpdate
    from durable_mp.local.journal import Journal
    from durable_mp.local.store import Tx

MAX_CALLBACK_PAYLOAD_BYTES = 1_048_576  # Result and Error of SendDurableExecutionCallback*
_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 43  # 43 characters of 62 symbols: 256 bits
_WELL_FORMED = re.compile(r"[A-Za-z0-9+/]{1,1022}={0,2}")

TIMEOUT_ERROR_TYPE = "Callback.Timeout"
HEARTBEAT_ERROR_TYPE = "Callback.Heartbeat"


def new_callback_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_ID_LENGTH))


def start(journal: Journal, update: OperationUpdate) -> None:
    """START: the operation is STARTED with a fresh id, and its timers run."""
    options = update.callback_options
    timeout_s = options.timeout_seconds if options else 0
    heartbeat_s = options.heartbeat_timeout_seconds if options else 0
    now, callback_id = journal.now, new_callback_id()
    operation = Operation(
        operation_id=update.operation_id,
        operation_type=OperationType.CALLBACK,
        status=OperationStatus.STARTED,
        parent_id=update.parent_id,
        name=update.name,
        start_timestamp=now,
        sub_type=update.sub_type,
        callback_details=CallbackDetails(callback_id),
    )
    journal.put(operation)
    journal.tx.put_callback(
        CallbackRow(
            callback_id,
            journal.arn,
            update.operation_id,
            now.timestamp() + timeout_s if timeout_s else None,
            heartbeat_s,
            now.timestamp() + heartbeat_s if heartbeat_s else None,
        )
    )
    journal.record(history.callback_started(operation, callback_id, now, timeout_s, heartbeat_s))


def find(tx: Tx, callback_id: str) -> CallbackRow:
    """The callback behind an id from outside, or the API's error for it."""
    if not isinstance(callback_id, str) or not _WELL_FORMED.fullmatch(callback_id):
        raise InvalidCallbackRequestError(
            f"{callback_id!r} is not a callback id: ids are letters and digits, as the "
            "CallbackStarted event's CallbackId shows them."
        )
    found = tx.callback(callback_id)
    if found is None:
        raise CallbackNotFoundError(
            f"No callback with id {callback_id} in this store: check the id (the "
            "CallbackStarted event shows it) and that the same store file is used."
        )
    return found


def require_open(journal: Journal, callback: CallbackRow) -> Operation:
    """The callback's STARTED operation, or the error for a closed callback."""
    row = journal.row
    if row.status != RUNNING:
        raise CallbackAlreadyCompletedError(
            f"Callback {callback.callback_id} is closed: its execution {row.name} has ended "
            f"({row.status}); nothing can complete it any more."
        )
    stored = journal.operation(callback.op_id)
    if stored is None or stored.operation.status is not OperationStatus.STARTED:
        status = stored.operation.status.value if stored else "gone"
        raise CallbackAlreadyCompletedError(
            f"Callback {callback.callback_id} is closed (it is {status}); a callback is "
            "completed once, and not after it timed out."
        )
    return stored.operation


def check_result(result: str | None) -> None:
    if result is not None and len(result.encode("utf-8")) > MAX_CALLBACK_PAYLOAD_BYTES:
        raise InvalidCallbackRequestError(
            f"The callback result is larger than {MAX_CALLBACK_PAYLOAD_BYTES} bytes; send a "
            "reference to the data (an S3 key, a URL) instead."
        )


def check_error(error: ErrorObject | None) -> None:
    if error is not None and len(json.dumps(error.to_dict())) > MAX_CALLBACK_PAYLOAD_BYTES:
        raise InvalidCallbackRequestError(
            f"The callback error is larger than {MAX_CALLBACK_PAYLOAD_BYTES} bytes; shorten "
            "its message, data or stack trace."
        )


def succeed(journal: Journal, callback: CallbackRow, result: str | None) -> None:
    operation = require_open(journal, callback)
    _close(journal, callback, operation, OperationStatus.SUCCEEDED, result=result)


def fail(journal: Journal, callback: CallbackRow, error: ErrorObject | None) -> None:
    operation = require_open(journal, callback)
    # An error sent without fields stays without fields, as the service records it.
    error = error or ErrorObject(message=None, type=None, data=None, stack_trace=None)
    _close(journal, callback, operation, OperationStatus.FAILED, error=error)


def heartbeat(journal: Journal, callback: CallbackRow) -> None:
    """Push the heartbeat deadline; no operation change, no event (as the service)."""
    require_open(journal, callback)
    if callback.heartbeat_s:
        journal.tx.put_callback(
            replace(callback, heartbeat_ts=journal.now.timestamp() + callback.heartbeat_s)
        )


def fire(journal: Journal, callback: CallbackRow) -> None:
    """A timer of the callback is due: it times out (the earlier timer names the cause)."""
    stored = journal.operation(callback.op_id)
    if stored is None or stored.operation.status is not OperationStatus.STARTED:
        journal.tx.put_callback(replace(callback, timeout_ts=None, heartbeat_ts=None))
        return
    by_heartbeat = callback.heartbeat_ts is not None and (
        callback.timeout_ts is None or callback.heartbeat_ts < callback.timeout_ts
    )
    error = ErrorObject(
        message="Callback timed out on heartbeat" if by_heartbeat else "Callback timed out",
        type=HEARTBEAT_ERROR_TYPE if by_heartbeat else TIMEOUT_ERROR_TYPE,
        data=None,
        stack_trace=None,
    )
    _close(journal, callback, stored.operation, OperationStatus.TIMED_OUT, error=error)


def _close(
    journal: Journal,
    callback: CallbackRow,
    operation: Operation,
    status: OperationStatus,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> None:
    now: datetime.datetime = journal.now
    done = replace(
        operation,
        status=status,
        end_timestamp=now,
        callback_details=CallbackDetails(callback.callback_id, result, error),
    )
    journal.put(done)
    journal.tx.put_callback(replace(callback, timeout_ts=None, heartbeat_ts=None))
    if status is OperationStatus.SUCCEEDED:
        journal.record(history.callback_succeeded(done, now))
    elif status is OperationStatus.FAILED:
        journal.record(history.callback_failed(done, now))
    else:
        journal.record(history.callback_timed_out(done, now))
