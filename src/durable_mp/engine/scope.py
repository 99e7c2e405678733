"""What every context of one invocation shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from durable_mp.engine.tasks import TaskGroup

if TYPE_CHECKING:
    from durable_mp.config import StepExecutorName
    from durable_mp.engine.batcher import CheckpointBatcher
    from durable_mp.engine.manager import Completion, ExecutionManager


@dataclass(frozen=True)
class InvocationSettings:
    """Choices made on ``@durable_execution`` (None: decide later / from the environment)."""

    step_executor: StepExecutorName | None = None
    workers: int | None = None
    boto3_client: Any = None
    max_workers: int | None = None


@dataclass(frozen=True)
class ExecutionScope:
    manager: ExecutionManager
    batcher: CheckpointBatcher
    durable_execution_arn: str
    settings: InvocationSettings
    lambda_context: Any = None
    tasks: TaskGroup = field(default_factory=TaskGroup)
    # In-process results of async operations, by operation id: a step body in a worker
    # process refers to a DurableFuture by that handle.
    completions: dict[str, Completion[Any]] = field(default_factory=dict)
