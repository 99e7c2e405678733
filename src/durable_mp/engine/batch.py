"""map and parallel: branches on parent threads, their steps in worker processes.

The batch is a CONTEXT operation (subtype Map or Parallel); each branch is a child CONTEXT
(MapIteration / ParallelBranch, or none with FLAT nesting) whose id derives from its
index, so the order branches happen to run in never changes identity. The coordinator runs
on the caller's thread: it starts branches in index order up to ``max_concurrency`` --
each as its own active context, registered before it is submitted -- and waits for any of
them to finish (inactive meanwhile, so a batch whose branches all wait on the service
suspends). It stops starting branches as soon as the completion config is met; branches
still running then are orphaned: they may finish the body they are in, but nothing they
do afterwards is checkpointed, and the invocation joins them before it answers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from durable_mp.concurrency.models import (
    BatchItem,
    BatchResult,
    CompletionPolicy,
    CompletionReason,
    CompletionRecord,
    envelope_summary_generator,
)
from durable_mp.config import (
    BatchItemStatus,
    ChildConfig,
    CompletionItemStatus,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
)
from durable_mp.engine.activity import ActiveContext
from durable_mp.engine.child import run_child
from durable_mp.engine.ids import OperationIdentifier, operation_id_for
from durable_mp.engine.manager import Completion
from durable_mp.exceptions import (
    DurableOperationError,
    ExecutionError,
    InvocationError,
    NonDeterministicExecutionError,
)
from durable_mp.lambda_service import ErrorObject, OperationStatus, OperationSubType, OperationType

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from durable_mp.config import CompletionConfig
    from durable_mp.engine.operation_context import OperationContext
    from durable_mp.serdes import SerDes


@dataclass(frozen=True)
class _Kind:
    top: str
    iteration: str
    name_prefix: str
    result_type: str


MAP = _Kind(
    OperationSubType.MAP.value, OperationSubType.MAP_ITERATION.value, "map-item-", "MapResult"
)
PARALLEL = _Kind(
    OperationSubType.PARALLEL.value,
    OperationSubType.PARALLEL_BRANCH.value,
    "parallel-branch-",
    "ParallelResult",
)


@dataclass
class _Branch:
    index: int
    func: Callable[[OperationContext], Any]
    custom_name: str | None  # from item_namer or ParallelBranch; None otherwise
    name: str  # as recorded in the history
    completion: Completion[Any] | None = None  # set once started


@dataclass(frozen=True)
class _Batch:
    kind: _Kind
    branches: list[_Branch]
    max_concurrency: int | None
    completion_config: CompletionConfig | None
    item_serdes: SerDes[Any] | None
    nesting: NestingType
    started: list[_Branch] = field(default_factory=list)


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
        branches.append(_Branch(index, bind(index, item), custom, name))
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
        branches.append(_Branch(index, function, custom, name))
    return _run_batch(ctx, identifier, PARALLEL, branches, config)


def _run_batch(
    ctx: OperationContext,
    identifier: OperationIdentifier,
    kind: _Kind,
    branches: list[_Branch],
    options: MapConfig[Any] | ParallelConfig,
) -> BatchResult[Any]:
    batch = _Batch(
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
        return _Coordinator(batch_ctx, identifier, batch).run()

    generate = envelope_summary_generator(kind.result_type, options.summary_generator)
    config: ChildConfig[Any] = ChildConfig(serdes=options.serdes, summary_generator=generate)
    return run_child(ctx, identifier, coordinate, config)


def _branch_identifier(
    batch_ctx: OperationContext, batch_id: OperationIdentifier, batch: _Batch, branch: _Branch
) -> OperationIdentifier:
    return OperationIdentifier(
        operation_id=operation_id_for(batch_id.operation_id, branch.index),
        operation_type=OperationType.CONTEXT,
        sub_type=batch.kind.iteration,
        parent_id=batch_ctx.parent_id,
        name=branch.name,
        path=f"{batch_id.path}-{branch.index}",
    )


def _run_branch(
    batch_ctx: OperationContext, batch_id: OperationIdentifier, batch: _Batch, branch: _Branch
) -> Any:
    identifier = _branch_identifier(batch_ctx, batch_id, batch, branch)
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


def _item_error(error: BaseException) -> ErrorObject:
    """The failed item's error carries the escaping type, not the ChildContextError wrapper."""
    if isinstance(error, DurableOperationError):
        return ErrorObject(error.message, error.error_type, error.data, error.stack_trace)
    return ErrorObject.from_exception(error)


def _is_fatal(error: BaseException) -> bool:
    """Errors that end the execution or the invocation rather than one branch."""
    if not isinstance(error, Exception) or isinstance(error, ExecutionError):
        return True
    return isinstance(error, InvocationError) and error.is_retryable()


