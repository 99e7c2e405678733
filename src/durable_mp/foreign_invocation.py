"""Invocations handed over as another SDK's objects (AWS's testing library), by duck typing.

AWS's ``DurableFunctionTestRunner`` calls a handler with its own
``DurableExecutionInvocationInputWithClient``: the ARN, the checkpoint token, the first
page of operations as that SDK's ``Operation`` objects, and an in-memory service client
that takes and returns that SDK's ``OperationUpdate`` and ``CheckpointOutput``. Nothing
of that SDK is imported here: its objects are read through their ``to_dict`` and
``from_dict`` (the API's boto3 shapes, which both SDKs share), and updates are rebuilt
with the ``OperationUpdate`` class that lives beside the other SDK's ``Operation``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from durable_mp._wire import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    Operation,
    StateOutput,
)
from durable_mp.invocation_input import (
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from durable_mp._wire import OperationUpdate

_FIELDS = ("durable_execution_arn", "checkpoint_token", "initial_execution_state", "service_client")


def adopt(event: Any) -> DurableExecutionInvocationInputWithClient | None:
    """The event as durable-mp's invocation input, if it is another SDK's; else None."""
    if isinstance(event, Mapping | DurableExecutionInvocationInputWithClient):
        return None
    if not all(hasattr(event, name) for name in _FIELDS):
        return None
    state = event.initial_execution_state
    foreign_operations = list(getattr(state, "operations", None) or [])
    return DurableExecutionInvocationInputWithClient(
        durable_execution_arn=event.durable_execution_arn,
        checkpoint_token=event.checkpoint_token,
        initial_execution_state=InitialExecutionState(
            [_operation(op) for op in foreign_operations],
            getattr(state, "next_marker", None) or "",
        ),
        updated_operation_ids=list(getattr(event, "updated_operation_ids", None) or []),
        service_client=ForeignServiceClient(
            event.service_client, _update_class(foreign_operations)
        ),
    )


class ForeignServiceClient:
    """durable-mp's service-client calls, made on another SDK's client."""

    def __init__(self, client: Any, update_class: Any) -> None:
        self._client = client
        self._update_class = update_class

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        foreign = [self._update(update) for update in updates]
        output = self._client.checkpoint(
            durable_execution_arn, checkpoint_token, foreign, client_token
        )
        state = getattr(output, "new_execution_state", None)
        return CheckpointOutput(
            getattr(output, "checkpoint_token", None),
            CheckpointUpdatedExecutionState(
                [_operation(op) for op in getattr(state, "operations", None) or []],
                getattr(state, "next_marker", None) or None,
            ),
        )

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput:
        page = self._client.get_execution_state(
            durable_execution_arn, checkpoint_token, next_marker, max_items
        )
        return StateOutput(
            [_operation(op) for op in getattr(page, "operations", None) or []],
            getattr(page, "next_marker", None) or None,
        )

    def _update(self, update: OperationUpdate) -> Any:
        if self._update_class is None:
            return update
        return self._update_class.from_dict(update.to_dict())


def _operation(foreign: Any) -> Operation:
    return foreign if isinstance(foreign, Operation) else Operation.from_dict(foreign.to_dict())


def _update_class(foreign_operations: list[Any]) -> Any:
    """The other SDK's ``OperationUpdate``: it lives in the module of its ``Operation``."""
    for op in foreign_operations:
        if not isinstance(op, Operation):
            module = sys.modules.get(type(op).__module__)
            return getattr(module, "OperationUpdate", None)
    return None
