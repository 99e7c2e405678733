"""The branches of a map or parallel: their identity, and running one of them.

A branch is a child CONTEXT (MapIteration / ParallelBranch, or none with FLAT nesting)
whose id derives from the batch's id and the branch's index, so the order branches happen
to run in never changes their identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from durable_mp.config import ChildConfig, NestingType
from durable_mp.engine.child import run_child
from durable_mp.engine.ids import OperationIdentifier, operation_id_for
from durable_mp.exceptions import (
    DurableOperationError,
    ExecutionError,
    InvocationError,
    NonDeterministicExecutionError,
)
from durable_mp.lambda_service import ErrorObject, OperationSubType, OperationType

if TYPE_CHECKING:
    from collections.abc import Callable

    from durable_mp.config import CompletionConfig
    from durable_mp.engine.operation_context import OperationContext
    from durable_mp.serdes import SerDes


@dataclass(frozen=True)
class Kind:
    top: str
    iteration: str
    name_prefix: str
    result_type: str


MAP = Kind(
    OperationSubType.MAP.value, OperationSubType.MAP_ITERATION.value, "map-item-", "MapResult"
)
PARALLEL = Kind(
    OperationSubType.PARALLEL.value,
    OperationSubType.PARALLEL_BRANCH.value,
    "parallel-branch-",
    "ParallelResult",
)


@dataclass(eq=False)
class Branch:
    """One branch, and its outcome once the coordinator has taken it in."""

    index: int
    func: Callable[[OperationContext], Any]
    custom_name: str | None  # from item_namer or ParallelBranch; None otherwise
    name: str  # as recorded in the history
    started: bool = False
    done: bool = False
    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Batch:
    kind: Kind
    branches: list[Branch]
    max_concurrency: int | None
    completion_config: CompletionConfig | None
    item_serdes: SerDes[Any] | None
    nesting: NestingType
    started: list[Branch] = field(default_factory=list)


def branch_identifier(
    batch_ctx: OperationContext, batch_id: OperationIdentifier, batch: Batch, branch: Branch
) -> OperationIdentifier:
    return OperationIdentifier(
        operation_id=operation_id_for(batch_id.operation_id, branch.index),
        operation_type=OperationType.CONTEXT,
        sub_type=batch.kind.iteration,
        parent_id=batch_ctx.parent_id,
        name=branch.name,
        path=f"{batch_id.path}-{branch.index}",
    )


def run_branch(
    batch_ctx: OperationContext, batch_id: OperationIdentifier, batch: Batch, branch: Branch
) -> Any:
    """Run one branch as its child context (or read its outcome from the checkpoint)."""
    identifier = branch_identifier(batch_ctx, batch_id, batch, branch)
    checkpoint = batch_ctx.scope.manager.get(identifier.operation_id)
    if batch.nesting is NestingType.FLAT and checkpoint is not None:
        raise NonDeterministicExecutionError(
            f"Non-deterministic branch nesting at operation {identifier.path}: the checkpoint "
            "holds a NESTED branch context but the batch now uses FLAT nesting",
            step_id=identifier.operation_id,
        )
    identifier.validate_replay(checkpoint)
    if checkpoint is not None and batch_ctx.is_replaying():
        batch_ctx.scope.hooks.reached_on_replay(checkpoint)
    config: ChildConfig[Any] = ChildConfig(
        serdes=batch.item_serdes, is_virtual=batch.nesting is NestingType.FLAT
    )
    return run_child(batch_ctx, identifier, branch.func, config)


def item_error(error: BaseException) -> ErrorObject:
    """The failed item's error carries the escaping type, not the ChildContextError wrapper."""
    if isinstance(error, DurableOperationError):
        return ErrorObject(error.message, error.error_type, error.data, error.stack_trace)
    return ErrorObject.from_exception(error)


def is_fatal(error: BaseException) -> bool:
    """Errors that end the execution or the invocation rather than one branch."""
    if not isinstance(error, Exception) or isinstance(error, ExecutionError):
        return True
    return isinstance(error, InvocationError) and error.is_retryable()
