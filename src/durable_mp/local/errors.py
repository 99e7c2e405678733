"""Errors of the local service, shaped exactly like the boto3 client path raises them.

A 4xx from the real service reaches the SDK as a ``botocore`` ``ClientError`` that
:class:`durable_mp.service_client.LambdaServiceClient` classifies into
:class:`CheckpointError` / :class:`GetExecutionStateError`. The local service builds the
same objects directly, so the SDK cannot tell the two apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from durable_mp.exceptions import (
    BAD_REQUEST_ERROR,
    INVALID_CHECKPOINT_TOKEN_PREFIX,
    INVALID_PARAMETER_VALUE_EXCEPTION,
    CheckpointError,
    GetExecutionStateError,
    classify_api_error,
)

RESOURCE_NOT_FOUND_EXCEPTION = "ResourceNotFoundException"
CALLBACK_TIMEOUT_EXCEPTION = "CallbackTimeoutException"  # the API's "callback is closed"
NOT_FOUND_ERROR = 404
CHECKPOINT_OPERATION = "CheckpointDurableExecution"
GET_STATE_OPERATION = "GetDurableExecutionState"

if TYPE_CHECKING:
    from durable_mp.local.store import LeaseRow

ApiError = TypeVar("ApiError", CheckpointError, GetExecutionStateError)


class ExecutionNotFoundError(LookupError):
    """No execution with that ARN (or name) exists in this local service's store."""

    def __init__(self, arn: str, where: str) -> None:
        super().__init__(
            f"No durable execution {arn!r} in {where}. Check the ARN (or name) and that the "
            "same store file is used; list_executions() shows what the store holds."
        )
        self.arn = arn


class ExecutionNameConflictError(ValueError):
    """An execution with that name already exists (names are unique per service)."""


class ExecutionNotRunningError(RuntimeError):
    """An invocation was requested for an execution that has already ended."""


class ExecutionOwnedError(RuntimeError):
    """Another live runner drives the execution; ``owner`` is its lease.

    Wait for it (``LocalRunner.drive(arn, wait=True)``, ``durable-mp run --wait``), or
    stop the execution; a runner takes an execution over only once its owner is gone.
    """

    def __init__(self, message: str, owner: LeaseRow | None) -> None:
        super().__init__(message)
        self.owner = owner


class CallbackRequestError(Exception):
    """A SendDurableExecutionCallback* request the service rejects.

    ``code`` is the error code the real API answers with, so code that handles both the
    real service and this one can match on it.
    """

    code = INVALID_PARAMETER_VALUE_EXCEPTION


class InvalidCallbackRequestError(CallbackRequestError, ValueError):
    """A malformed callback id, or a result or error larger than the API allows."""


class CallbackNotFoundError(CallbackRequestError, LookupError):
    """No callback with that id exists in this store."""

    code = RESOURCE_NOT_FOUND_EXCEPTION


class CallbackAlreadyCompletedError(CallbackRequestError):
    """The callback is closed: it succeeded, failed or timed out, or its execution ended."""

    code = CALLBACK_TIMEOUT_EXCEPTION


def api_error(
    kind: type[ApiError],
    message: str,
    *,
    code: str = INVALID_PARAMETER_VALUE_EXCEPTION,
    status: int = BAD_REQUEST_ERROR,
) -> ApiError:
    """The exception the boto3 path would raise for this service error."""
    operation = CHECKPOINT_OPERATION if kind is CheckpointError else GET_STATE_OPERATION
    return kind(
        f"An error occurred ({code}) when calling the {operation} operation: {message}",
        classify_api_error(code, message, status),
        {"Code": code, "Message": message},
        {"HTTPStatusCode": status},
    )


def invalid_parameter(message: str) -> CheckpointError:
    """A checkpoint the real service rejects with InvalidParameterValueException (400)."""
    return api_error(CheckpointError, message)


def invalid_token(kind: type[ApiError], reason: str) -> ApiError:
    """A stale or unknown checkpoint token; the SDK treats this one as retryable."""
    return api_error(kind, f"{INVALID_CHECKPOINT_TOKEN_PREFIX}: {reason}")


def execution_not_found(kind: type[ApiError], arn: str) -> ApiError:
    return api_error(
        kind,
        f"Durable execution {arn} not found.",
        code=RESOURCE_NOT_FOUND_EXCEPTION,
        status=NOT_FOUND_ERROR,
    )