class _Coordinator:
    def __init__(self, batch_ctx: OperationContext, identifier: OperationIdentifier, batch: _Batch):
        self.ctx = batch_ctx
        self.identifier = identifier
        self.batch = batch
        self.scope = batch_ctx.scope
        self.policy = CompletionPolicy.from_config(len(batch.branches), batch.completion_config)

    def run(self) -> BatchResult[Any]:
        branches = self.batch.branches
        if not branches:
            return BatchResult([], CompletionReason.ALL_COMPLETED)
        manager = self.scope.manager
        limit = self.batch.max_concurrency or len(branches)
        pending = deque(branches)
        running: list[_Branch] = []
        succeeded = failed = 0
        decision = self.policy.decide(0, 0, self._snapshot())
        while not self.policy.is_complete(succeeded, failed, decision):
            while pending and len(running) < limit:
                running.append(self._start(pending.popleft()))
            if not running:
                break
            manager.wait_for_any([b.completion for b in running if b.completion is not None])
            for branch in [b for b in running if b.completion is not None and b.completion.done]:
                running.remove(branch)
                assert branch.completion is not None
                error = branch.completion.error
                if error is not None and _is_fatal(error):
                    raise error
                if error is None:
                    succeeded += 1
                else:
                    failed += 1
            decision = self.policy.decide(succeeded, failed, self._snapshot())
        reason = self.policy.reason(succeeded, failed, decision)
        for branch in running:  # early completion: what still runs is orphaned
            self.scope.orphans.add(
                _branch_identifier(self.ctx, self.identifier, self.batch, branch).operation_id
            )
        return BatchResult(self._items(), reason)

    def _start(self, branch: _Branch) -> _Branch:
        manager = self.scope.manager
        branch.completion = Completion(f"{self.batch.kind.name_prefix}{branch.index}")
        self.batch.started.append(branch)
        context = ActiveContext(f"{self.identifier.path}-{branch.index}-branch [{branch.name}]")
        manager.register(context)  # ordering 1: active before it is submitted
        completion = branch.completion

        def drive() -> None:
            try:
                value = _run_branch(self.ctx, self.identifier, self.batch, branch)
            except BaseException as error:
                manager.complete(completion, error=error, completing=context)
            else:
                manager.complete(completion, value=value, completing=context)

        self.scope.tasks.spawn(context, drive)
        return branch

    def _snapshot(self) -> tuple[CompletionItemStatus, ...]:
        if self.policy.should_complete is None:
            return ()
        return tuple(
            CompletionItemStatus(branch.index, branch.custom_name, _status(branch))
            for branch in self.batch.branches
        )

    def _items(self) -> list[BatchItem[Any]]:
        items: list[BatchItem[Any]] = []
        for branch in sorted(self.batch.started, key=lambda b: b.index):
            completion = branch.completion
            assert completion is not None
            if not completion.done:
                items.append(BatchItem(branch.index, BatchItemStatus.STARTED))
            elif completion.error is None:
                items.append(BatchItem(branch.index, BatchItemStatus.SUCCEEDED, completion.value))
            else:
                items.append(
                    BatchItem(
                        branch.index, BatchItemStatus.FAILED, error=_item_error(completion.error)
                    )
                )
        return items


def _status(branch: _Branch) -> BatchItemStatus | None:
    completion = branch.completion
    if completion is None:
        return None
    if not completion.done:
        return BatchItemStatus.STARTED
    return BatchItemStatus.SUCCEEDED if completion.error is None else BatchItemStatus.FAILED


def _replay(
    batch_ctx: OperationContext, identifier: OperationIdentifier, batch: _Batch, summary: str | None
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
        op = manager.get(_branch_identifier(batch_ctx, identifier, batch, branch).operation_id)
        if batch.nesting is NestingType.NESTED and (op is None or not op.is_terminal):
            items.append(BatchItem(branch.index, BatchItemStatus.STARTED))
            continue
        if op is not None and op.status is OperationStatus.FAILED:
            items.append(BatchItem(branch.index, BatchItemStatus.FAILED, error=op.error))
            continue
        try:
            value = _run_branch(batch_ctx, identifier, batch, branch)
        except Exception as error:
            if _is_fatal(error):
                raise
            items.append(BatchItem(branch.index, BatchItemStatus.FAILED, error=_item_error(error)))
        else:
            items.append(BatchItem(branch.index, BatchItemStatus.SUCCEEDED, value))
    if record is not None:
        return BatchResult(items, record.completion_reason)
    return BatchResult.from_items(items, batch.completion_config)
