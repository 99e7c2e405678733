"""Invocations: what the service hands a handler, and what it does with the answer.

The rules mirror the service. Every invocation ends with an ``InvocationCompleted``
event (with ``Error`` when it failed). A failed invocation (the handler raised) is
retried after a backoff, and after five consecutive failures the execution fails with
the last error. ``PENDING`` while nothing can ever wake the execution is an invalid
output: retried up to three consecutive times, then the execution fails. A clean
invocation resets the count.

A runtime that stops on its own while running the handler (the handler raised
``SystemExit``) is a failed invocation, ``Runtime.ExitError``, as on Lambda. An
interrupted invocation is not a failure of the handler and counts for nothing: its
runner was stopped (Ctrl-C, SIGTERM: ``Runner.Interrupted``, recorded by the runner
itself), or its process died (recorded by the runner that takes over, as the service
records a runtime that died: ``Runtime.ExitError``). A dead process cannot tell whether
it was killed (SIGKILL, a lost machine) or crashed, and a user must be able to kill a
run and resume it any number of times, so neither counts. It is invoked again at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from durable_mp.exceptions import INVALID_PARAMETER_VALUE_EXCEPTION
from durable_mp.invocation_input import DurableExecutionInvocationInput, InitialExecutionState
from durable_mp.lambda_service import ErrorObject
from durable_mp.local import history, invoke, tokens
from durable_mp.local.clock import from_epoch
from durable_mp.local.lifecycle import end_execution, record_end
from durable_mp.local.paging import Marker, read_page
from durable_mp.local.records import FAILED, RUNNING, SUCCEEDED, Invocation
from durable_mp.local.store import InvocationRow, Tx

if TYPE_CHECKING:
    from durable_mp.local.journal import Journal

MAX_CONSECUTIVE_FAILED_INVOCATIONS = 5
MAX_CONSECUTIVE_INVALID_PENDING = 3

RUNTIME_EXIT_ERROR = "Runtime.ExitError"
RUNNER_INTERRUPTED = "Runner.Interrupted"


def runtime_exit_error(why: str) -> ErrorObject:
    """The error of an invocation whose runtime stopped on its own (a failure, as on
    Lambda): the handler raised ``SystemExit`` or another ``BaseException``."""
    return ErrorObject(
        message=f"the runtime stopped while running the handler ({why})",
        type=RUNTIME_EXIT_ERROR,
        data=None,
        stack_trace=None,
    )


def interrupted_error(why: str) -> ErrorObject:
    """The error an invocation its own runner stopped is closed with."""
    return ErrorObject(
        message=f"the runner stopped this invocation ({why}); it runs again when the "
        "execution resumes (not a failure of the handler)",
        type=RUNNER_INTERRUPTED,
        data=None,
        stack_trace=None,
    )


def lost_error(owner: str | None) -> ErrorObject:
    """The error an invocation whose runner died is closed with, by the next runner."""
    return ErrorObject(
        message=f"the process running this invocation{f' ({owner})' if owner else ''} died "
        "before it completed (killed, crashed, or its machine was lost); not counted as a "
        "failed invocation: it runs again",
        type=RUNTIME_EXIT_ERROR,
        data=None,
        stack_trace=None,
    )


_NOTHING_PENDING = "Cannot return PENDING status with no pending operations."

# What can still wake a suspended execution.
_WAITING = (
    ("STARTED", ("WAIT", "CALLBACK", "CHAINED_INVOKE")),
    ("PENDING", ("STEP", "CHAINED_INVOKE")),
)


def begin(journal: Journal, page_size: int) -> Invocation:
    """Open an invocation: a fresh token, the first page, the operations that changed."""
    row, tx, now = journal.row, journal.tx, journal.now
    request_id = str(uuid.uuid4())
    tx.insert_invocation(InvocationRow(row.arn, request_id, now.timestamp(), None))
    row.invocation_count += 1
    token = tokens.issue(tx, row, request_id)
    changed = tx.operations_page(row.arn, versions=(row.seen_version, row.version))
    row.seen_version = row.version
    row.begin_version = row.version
    row.retry_at = None
    page = read_page(tx, row.arn, Marker(-1), page_size)
    event = DurableExecutionInvocationInput(
        durable_execution_arn=row.arn,
        checkpoint_token=token,
        initial_execution_state=InitialExecutionState(
            [stored.operation for stored in page.operations], page.next_marker or ""
        ),
        updated_operation_ids=[stored.operation.operation_id for stored in changed],
    )
    return Invocation(row.arn, request_id, now, event)


def interrupt(journal: Journal, invocation: InvocationRow, error: ErrorObject) -> None:
    """Close an invocation its runner did not finish: no failure, invoked again at once."""
    _close(journal, invocation, error)
    if journal.row.status == RUNNING:
        journal.row.retry_at = journal.now.timestamp()
    else:
        record_end(journal)


def complete(
    journal: Journal,
    invocation: InvocationRow,
    output: Mapping[str, Any] | None,
    error: ErrorObject | None,
    retry_delay: float,
) -> None:
    """Apply what the invocation produced: an output dict, or the error it failed with."""
    row = journal.row
    if row.status != RUNNING:
        # Ended while the invocation ran (EXECUTION checkpoint, timeout): that stands.
        _close(journal, invocation, error)
        if error is None and output is not None and row.status == SUCCEEDED:
            result = output.get("Result")
            if isinstance(result, str) and result:
                row.result = result
        record_end(journal)
        return
    if error is not None:
        _close(journal, invocation, error)
        _count_failure(journal, error, MAX_CONSECUTIVE_FAILED_INVOCATIONS, retry_delay)
        return
    status, problem = _read_output(output or {})
    if problem is not None:
        _close(journal, invocation, problem)
        end_execution(journal, FAILED, error=problem)
        return
    if status == "PENDING" and not pending_is_valid(journal):
        invalid = _invalid_output(_NOTHING_PENDING)
        _close(journal, invocation, invalid)
        _count_failure(journal, invalid, MAX_CONSECUTIVE_INVALID_PENDING, retry_delay)
        return
    _close(journal, invocation, None)
    row.failed_attempts = 0
    assert output is not None
    if status == SUCCEEDED:
        result = output.get("Result")
        if invoke.child_result_too_large(journal.tx, row.arn, result):
            end_execution(
                journal, FAILED, error=ErrorObject.from_message(invoke.CHILD_OUTPUT_TOO_LARGE)
            )
        else:
            end_execution(journal, SUCCEEDED, result=result)
    elif status == FAILED:
        raw = output.get("Error")
        end_execution(journal, FAILED, error=ErrorObject.from_dict(raw) if raw else None)


def pending_is_valid(journal: Journal) -> bool:
    """Whether something can still wake the execution after a PENDING output."""
    row, tx = journal.row, journal.tx
    if row.version > row.seen_version:
        return True  # a change the handler has not seen yet
    if any(tx.any_operation(row.arn, (status,), types=types) for status, types in _WAITING):
        return True
    return ready_since_begin(tx, row.arn, row.begin_version)


def ready_since_begin(tx: Tx, arn: str, begin_version: int) -> bool:
    """A step retry became READY after the last invocation began, so it still has to run."""
    return tx.any_operation(arn, ("READY",), types=("STEP",), changed_after=begin_version)


def _read_output(output: Mapping[str, Any]) -> tuple[str, ErrorObject | None]:
    status = output.get("Status")
    if status not in ("SUCCEEDED", "FAILED", "PENDING"):
        return "", _invalid_output(
            "Invalid invocation output: Status must be SUCCEEDED, FAILED or PENDING, "
            f"got {status!r}."
        )
    result, error = output.get("Result"), output.get("Error")
    if result is not None and not isinstance(result, str):
        return status, _invalid_output("Invalid invocation output: Result must be a string.")
    if error is not None and not isinstance(error, Mapping):
        return status, _invalid_output("Invalid invocation output: Error must be an object.")
    if status == "SUCCEEDED" and error is not None:
        return status, _invalid_output("Cannot provide an Error for SUCCEEDED status.")
    if status == "FAILED" and result is not None:
        return status, _invalid_output("Cannot provide a Result for FAILED status.")
    return status, None


def _invalid_output(message: str) -> ErrorObject:
    return ErrorObject(
        message=message, type=INVALID_PARAMETER_VALUE_EXCEPTION, data=None, stack_trace=None
    )


def _close(journal: Journal, invocation: InvocationRow, error: ErrorObject | None) -> None:
    now = journal.now
    journal.tx.close_invocation(
        invocation.arn,
        invocation.request_id,
        now.timestamp(),
        None if error is None else json.dumps(error.to_dict()),
    )
    started = from_epoch(invocation.started_ts) or now
    journal.record(history.invocation_completed(started, now, invocation.request_id, error))


def _count_failure(journal: Journal, error: ErrorObject, limit: int, retry_delay: float) -> None:
    row = journal.row
    row.failed_attempts += 1
    if row.failed_attempts >= limit:
        end_execution(journal, FAILED, error=error)
    else:
        row.retry_at = journal.now.timestamp() + retry_delay
