"""What every context of one invocation shares."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from durable_mp.config import validate_checkpointing
from durable_mp.engine.tasks import TaskGroup
from durable_mp.exceptions import OrphanedChildException
from durable_mp.plugins.hooks import NO_HOOKS, OperationHooks

if TYPE_CHECKING:
    from durable_mp.config import CheckpointingMode, StepExecutorName
    from durable_mp.engine.batcher import CheckpointBatcher
    from durable_mp.engine.manager import Completion, ExecutionManager
    from durable_mp.plugin import DurableInstrumentationPluginFactory


CHECKPOINTING_ENV = "DURABLE_MP_CHECKPOINTING"


@dataclass(frozen=True)
class InvocationSettings:
    """Choices made on ``@durable_execution`` (None: decide later / from the environment)."""

    step_executor: StepExecutorName | None = None
    workers: int | None = None
    boto3_client: Any = None
    max_workers: int | None = None
    checkpointing: CheckpointingMode | None = None

    def checkpointing_mode(self) -> CheckpointingMode:
        """The handler's choice, else ``DURABLE_MP_CHECKPOINTING``, else synchronous."""
        if self.checkpointing is not None:
            return self.checkpointing
        value = os.environ.get(CHECKPOINTING_ENV, "").strip().lower()
        if not value:
            return "synchronous"
        return validate_checkpointing(value, CHECKPOINTING_ENV) or "synchronous"
    plugins: tuple[DurableInstrumentationPluginFactory, ...] = ()


@dataclass(frozen=True)
class ExecutionScope:
    manager: ExecutionManager
    batcher: CheckpointBatcher
    durable_execution_arn: str
    settings: InvocationSettings
    lambda_context: Any = None
    # Pipelined checkpointing: an at-least-once step's SUCCEED is queued, not awaited.
    pipelined: bool = False
    tasks: TaskGroup = field(default_factory=TaskGroup)
    # In-process results of async operations, by operation id: a step body in a worker
    # process refers to a DurableFuture by that handle.
    completions: dict[str, Completion[Any]] = field(default_factory=dict)
    # Branches of a map or parallel that completed early: they may finish the body they
    # are running, but nothing they do afterwards is checkpointed.
    orphans: set[str] = field(default_factory=set)
    # Where operations report their lifecycle for instrumentation plugins.
    hooks: OperationHooks = NO_HOOKS

    def refuse_orphan(self, lineage: tuple[str, ...]) -> None:
        """Raise OrphanedChildException when any context in ``lineage`` was orphaned."""
        if self.orphans and any(op_id in self.orphans for op_id in lineage):
            raise OrphanedChildException(
                "The map or parallel this work belongs to has already completed.",
                lineage[-1] if lineage else "",
            )
