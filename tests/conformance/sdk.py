"""One handler source, two SDKs: durable-mp and the official aws-durable-execution-sdk-python.

Conformance handlers are written once against an :class:`Sdk` namespace, so the
differential check runs the *same* handler code on both SDKs. ``load_sdk("durable_mp")``
or ``load_sdk("official")`` returns the namespace; every public name the handlers use is
an attribute (``sdk.durable_execution``, ``sdk.StepConfig``, ``sdk.StepError``, ...).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

OFFICIAL = "aws_durable_execution_sdk_python"

# name -> submodule (relative to the SDK package) that defines it in both SDKs
_NAMES: dict[str, str] = {
    # decorators and context
    "durable_execution": "execution",
    "durable_step": "context",
    "durable_with_child_context": "context",
    "durable_parallel_branch": "context",
    "durable_wait_for_callback": "context",
    # configuration
    "Duration": "config",
    "StepConfig": "config",
    "StepSemantics": "config",
    "ChildConfig": "config",
    "CallbackConfig": "config",
    "WaitForCallbackConfig": "config",
    "InvokeConfig": "config",
    "MapConfig": "config",
    "ParallelConfig": "config",
    "ParallelBranch": "config",
    "CompletionConfig": "config",
    "NestingType": "config",
    "JitterStrategy": "config",
    "BatchItemStatus": "config",
    "CompletionOutcome": "config",
    "complete_batch": "config",
    "continue_batch": "config",
    # retries and waits
    "RetryDecision": "retries",
    "RetryStrategyConfig": "retries",
    "RetryPresets": "retries",
    "create_retry_strategy": "retries",
    "WithRetryConfig": "retries",
    "with_retry": "retries",
    "WaitStrategyConfig": "waits",
    "WaitForConditionConfig": "waits",
    "WaitForConditionDecision": "waits",
    "create_wait_strategy": "waits",
    # serdes
    "SerDes": "serdes",
    "SerDesContext": "serdes",
    "JsonSerDes": "serdes",
    "PassThroughSerDes": "serdes",
    "ExtendedTypeSerDes": "serdes",
    # errors
    "StepError": "exceptions",
    "ChildContextError": "exceptions",
    "CallbackError": "exceptions",
    "CallbackTimeoutError": "exceptions",
    "CallbackExternalError": "exceptions",
    "CallbackSubmitterError": "exceptions",
    "InvokeError": "exceptions",
    "WaitForConditionError": "exceptions",
    "ValidationError": "exceptions",
    "SerDesError": "exceptions",
    "StepInterruptedError": "exceptions",
    "DurableExecutionsError": "exceptions",
    "DurableOperationError": "exceptions",
    # instrumentation plugins
    "DurableInstrumentationPlugin": "plugin",
    "BatchResult": "concurrency.models",
    "BatchCompletionError": "concurrency.models",
    "CompletionReason": "concurrency.models",
}


def load_sdk(which: str) -> SimpleNamespace:
    """The public names of ``which`` ("durable_mp" or "official") as one namespace."""
    package = "durable_mp" if which == "durable_mp" else OFFICIAL
    namespace = SimpleNamespace(name=which)
    for name, module in _NAMES.items():
        setattr(namespace, name, getattr(importlib.import_module(f"{package}.{module}"), name))
    return namespace


@dataclass(frozen=True)
class Requirement:
    """The handler of one conformance requirement (YAML id such as "1-1").

    ``functions`` are the extra Lambda functions the handler invokes (chained invoke
    targets), by function name: durable handlers or plain ``handler(event, context)``
    functions. ``step_executor`` is durable-mp only: where step bodies run (e.g. "inline"
    for requirements whose step must crash the Lambda runtime itself).
    """

    handler: Callable[..., Any]
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    step_executor: str | None = None
    execution_timeout_seconds: int | None = None  # the deployed function's, if it matters
