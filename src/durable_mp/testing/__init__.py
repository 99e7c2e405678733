"""Test durable functions: AWS's testing library API, on durable-mp's embedded service.

``DurableFunctionTestRunner(handler)`` runs a handler to its end in this process (step
bodies where the handler says: worker processes by default), ``skip_time=True``
fast-forwarding waits and retries; ``DurableChildContextTestRunner`` runs one
``@durable_with_child_context`` function; ``DurableFunctionCloudTestRunner`` runs the
same test against a deployed function or a local Lambda-compatible endpoint. A test
written for ``aws_durable_execution_sdk_python_testing`` runs here once its import
prefixes are ``durable_mp`` and ``durable_mp.testing``. The pytest plugin
(:mod:`durable_mp.testing.pytest_plugin`) provides the ``durable_runner`` fixture.
"""

from __future__ import annotations

from durable_mp.testing.runner import (
    CallbackOperation,
    ContextOperation,
    DurableChildContextTestRunner,
    DurableFunctionCloudTestRunner,
    DurableFunctionTestResult,
    DurableFunctionTestRunner,
    ExecutionOperation,
    ExecutionStatus,
    InvokeOperation,
    Operation,
    StepOperation,
    WaitOperation,
)

__all__ = [
    "CallbackOperation",
    "ContextOperation",
    "DurableChildContextTestRunner",
    "DurableFunctionCloudTestRunner",
    "DurableFunctionTestResult",
    "DurableFunctionTestRunner",
    "ExecutionOperation",
    "ExecutionStatus",
    "InvokeOperation",
    "Operation",
    "StepOperation",
    "WaitOperation",
]
