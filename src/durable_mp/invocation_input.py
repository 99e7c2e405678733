"""The Lambda event of a durable invocation, parsed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import Operation

if TYPE_CHECKING:
    from collections.abc import Mapping

    from durable_mp.service_client import DurableServiceClient


@dataclass(frozen=True)
class InitialExecutionState:
    """The first page of operations; ``next_marker`` leads to the rest."""

    operations: list[Operation]
    next_marker: str

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> InitialExecutionState:
        return InitialExecutionState(
            [Operation.from_dict(op) for op in data.get("Operations") or []],
            data.get("NextMarker") or "",
        )

    from_json_dict = from_dict

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "Operations": [op.to_json_dict() for op in self.operations],
            "NextMarker": self.next_marker,
        }


@dataclass(frozen=True)
class DurableExecutionInvocationInput:
    """``{DurableExecutionArn, CheckpointToken, InitialExecutionState, UpdatedOperationIds}``."""

    durable_execution_arn: str
    checkpoint_token: str
    initial_execution_state: InitialExecutionState
    updated_operation_ids: list[str] = field(default_factory=list, kw_only=True)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> DurableExecutionInvocationInput:
        return DurableExecutionInvocationInput(
            durable_execution_arn=data["DurableExecutionArn"],
            checkpoint_token=data["CheckpointToken"],
            initial_execution_state=InitialExecutionState.from_dict(
                data.get("InitialExecutionState") or {}
            ),
            updated_operation_ids=list(data.get("UpdatedOperationIds") or []),
        )

    from_json_dict = from_dict

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "DurableExecutionArn": self.durable_execution_arn,
            "CheckpointToken": self.checkpoint_token,
            "InitialExecutionState": self.initial_execution_state.to_json_dict(),
            "UpdatedOperationIds": list(self.updated_operation_ids),
        }


@dataclass(frozen=True)
class DurableExecutionInvocationInputWithClient(DurableExecutionInvocationInput):
    """An invocation that brings its own service client (the local service, tests)."""

    service_client: DurableServiceClient
