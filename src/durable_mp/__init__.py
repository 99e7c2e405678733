"""durable-mp: AWS Lambda durable functions whose step bodies run in worker processes.

A drop-in for ``aws_durable_execution_sdk_python``: replace that import prefix with
``durable_mp``. CPU-heavy steps then run in a warm pool of worker processes instead of
competing for the parent's GIL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from durable_mp.__about__ import __version__

if TYPE_CHECKING:
    from durable_mp.concurrency.models import (
        BatchCompletionError,
        BatchItem,
        BatchResult,
        CompletionReason,
    )
    from durable_mp.config import (
        BatchItemStatus,
        CallbackConfig,
        ChildConfig,
        CompletionConfig,
        CompletionDecision,
        CompletionItemStatus,
        CompletionOutcome,
        CompletionStatus,
        Duration,
        InvokeConfig,
        JitterStrategy,
        MapConfig,
        NestingType,
        ParallelBranch,
        ParallelConfig,
        StepConfig,
        StepSemantics,
        WaitForCallbackConfig,
        complete_batch,
        continue_batch,
    )
    from durable_mp.context import (
        DurableContext,
        durable_parallel_branch,
        durable_step,
        durable_wait_for_callback,
        durable_with_child_context,
    )
    from durable_mp.engine.callback import (
        Callback,
    )
    from durable_mp.exceptions import (
        CallbackError,
        CallbackExternalError,
        CallbackSubmitterError,
        CallbackTimeoutError,
        CheckpointError,
        ChildContextError,
        DurableExecutionsError,
        DurableOperationError,
        ExecutionError,
        InvalidEventError,
        InvocationError,
        InvokeError,
        NestedOperationError,
        NonDeterministicExecutionError,
        PayloadTooLargeError,
        PluginLoadError,
        RetryableSerDesError,
        SerDesError,
        StepError,
        StepExecutionError,
        StepInterruptedError,
        StepMemoryLimitError,
        StepPicklingError,
        StepTimeoutError,
        SuspendExecution,
        ValidationError,
        WaitForConditionError,
        WorkerCrashedError,
        WorkerPoolError,
    )
    from durable_mp.execution import (
        durable_execution,
    )
    from durable_mp.futures import (
        DurableFuture,
        all_of,
        any_of,
    )
    from durable_mp.retries import (
        RetryDecision,
        RetryPresets,
        RetryStrategyConfig,
        WithRetryConfig,
        create_retry_strategy,
        with_retry,
    )
    from durable_mp.serdes import (
        ExtendedTypeSerDes,
        JsonSerDes,
        PassThroughSerDes,
        SerDes,
        SerDesContext,
    )
    from durable_mp.types import (
        StepContext,
    )
    from durable_mp.waits import (
        WaitForConditionConfig,
        WaitForConditionDecision,
        WaitStrategyConfig,
        create_wait_strategy,
    )

# Names resolve on first use (PEP 562), so a worker process that only needs the step
# runner does not pay for importing the whole SDK at start-up.
_LAZY: dict[str, str] = {
    "CallbackConfig": "durable_mp.config",
    "WaitForCallbackConfig": "durable_mp.config",
    "InvokeConfig": "durable_mp.config",
    "MapConfig": "durable_mp.config",
    "ParallelConfig": "durable_mp.config",
    "ParallelBranch": "durable_mp.config",
    "CompletionConfig": "durable_mp.config",
    "NestingType": "durable_mp.config",
    "BatchItemStatus": "durable_mp.config",
    "CompletionDecision": "durable_mp.config",
    "CompletionItemStatus": "durable_mp.config",
    "CompletionOutcome": "durable_mp.config",
    "CompletionStatus": "durable_mp.config",
    "complete_batch": "durable_mp.config",
    "continue_batch": "durable_mp.config",
    "durable_parallel_branch": "durable_mp.context",
    "durable_wait_for_callback": "durable_mp.context",
    "BatchResult": "durable_mp.concurrency.models",
    "BatchItem": "durable_mp.concurrency.models",
    "BatchCompletionError": "durable_mp.concurrency.models",
    "CompletionReason": "durable_mp.concurrency.models",
    "Callback": "durable_mp.engine.callback",
    "CallbackError": "durable_mp.exceptions",
    "CallbackExternalError": "durable_mp.exceptions",
    "CallbackSubmitterError": "durable_mp.exceptions",
    "CallbackTimeoutError": "durable_mp.exceptions",
    "CheckpointError": "durable_mp.exceptions",
    "ChildConfig": "durable_mp.config",
    "ChildContextError": "durable_mp.exceptions",
    "DurableContext": "durable_mp.context",
    "DurableExecutionsError": "durable_mp.exceptions",
    "DurableOperationError": "durable_mp.exceptions",
    "Duration": "durable_mp.config",
    "ExecutionError": "durable_mp.exceptions",
    "ExtendedTypeSerDes": "durable_mp.serdes",
    "InvalidEventError": "durable_mp.exceptions",
    "InvocationError": "durable_mp.exceptions",
    "InvokeError": "durable_mp.exceptions",
    "JitterStrategy": "durable_mp.config",
    "JsonSerDes": "durable_mp.serdes",
    "NestedOperationError": "durable_mp.exceptions",
    "NonDeterministicExecutionError": "durable_mp.exceptions",
    "PassThroughSerDes": "durable_mp.serdes",
    "PayloadTooLargeError": "durable_mp.exceptions",
    "PluginLoadError": "durable_mp.exceptions",
    "RetryDecision": "durable_mp.retries",
    "RetryPresets": "durable_mp.retries",
    "RetryStrategyConfig": "durable_mp.retries",
    "RetryableSerDesError": "durable_mp.exceptions",
    "SerDes": "durable_mp.serdes",
    "SerDesContext": "durable_mp.serdes",
    "SerDesError": "durable_mp.exceptions",
    "StepConfig": "durable_mp.config",
    "StepContext": "durable_mp.types",
    "StepError": "durable_mp.exceptions",
    "StepExecutionError": "durable_mp.exceptions",
    "StepInterruptedError": "durable_mp.exceptions",
    "StepMemoryLimitError": "durable_mp.exceptions",
    "StepPicklingError": "durable_mp.exceptions",
    "StepSemantics": "durable_mp.config",
    "StepTimeoutError": "durable_mp.exceptions",
    "SuspendExecution": "durable_mp.exceptions",
    "ValidationError": "durable_mp.exceptions",
    "WaitForConditionConfig": "durable_mp.waits",
    "WaitForConditionDecision": "durable_mp.waits",
    "WaitForConditionError": "durable_mp.exceptions",
    "WaitStrategyConfig": "durable_mp.waits",
    "WithRetryConfig": "durable_mp.retries",
    "WorkerCrashedError": "durable_mp.exceptions",
    "WorkerPoolError": "durable_mp.exceptions",
    "create_retry_strategy": "durable_mp.retries",
    "create_wait_strategy": "durable_mp.waits",
    "durable_execution": "durable_mp.execution",
    "DurableFuture": "durable_mp.futures",
    "all_of": "durable_mp.futures",
    "any_of": "durable_mp.futures",
    "durable_step": "durable_mp.context",
    "durable_with_child_context": "durable_mp.context",
    "with_retry": "durable_mp.retries",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'durable_mp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "BatchCompletionError",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "Callback",
    "CallbackConfig",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "ChildConfig",
    "ChildContextError",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionReason",
    "CompletionStatus",
    "DurableContext",
    "DurableExecutionsError",
    "DurableFuture",
    "DurableOperationError",
    "Duration",
    "ExecutionError",
    "ExtendedTypeSerDes",
    "InvalidEventError",
    "InvocationError",
    "InvokeConfig",
    "InvokeError",
    "JitterStrategy",
    "JsonSerDes",
    "MapConfig",
    "NestedOperationError",
    "NestingType",
    "NonDeterministicExecutionError",
    "ParallelBranch",
    "ParallelConfig",
    "PassThroughSerDes",
    "PayloadTooLargeError",
    "PluginLoadError",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "RetryableSerDesError",
    "SerDes",
    "SerDesContext",
    "SerDesError",
    "StepConfig",
    "StepContext",
    "StepError",
    "StepExecutionError",
    "StepInterruptedError",
    "StepMemoryLimitError",
    "StepPicklingError",
    "StepSemantics",
    "StepTimeoutError",
    "SuspendExecution",
    "ValidationError",
    "WaitForCallbackConfig",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitForConditionError",
    "WaitStrategyConfig",
    "WithRetryConfig",
    "WorkerCrashedError",
    "WorkerPoolError",
    "__version__",
    "all_of",
    "any_of",
    "complete_batch",
    "continue_batch",
    "create_retry_strategy",
    "create_wait_strategy",
    "durable_execution",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "with_retry",
]
