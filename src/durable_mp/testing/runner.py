"""The runners, the result and the operation classes, where AWS's library keeps them.

Tests import from ``aws_durable_execution_sdk_python_testing.runner``; with the prefix
replaced, the same names come from here.
"""

from __future__ import annotations

from durable_mp._wire import InvocationStatus
from durable_mp.testing.cloud import DurableFunctionCloudTestRunner
from durable_mp.testing.local import (
    DEFAULT_CHILD_EXECUTION_TIMEOUT_SECONDS,
    DEFAULT_CHILD_RETENTION_PERIOD_DAYS,
    DurableChildContextTestRunner,
    DurableFunctionTestRunner,
)
from durable_mp.testing.operations import (
    CallbackOperation,
    ContextOperation,
    ExecutionOperation,
    InvokeOperation,
    Operation,
    StepOperation,
    WaitOperation,
    create_operation,
)
from durable_mp.testing.result import DurableFunctionTestResult, ExecutionStatus

__all__ = [
    "DEFAULT_CHILD_EXECUTION_TIMEOUT_SECONDS",
    "DEFAULT_CHILD_RETENTION_PERIOD_DAYS",
    "CallbackOperation",
    "ContextOperation",
    "DurableChildContextTestRunner",
    "DurableFunctionCloudTestRunner",
    "DurableFunctionTestResult",
    "DurableFunctionTestRunner",
    "ExecutionOperation",
    "ExecutionStatus",
    "InvocationStatus",
    "InvokeOperation",
    "Operation",
    "StepOperation",
    "WaitOperation",
    "create_operation",
]
