"""Chained invokes: resolve the target at START, start it, and carry its outcome back.

As at the service, the target is resolved inside the START checkpoint. An unknown
function fails the operation in that checkpoint's own response
(``ResourceNotFoundException``), so the handler raises without suspending. A durable
target becomes a child execution created in the same transaction (its ARN is in the
ChainedInvokeStarted event); a plain target is one call that the runner makes. The
operation stays STARTED until the target ends; the end is never a handler checkpoint.

A child's end reaches the parent when the child's terminal event is recorded, in the
same transaction, whoever ends it: its own invocation, its timeout, a stop. A parent
that has ended meanwhile keeps its end; the child's outcome is dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from durable_mp.lambda_service import (
    ChainedInvokeDetails,
    ErrorObject,
    Operation,
    OperationStatus,
    OperationType,
)
from durable_mp.local import executions, history
from durable_mp.local.errors import RESOURCE_NOT_FOUND_EXCEPTION, invalid_parameter
from durable_mp.local.records import FAILED, RUNNING, STOPPED, SUCCEEDED, TIMED_OUT
from durable_mp.local.store import InvokeRow

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from durable_mp.lambda_service import OperationUpdate
    from durable_mp.local.journal import Journal
    from durable_mp.local.store import ExecutionRow, Tx

MAX_CHAINED_INVOKE_PAYLOAD_BYTES = 1_048_576  # input, and a target's result
INPUT_TOO_LARGE = (
    "CHAINED_INVOKE input payload size must be less than or equal to "
    f"{MAX_CHAINED_INVOKE_PAYLOAD_BYTES} bytes."
)
OUTPUT_TOO_LARGE = (
    "CHAINED_INVOKE output payload size must be less than or equal to "
    f"{MAX_CHAINED_INVOKE_PAYLOAD_BYTES} bytes."
)
CHILD_OUTPUT_TOO_LARGE = (
    "Execution output payload size must be less than or equal to "
    f"{MAX_CHAINED_INVOKE_PAYLOAD_BYTES} bytes."
)
TIMEOUT_ERROR_TYPE = "ChainedInvoke.Timeout"
# ChainedInvokeOptions.XAmznTraceId (the API model's bound). Accepted and not propagated:
# targets run in this process, where the X-Ray header is a process-wide variable.
MAX_TRACE_HEADER_CHARS = 8192

# ChainedInvokeOptions.FunctionName and TenantId, as the API model constrains them.
_FUNCTION = re.compile(
    r"(?P<arn>arn:(aws[a-zA-Z-]*)?:lambda:)?"
    r"((?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?"
    r"((?P<account>\d{12}):)?"
    r"(function:)?"
    r"(?P<name>[a-zA-Z0-9-_\.]+)"
    r"(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
_REGION = re.compile(r"(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d")
_TENANT = re.compile(r"[a-zA-Z0-9\._:\/=+\-@ ]{1,256}")


@dataclass(frozen=True)
class FunctionSpec:
    """A function chained invokes may target: durable (its own execution) or plain."""

    durable: bool
    execution_timeout_seconds: int = executions.DEFAULT_EXECUTION_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Target:
    name: str
    qualifier: str | None
    account_id: str | None
    region: str | None

    @property
    def executed_version(self) -> str:
        """What the service reports as ExecutedVersion: aliases and $LATEST read $LATEST."""
        q = self.qualifier
        return q if q is not None and (q.isdigit() or q == "$LATEST.PUBLISHED") else "$LATEST"


@dataclass(frozen=True)
class PendingCall:
    """A plain target's call the runner has to make (again, after a crash)."""

    arn: str
    operation_id: str
    function_name: str
    payload: str | None
    tenant_id: str | None


def parse_target(function_name: str) -> Target | None:
    found = _FUNCTION.fullmatch(function_name) if 0 < len(function_name) <= 256 else None
    if found is None or (found["arn"] and not (found["region"] and found["account"])):
        return None
    return Target(found["name"], found["qualifier"], found["account"], found["region"])


