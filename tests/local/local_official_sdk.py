"""Drive the local service with AWS's official SDK (aws_durable_execution_sdk_python).

The official SDK has its own dataclasses; this adapter converts at the boundary through
the wire dicts (to_dict / from_dict), so the service is exercised exactly as the wire
would exercise it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python import exceptions as official_exceptions
from aws_durable_execution_sdk_python import execution as official_execution
from aws_durable_execution_sdk_python import lambda_service as official

from durable_mp.exceptions import BotoClientError, CheckpointError, GetExecutionStateError
from durable_mp.lambda_service import OperationUpdate

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from durable_mp.invocation_input import DurableExecutionInvocationInputWithClient
    from durable_mp.service_client import DurableServiceClient


class OfficialClientAdapter:
    """The official SDK's DurableServiceClient, backed by one of ours."""

    def __init__(self, client: DurableServiceClient) -> None:
        self.client = client
        self.checkpoints: list[list[dict[str, Any]]] = []

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: list[official.OperationUpdate],
        client_token: str | None,
    ) -> official.CheckpointOutput:
        wire = [update.to_dict() for update in updates]
        self.checkpoints.append(wire)
        try:
            output = self.client.checkpoint(
                durable_execution_arn,
                checkpoint_token,
                [OperationUpdate.from_dict(update) for update in wire],
                client_token,
            )
        except CheckpointError as error:
            raise _official(official_exceptions.CheckpointError, error) from None
        return official.CheckpointOutput.from_dict(
            {
                "CheckpointToken": output.checkpoint_token,
                "NewExecutionState": {
                    "Operations": [op.to_dict() for op in output.new_execution_state.operations],
                    "NextMarker": output.new_execution_state.next_marker,
                },
            }
        )

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> official.StateOutput:
        try:
            output = self.client.get_execution_state(
                durable_execution_arn, checkpoint_token, next_marker, max_items
            )
        except GetExecutionStateError as error:
            raise _official(official_exceptions.GetExecutionStateError, error) from None
        return official.StateOutput.from_dict(
            {
                "Operations": [op.to_dict() for op in output.operations],
                "NextMarker": output.next_marker,
            }
        )


def _official(kind: Any, error: BotoClientError) -> Any:
    return kind(
        str(error),
        official_exceptions.DurableApiErrorCategory(error.error_category.value),
        error.error,
        error.response_metadata,
    )


def official_handler(
    handler: Callable[[Any, Any], Any],
) -> Callable[[DurableExecutionInvocationInputWithClient, Any], Mapping[str, Any]]:
    """Wrap an ``@durable_execution`` handler of the official SDK for LocalRunner."""

    def run(event: DurableExecutionInvocationInputWithClient, context: Any) -> Mapping[str, Any]:
        official_event = official_execution.DurableExecutionInvocationInput.from_json_dict(
            event.to_json_dict()
        )
        with_client = official_execution.DurableExecutionInvocationInputWithClient.from_durable_execution_invocation_input(
            official_event, OfficialClientAdapter(event.service_client)
        )
        result: Mapping[str, Any] = handler(with_client, context)
        return result

    return run
