"""map and parallel: branches on parent threads, their steps in worker processes.

The batch is a CONTEXT operation (subtype Map or Parallel) whose function is the
coordinator (:mod:`durable_mp.engine.batch_coordinator`); each branch is a child CONTEXT
(:mod:`durable_mp.engine.batch_branches`). A result too large to checkpoint is rebuilt on
replay from the branches' own checkpoints (ReplayChildren), without running any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from durable_mp.concurrency.models import (
    BatchItem,
    BatchResult,
    CompletionRecord,
    envelope_summary_generator,
)
from durable_mp.config import (
    BatchItemStatus,
    ChildConfig,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
)
from durable_mp.engine.batch_branches import (
    MAP,
    PARALLEL,
    Batch,
    Branch,
    Kind,
    branch_identifier,
    is_fatal,
    item_error,
    run_branch,
)
from durable_mp.engine.batch_coordinator import Coordinator
from durable_mp.engine.child import run_child
from durable_mp.lambda_service import OperationStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from durable_mp.engine.ids import OperationIdentifier
    from durable_mp.engine.operation_context import OperationContext


def run_map(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    inputs: Sequence[Any],
    func: Callable[[OperationContext, Any, int, Sequence[Any]], Any],
    config: MapConfig[Any] | None,
) -> BatchResult[Any]:
    config = config or MapConfig()

    def bind(index: int, item: Any) -> Callable[[OperationContext], Any]:
        return lambda child: func(child, item, index, inputs)

    branches = []
    for index, item in enumerate(inputs):
        custom = config.item_namer(item, index) if config.item_namer else None
        name = custom if custom is not None else f"{MAP.name_prefix}{index}"
        branches.append(Branch(index, bind(index, item), custom, name))
    return _run_batch(ctx, identifier, MAP, branches, config)


def run_parallel(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    functions: Sequence[Callable[[OperationContext], Any] | ParallelBranch[Any]],
    config: ParallelConfig | None,
) -> BatchResult[Any]:
    config = config or ParallelConfig()
    branches = []
    for index, function in enumerate(functions):
        custom = function.name if isinstance(function, ParallelBranch) else None
        name = custom if custom is not None else f"{PARALLEL.name_prefix}{index}"
        branches.append(Branch(index, function, custom, name))
    return _run_batch(ctx, identifier, PARALLEL, branches, config)


def _run_batch(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    kind: Kind,
    branches: list[Branch],
    options: MapConfig[Any] | ParallelConfig,
) -> BatchResult[Any]:
    batch = Batch(
        kind,
        branches,
        options.max_concurrency,
        options.completion_config,
        options.item_serdes or options.serdes,
        options.nesting_type,
    )

    def coordinate(batch_ctx: OperationContext) -> BatchResult[Any]:
        op = batch_ctx.scope.manager.get(identifier.operation_id)
        if op is not None and op.status is OperationStatus.SUCCEEDED:
            return _replay(batch_ctx, identifier, batch, op.result)  # ReplayChildren mode
        return Coordinator(batch_ctx, identifier, batch).run()

    generate = envelope_summary_generator(kind.result_type, options.summary_generator)
    config: ChildConfig[Any] = ChildConfig(serdes=options.serdes, summary_generator=generate)
    return run_child(ctx, identifier, coordinate, config)


def _replay(
    batch_ctx: OperationContext, identifier: OperationIdentifier, batch: Batch, summary: str | None
) -> BatchResult[Any]:
    """Rebuild a result that was too large to checkpoint (ReplayChildren)."""
    record = CompletionRecord.parse(summary)
    manager = batch_ctx.scope.manager
    items: list[BatchItem[Any]] = []
    for branch in batch.branches:
        if record is not None and branch.index >= record.started_total:
            continue
        if record is not None and branch.index in record.started_indexes:
            items.append(BatchItem(branch.index, BatchItemStatus.STARTED))
            continue
        op = manager.get(branch_identifier(batch_ctx, identifier, batch, branch).operation_id)
        if batch.nesting is NestingType.NESTED and (op is None or not op.is_terminal):
            items.append(BatchItem(branch.index, BatchItemStatus.STARTED))
            continue
        if op is not None and op.status is OperationStatus.FAILED:
            items.append(BatchItem(branch.index, BatchItemStatus.FAILED, error=op.error))
            continue
        try:
            value = run_branch(batch_ctx, identifier, batch, branch)
        except Exception as error:
            if is_fatal(error):
                raise
            items.append(BatchItem(branch.index, BatchItemStatus.FAILED, error=item_error(error)))
        else:
            items.append(BatchItem(branch.index, BatchItemStatus.SUCCEEDED, value))
    if record is not None:
        return BatchResult(items, record.completion_reason)
    return BatchResult.from_items(items, batch.completion_config)