def check_starts(updates: Sequence[OperationUpdate], *, region: str, account_id: str) -> None:
    """Reject a batch whose CHAINED_INVOKE STARTs the service would refuse (before any applies)."""
    for update in updates:
        options = update.chained_invoke_options
        if update.operation_type is not OperationType.CHAINED_INVOKE or options is None:
            continue
        target = parse_target(options.function_name)
        if target is None:
            raise invalid_parameter(f"Invalid function ARN '{options.function_name}'")
        if target.account_id is not None and target.account_id != account_id:
            raise invalid_parameter(
                "Cannot start a CHAINED_INVOKE on a function in another account."
            )
        if target.region and _REGION.fullmatch(region) and target.region != region:
            raise invalid_parameter(
                "Cannot start a CHAINED_INVOKE on a function in another region."
            )
        if options.tenant_id is not None and not _TENANT.fullmatch(options.tenant_id):
            raise invalid_parameter(
                "TenantId must be 1 to 256 characters matching [a-zA-Z0-9._:/=+-@ ]."
            )
        trace_header = options.x_amzn_trace_id
        if trace_header is not None and len(trace_header) > MAX_TRACE_HEADER_CHARS:
            raise invalid_parameter(
                f"XAmznTraceId must be at most {MAX_TRACE_HEADER_CHARS} characters."
            )
        payload = update.payload
        if payload is not None and len(payload.encode("utf-8")) > MAX_CHAINED_INVOKE_PAYLOAD_BYTES:
            raise invalid_parameter(INPUT_TOO_LARGE)


def start(
    journal: Journal,
    update: OperationUpdate,
    functions: Mapping[str, FunctionSpec],
    *,
    region: str,
    account_id: str,
) -> None:
    """START: resolve the target; create the child execution or queue the plain call."""
    options = update.chained_invoke_options
    assert options is not None  # validated
    target = parse_target(options.function_name)
    assert target is not None  # checked by check_starts
    now = journal.now
    started = Operation(
        operation_id=update.operation_id,
        operation_type=OperationType.CHAINED_INVOKE,
        status=OperationStatus.STARTED,
        parent_id=update.parent_id,
        name=update.name,
        start_timestamp=now,
        sub_type=update.sub_type,
        chained_invoke_details=ChainedInvokeDetails(),
    )
    spec = functions.get(target.name)  # one registration serves every qualifier
    event = {"executed_version": target.executed_version, "tenant_id": options.tenant_id}
    if spec is None:
        # No input is kept for a target that never started, as at the service.
        failed = replace(
            started,
            status=OperationStatus.FAILED,
            end_timestamp=now,
            chained_invoke_details=ChainedInvokeDetails(error=not_found(target.name, functions)),
        )
        journal.put(failed)
        journal.record(
            history.chained_invoke_started(started, options.function_name, None, now, **event)
        )
        journal.record(history.chained_invoke_failed(failed, now))
        return
    child_arn = None
    if spec.durable:
        child = journal.link(
            executions.create(
                journal.tx,
                region=region,
                account_id=account_id,
                function_name=target.name,
                input_payload=update.payload,
                name=None,
                execution_timeout_seconds=spec.execution_timeout_seconds,
                now=now,
            )
        )
        child_arn = child.arn
    journal.tx.put_invoke(
        InvokeRow(
            journal.arn,
            update.operation_id,
            target.name,
            child_arn,
            None if spec.durable else update.payload,
            options.tenant_id,
        )
    )
    journal.put(started)
    journal.record(
        history.chained_invoke_started(
            started,
            options.function_name,
            update.payload,
            now,
            durable_execution_arn=child_arn,
            **event,
        )
    )


def not_found(name: str, known_names: Iterable[str]) -> ErrorObject:
    known = ", ".join(sorted(known_names)) or "none"
    return ErrorObject(
        message=(
            f"Function not found: {name}. Register it with the LocalRunner (functions= or "
            f"plain_functions=) or durable-mp run --function {name}=TARGET "
            f"(registered: {known})."
        ),
        type=RESOURCE_NOT_FOUND_EXCEPTION,
        data=None,
        stack_trace=None,
    )


