"""What a test runner hands back once an execution has ended."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from durable_mp._wire import ErrorObject, InvocationStatus
from durable_mp.testing.operations import Operation, _Lookups, build_operation_tree

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from durable_mp._wire import Operation as ServiceOperation
    from durable_mp.local import ExecutionRecord

__all__ = ["DurableFunctionTestResult", "ExecutionStatus"]


class ExecutionStatus(Enum):
    """How the execution ended (``status`` says only whether it succeeded)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    TIMED_OUT = "TIMED_OUT"


@dataclass(frozen=True)
class DurableFunctionTestResult(_Lookups):
    """The execution's outcome and its operation tree.

    ``status`` is :class:`~durable_mp.lambda_service.InvocationStatus` SUCCEEDED or FAILED
    (a timed-out or stopped execution is FAILED; ``execution_status`` tells which).
    ``result`` is the serialized (JSON) result, ``error`` the error object.
    ``operations`` are the top-level operations; nested ones hang off
    ``child_operations``, and :meth:`get_all_operations` flattens the tree.
    """

    status: InvocationStatus
    operations: list[Operation]
    result: str | None = None
    error: ErrorObject | None = None
    execution_status: ExecutionStatus | None = None

    @classmethod
    def from_execution(
        cls, record: ExecutionRecord, operations: Iterable[ServiceOperation]
    ) -> DurableFunctionTestResult:
        """From an execution of the embedded service that has ended."""
        return cls.from_status(record.status, record.result, record.error, operations)

    @classmethod
    def from_status(
        cls,
        status: str,
        result: str | None,
        error: ErrorObject | None,
        operations: Iterable[ServiceOperation],
    ) -> DurableFunctionTestResult:
        """From an execution's status text (SUCCEEDED, FAILED, TIMED_OUT, STOPPED)."""
        try:
            execution_status = ExecutionStatus(status)
        except ValueError:
            execution_status = ExecutionStatus.FAILED
        succeeded = execution_status is ExecutionStatus.SUCCEEDED
        return cls(
            status=InvocationStatus.SUCCEEDED if succeeded else InvocationStatus.FAILED,
            operations=build_operation_tree(operations),
            result=result,
            error=error,
            execution_status=execution_status,
        )

    def _named(self) -> Sequence[Operation]:
        return self.operations

    def get_all_operations(self) -> list[Operation]:
        """Every operation of the tree, in the order AWS's library lists them (depth first,
        last sibling first)."""
        found: list[Operation] = []
        stack = list(self.operations)
        while stack:
            operation = stack.pop()
            found.append(operation)
            stack.extend(getattr(operation, "child_operations", None) or [])
        return found
