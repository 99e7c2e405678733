"""The two data-plane calls: apply a checkpoint, read a page of state.

Both accept only the current checkpoint token of the invocation that is running
(:mod:`durable_mp.local.tokens`). A checkpoint is validated as a whole, applied in order
inside the caller's transaction, and answered with a new token plus every operation
changed since the old token was issued (its ``NewExecutionState``), paged like
``GetDurableExecutionState``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from durable_mp.exceptions import CheckpointError, GetExecutionStateError
from durable_mp.lambda_service import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
    StateOutput,
)
from durable_mp.local import callbacks, invoke, lifecycle, tokens
from durable_mp.local.errors import api_error, invalid_parameter
from durable_mp.local.paging import MAX_PAGE_ITEMS, Marker, read_page
from durable_mp.local.records import FAILED, RUNNING, SUCCEEDED
from durable_mp.local.transitions import apply_update
from durable_mp.local.validation import validate_batch

if TYPE_CHECKING:
    from collections.abc import Mapping

    from durable_mp.local.invoke import FunctionSpec
    from durable_mp.local.journal import Journal
    from durable_mp.local.store import ExecutionRow, Tx


@dataclass(frozen=True)
class Context:
    """What applying a checkpoint needs beyond the store: the service's identity and the
    functions chained invokes may target."""

    page_size: int
    region: str
    account_id: str
    functions: Mapping[str, FunctionSpec]


def apply(
    journal: Journal, token_text: str, updates: list[OperationUpdate], context: Context
) -> CheckpointOutput:
    """Validate and apply one batch; the new token (None once ended) and the delta."""
    row, tx = journal.row, journal.tx
    token, request_id = tokens.require_current(tx, row, token_text, CheckpointError)
    since = tx.token_version(row.arn, token.sequence) or 0
    validate_batch(updates, _referenced(journal, updates))
    invoke.check_starts(updates, region=context.region, account_id=context.account_id)
    _check_child_result(journal, updates)
    for update in updates:
        _apply_one(journal, update, context)
    page = read_page(tx, row.arn, Marker(-1, (since, row.version)), context.page_size)
    row.seen_version = row.version
    new_token = tokens.issue(tx, row, request_id) if row.status == RUNNING else None
    return CheckpointOutput(
        new_token,
        CheckpointUpdatedExecutionState(
            [stored.operation for stored in page.operations], page.next_marker
        ),
    )


def _apply_one(journal: Journal, update: OperationUpdate, context: Context) -> None:
    match update.operation_type:
        case OperationType.EXECUTION:
            # The execution ends now; its history event follows the invocation's end.
            succeeded = update.action is OperationAction.SUCCEED
            lifecycle.end_execution(
                journal,
                SUCCEEDED if succeeded else FAILED,
                result=update.payload if succeeded else None,
                error=None if succeeded else update.error,
                defer_event=True,
            )
            return
        case OperationType.CALLBACK:
            callbacks.start(journal, update)
            return
        case OperationType.CHAINED_INVOKE:
            invoke.start(
                journal,
                update,
                context.functions,
                region=context.region,
                account_id=context.account_id,
            )
            return
    current = journal.operation(update.operation_id)
    transition = apply_update(update, current.operation if current else None, journal.now)
    journal.put(transition.operation)
    for event in transition.events:
        journal.record(event)


def _check_child_result(journal: Journal, updates: list[OperationUpdate]) -> None:
    """A chained child's result goes back to its parent, so it is capped like one."""
    for update in updates:
        if update.is_execution_terminal and invoke.child_result_too_large(
            journal.tx, journal.arn, update.payload
        ):
            raise invalid_parameter(invoke.CHILD_OUTPUT_TOO_LARGE)


def _referenced(journal: Journal, updates: list[OperationUpdate]) -> dict[str, Operation]:
    """The stored operations a batch names (as targets or parents)."""
    ids = {update.operation_id for update in updates}
    ids.update(update.parent_id for update in updates if update.parent_id)
    found = {op_id: journal.operation(op_id) for op_id in ids}
    return {op_id: stored.operation for op_id, stored in found.items() if stored}


def read_state(
    tx: Tx, row: ExecutionRow, token_text: str, marker_text: str, max_items: int
) -> StateOutput:
    """One page: from the start, or where the marker points (a full listing or a delta)."""
    tokens.require_current(tx, row, token_text, GetExecutionStateError)
    marker = Marker.decode(marker_text) if marker_text else Marker(-1)
    if marker is None:
        raise api_error(GetExecutionStateError, f"Invalid marker {marker_text!r}.")
    page = read_page(tx, row.arn, marker, max(1, min(max_items, MAX_PAGE_ITEMS)))
    return StateOutput([stored.operation for stored in page.operations], page.next_marker)