def complete(
    journal: Journal,
    operation_id: str,
    status: OperationStatus,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> bool:
    """End a STARTED chained invoke of ``journal``'s execution; whether it did.

    Dropped when the execution has ended or the operation is no longer STARTED: the
    first end stands.
    """
    stored = journal.operation(operation_id)
    if journal.row.status != RUNNING or stored is None:
        return False
    operation = stored.operation
    if (
        operation.operation_type is not OperationType.CHAINED_INVOKE
        or operation.status is not OperationStatus.STARTED
    ):
        return False
    if status is OperationStatus.SUCCEEDED and result is not None and _too_large(result):
        status, result, error = (
            OperationStatus.FAILED,
            None,
            ErrorObject.from_message(OUTPUT_TOO_LARGE),
        )
    done = replace(
        operation,
        status=status,
        end_timestamp=journal.now,
        chained_invoke_details=ChainedInvokeDetails(result, error),
    )
    journal.put(done)
    match status:
        case OperationStatus.SUCCEEDED:
            journal.record(history.chained_invoke_succeeded(done, journal.now))
        case OperationStatus.TIMED_OUT:
            journal.record(history.chained_invoke_timed_out(done, journal.now))
        case OperationStatus.STOPPED:
            journal.record(history.chained_invoke_stopped(done, journal.now))
        case _:
            journal.record(history.chained_invoke_failed(done, journal.now))
    return True


def child_ended(journal: Journal) -> None:
    """``journal``'s execution has ended: complete the chained invoke that started it."""
    tx, child = journal.tx, journal.row
    link = tx.invoke_of_child(child.arn)
    if link is None:
        return
    parent = tx.load_execution(link.arn)
    if parent is None or parent.status != RUNNING:
        return
    status, result, error = _outcome(child)
    complete(journal.link_row(parent), link.op_id, status, result, error)


def _outcome(child: ExecutionRow) -> tuple[OperationStatus, str | None, ErrorObject | None]:
    """The parent operation's end for a child's end, as the service maps it."""
    error = None if child.error is None else ErrorObject.from_dict(json.loads(child.error))
    if child.status == SUCCEEDED:
        return OperationStatus.SUCCEEDED, child.result, None
    if child.status == TIMED_OUT:
        return (
            OperationStatus.TIMED_OUT,
            None,
            ErrorObject(
                message=f"CHAINED_INVOKE timed out after {child.timeout_s} seconds.",
                type=TIMEOUT_ERROR_TYPE,
                data=None,
                stack_trace=None,
            ),
        )
    if child.status == STOPPED:
        return OperationStatus.STOPPED, None, error
    assert child.status == FAILED
    return OperationStatus.FAILED, None, error or ErrorObject.from_message("Chained invoke failed.")


def is_child(tx: Tx, arn: str) -> bool:
    return tx.invoke_of_child(arn) is not None


def child_result_too_large(tx: Tx, arn: str, result: str | None) -> bool:
    """A chained child's result is capped, as the parent's operation result."""
    return result is not None and _too_large(result) and is_child(tx, arn)


def pending_calls(tx: Tx, arn: str) -> list[PendingCall]:
    """Plain targets whose operation is still STARTED: calls the runner still owes."""
    return [
        PendingCall(row.arn, row.op_id, row.function_name, row.payload, row.tenant_id)
        for row in tx.running_invokes(arn)
        if row.child_arn is None
    ]


def running_children(tx: Tx, arn: str) -> list[str]:
    """Child executions of the execution's STARTED chained invokes."""
    return [row.child_arn for row in tx.running_invokes(arn) if row.child_arn is not None]


def _too_large(payload: str) -> bool:
    return len(payload.encode("utf-8")) > MAX_CHAINED_INVOKE_PAYLOAD_BYTES
