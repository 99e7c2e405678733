"""The operation tree a test asserts on: one class per operation type, children nested.

The classes, their fields and their lookups (``get_step``, ``get_context``...) are the
ones AWS's testing library gives tests, built here from the service's operations
(:class:`durable_mp.lambda_service.Operation`). ``sub_type`` is an
:class:`~durable_mp.lambda_service.OperationSubType` when the service recorded a known
subtype, so it compares equal to the plain string and is the enum member as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from durable_mp._wire import OperationSubType, OperationType
from durable_mp.testing.exceptions import DurableFunctionsTestError, InvalidParameterValueException

if TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable, Mapping, Sequence

    from durable_mp._wire import ErrorObject, OperationStatus
    from durable_mp._wire import Operation as ServiceOperation

__all__ = [
    "CallbackOperation",
    "ContextOperation",
    "ExecutionOperation",
    "InvokeOperation",
    "Operation",
    "StepOperation",
    "WaitOperation",
    "build_operation_tree",
    "create_operation",
]


@dataclass(frozen=True)
class Operation:
    """What every operation has: id, type, status, place in the tree, name, times."""

    operation_id: str
    operation_type: OperationType
    status: OperationStatus
    parent_id: str | None = field(default=None, kw_only=True)
    name: str | None = field(default=None, kw_only=True)
    sub_type: str | None = field(default=None, kw_only=True)
    start_timestamp: datetime.datetime | None = field(default=None, kw_only=True)
    end_timestamp: datetime.datetime | None = field(default=None, kw_only=True)


OperationT = TypeVar("OperationT", bound=Operation)


class _Lookups:
    """Find a direct child (or top-level operation) by name, typed for the caller."""

    def _named(self) -> Sequence[Operation]:
        raise NotImplementedError

    def _not_found(self, name: str) -> str:
        return f"Operation with name '{name}' not found"

    def get_operation_by_name(self, name: str) -> Operation:
        for operation in self._named():
            if operation.name == name:
                return operation
        raise DurableFunctionsTestError(self._not_found(name))

    def get_step(self, name: str) -> StepOperation:
        return cast("StepOperation", self.get_operation_by_name(name))

    def get_wait(self, name: str) -> WaitOperation:
        return cast("WaitOperation", self.get_operation_by_name(name))

    def get_context(self, name: str) -> ContextOperation:
        return cast("ContextOperation", self.get_operation_by_name(name))

    def get_callback(self, name: str) -> CallbackOperation:
        return cast("CallbackOperation", self.get_operation_by_name(name))

    def get_invoke(self, name: str) -> InvokeOperation:
        return cast("InvokeOperation", self.get_operation_by_name(name))

    def get_execution(self, name: str) -> ExecutionOperation:
        return cast("ExecutionOperation", self.get_operation_by_name(name))


@dataclass(frozen=True)
class ExecutionOperation(Operation):
    input_payload: str | None = None


@dataclass(frozen=True)
class ContextOperation(Operation, _Lookups):
    """A child context (also map, parallel, their branches, wait-for-callback...)."""

    child_operations: list[Operation]
    result: str | None = None
    error: ErrorObject | None = None

    def _named(self) -> Sequence[Operation]:
        return self.child_operations

    def _not_found(self, name: str) -> str:
        return f"Child Operation with name '{name}' not found"


@dataclass(frozen=True)
class StepOperation(ContextOperation):
    attempt: int = 0
    next_attempt_timestamp: datetime.datetime | None = None


@dataclass(frozen=True)
class WaitOperation(Operation):
    scheduled_end_timestamp: datetime.datetime | None = None


@dataclass(frozen=True)
class CallbackOperation(ContextOperation):
    callback_id: str | None = None


@dataclass(frozen=True)
class InvokeOperation(Operation):
    result: str | None = None
    error: ErrorObject | None = None


def create_operation(
    operation: ServiceOperation, all_operations: Sequence[ServiceOperation] | None = None
) -> Operation:
    """The test-facing operation for one service operation, its children included."""
    children = _children_index(all_operations or ())
    return _build(operation, children)


def build_operation_tree(operations: Iterable[ServiceOperation]) -> list[Operation]:
    """The top-level operations (EXECUTION left out), each with its descendants."""
    listed = list(operations)
    children = _children_index(listed)
    return [
        _build(op, children)
        for op in listed
        if op.parent_id is None and op.operation_type is not OperationType.EXECUTION
    ]


def _children_index(
    operations: Iterable[ServiceOperation],
) -> dict[str | None, list[ServiceOperation]]:
    index: dict[str | None, list[ServiceOperation]] = {}
    for op in operations:
        index.setdefault(op.parent_id, []).append(op)
    return index


def _build(
    op: ServiceOperation, children: Mapping[str | None, list[ServiceOperation]]
) -> Operation:
    common: dict[str, Any] = {
        "operation_id": op.operation_id,
        "operation_type": op.operation_type,
        "status": op.status,
        "parent_id": op.parent_id,
        "name": op.name,
        "sub_type": _sub_type(op.sub_type),
        "start_timestamp": op.start_timestamp,
        "end_timestamp": op.end_timestamp,
    }
    kind = op.operation_type
    if kind is OperationType.EXECUTION:
        details = op.execution_details
        payload = details.input_payload if details else None
        return ExecutionOperation(**common, input_payload=payload)
    if kind is OperationType.WAIT:
        wait = op.wait_details
        return WaitOperation(
            **common, scheduled_end_timestamp=wait.scheduled_end_timestamp if wait else None
        )
    if kind is OperationType.CHAINED_INVOKE:
        return InvokeOperation(**common, result=op.result, error=op.error)
    nested = [_build(child, children) for child in children.get(op.operation_id, [])]
    if kind is OperationType.CONTEXT:
        return ContextOperation(**common, child_operations=nested, result=op.result, error=op.error)
    if kind is OperationType.STEP:
        step = op.step_details
        return StepOperation(
            **common,
            child_operations=nested,
            result=op.result,
            error=op.error,
            attempt=step.attempt if step else 0,
            next_attempt_timestamp=step.next_attempt_timestamp if step else None,
        )
    if kind is OperationType.CALLBACK:
        callback = op.callback_details
        return CallbackOperation(
            **common,
            child_operations=nested,
            result=op.result,
            error=op.error,
            callback_id=callback.callback_id if callback else None,
        )
    raise InvalidParameterValueException(f"Unknown operation type: {kind}")


def _sub_type(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return OperationSubType(value)
    except ValueError:
        return value
