"""Creating an execution: its row, its EXECUTION operation and its ExecutionStarted event.

Both ways an execution comes to exist go through here, so they cannot drift apart: the
control plane's start, and a chained invoke of a durable function, which creates its
child execution inside the parent's checkpoint transaction.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from durable_mp.lambda_service import (
    MAX_OPERATION_PAYLOAD_BYTES,
    ExecutionDetails,
    Operation,
    OperationStatus,
    OperationType,
)
from durable_mp.local import history
from durable_mp.local.errors import ExecutionNameConflictError
from durable_mp.local.journal import Journal
from durable_mp.local.records import EXECUTION_NAME, RUNNING, execution_arn
from durable_mp.local.store import ExecutionRow
from durable_mp.local.validation import MAX_WAIT_SECONDS

if TYPE_CHECKING:
    import datetime

    from durable_mp.local.store import Tx

DEFAULT_EXECUTION_TIMEOUT_SECONDS = 86_400


def check_start(
    function_name: str, input_payload: str | None, name: str, execution_timeout_seconds: int
) -> None:
    """Raise ValueError for a start request the service would refuse."""
    if not EXECUTION_NAME.fullmatch(name):
        raise ValueError(f"Invalid execution name {name!r}: use 1-64 characters of [a-zA-Z0-9_-].")
    if not function_name or "/" in function_name:
        raise ValueError(f"Invalid function name {function_name!r}.")
    if not 1 <= execution_timeout_seconds <= MAX_WAIT_SECONDS:
        raise ValueError(f"execution_timeout_seconds must be between 1 and {MAX_WAIT_SECONDS}.")
    if input_payload is not None and len(input_payload.encode()) > MAX_OPERATION_PAYLOAD_BYTES:
        raise ValueError(f"The input is larger than {MAX_OPERATION_PAYLOAD_BYTES} bytes.")


def create(
    tx: Tx,
    *,
    region: str,
    account_id: str,
    function_name: str,
    input_payload: str | None,
    name: str | None,
    execution_timeout_seconds: int,
    now: datetime.datetime,
) -> Journal:
    """Insert a RUNNING, never-invoked execution; its journal, ready to save."""
    name = uuid.uuid4().hex if name is None else name
    check_start(function_name, input_payload, name, execution_timeout_seconds)
    if tx.find_execution_by_name(name) is not None:
        raise name_conflict(name)
    execution_id = str(uuid.uuid4())
    row = ExecutionRow(
        arn=execution_arn(region, account_id, function_name, name, execution_id),
        name=name,
        function_name=function_name,
        execution_op_id=execution_id,
        status=RUNNING,
        input_payload=input_payload,
        result=None,
        error=None,
        start_ts=now.timestamp(),
        end_ts=None,
        timeout_s=execution_timeout_seconds,
    )
    tx.insert_execution(row)
    journal = Journal(tx, row, now)
    journal.put(
        Operation(
            operation_id=execution_id,
            operation_type=OperationType.EXECUTION,
            status=OperationStatus.STARTED,
            name=name,
            start_timestamp=now,
            execution_details=ExecutionDetails(input_payload),
        )
    )
    row.seen_version = row.version
    journal.record(
        history.execution_started(execution_id, name, input_payload, execution_timeout_seconds, now)
    )
    return journal


def name_conflict(name: str) -> ExecutionNameConflictError:
    return ExecutionNameConflictError(
        f"An execution named {name!r} already exists in this store; choose another name, "
        "or omit it to get a generated one."
    )
