"""The two calls the SDK makes to the durable execution service, and the boto3 client.

Anything with ``checkpoint`` and ``get_execution_state`` can back an execution: the real
service through :class:`LambdaServiceClient`, or the embedded
:class:`durable_mp.local.LocalService`. Both raise :class:`CheckpointError` and
:class:`GetExecutionStateError` with an ``error_category`` that says whether invoking
again can help.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Protocol

from durable_mp.__about__ import __version__
from durable_mp._wire import CheckpointOutput, OperationUpdate, StateOutput
from durable_mp.exceptions import CheckpointError, GetExecutionStateError

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)


class DurableServiceClient(Protocol):
    """The data-plane calls of the durable execution API."""

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput: ...

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput: ...


class LambdaServiceClient:
    """The durable execution API through a boto3 ``lambda`` client.

    botocore retries throttling and 5xx responses with backoff ("standard" mode, 5
    attempts); what still fails is classified and raised for the invocation to handle.
    ``AWS_ENDPOINT_URL_LAMBDA`` redirects the default client (boto3 reads it itself).
    """

    _default_client: Any = None
    _default_lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def from_environment(cls) -> LambdaServiceClient:
        """A client shared by every invocation of a warm sandbox (no per-call set-up)."""
        with cls._default_lock:
            if cls._default_client is None:
                import boto3
                from botocore.config import Config

                cls._default_client = boto3.client(
                    "lambda",
                    config=Config(
                        connect_timeout=5,
                        read_timeout=50,
                        retries={"mode": "standard", "max_attempts": 5},
                        user_agent_extra=f"durable-mp/{__version__}",
                    ),
                )
            return cls(cls._default_client)

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        if not checkpoint_token:
            raise CheckpointError("Cannot checkpoint without a checkpoint token.")
        optional: dict[str, Any] = {}
        if client_token is not None:
            optional["ClientToken"] = client_token
        try:
            response = self.client.checkpoint_durable_execution(
                DurableExecutionArn=durable_execution_arn,
                CheckpointToken=checkpoint_token,
                Updates=[update.to_dict() for update in updates],
                **optional,
            )
        except Exception as error:
            raise _as(CheckpointError, error) from None
        return CheckpointOutput.from_dict(response)

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput:
        if not checkpoint_token:
            raise GetExecutionStateError("Cannot get execution state without a checkpoint token.")
        try:
            response = self.client.get_durable_execution_state(
                DurableExecutionArn=durable_execution_arn,
                CheckpointToken=checkpoint_token,
                Marker=next_marker,
                MaxItems=max_items,
            )
        except Exception as error:
            raise _as(GetExecutionStateError, error) from None
        return StateOutput.from_dict(response)


def _as(kind: type[CheckpointError] | type[GetExecutionStateError], error: Exception) -> Any:
    classified = kind.from_exception(error)
    logger.warning(
        "Durable execution API call failed (%s): %s",
        "retryable" if classified.is_retryable() else "not retryable",
        classified,
        extra=classified.build_logger_extras(),
    )
    return classified
