"""Calling a plain Lambda handler as a chained-invoke target, as the Lambda runtime would.

The payload is JSON-decoded into the event, the return value JSON-encoded as the result.
A handler that raises, or returns what JSON cannot encode, fails the invoke with the
error the Python runtime reports: ``errorType`` is the exception's class name.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import ErrorObject

if TYPE_CHECKING:
    from collections.abc import Callable

MARSHAL_ERROR = "Runtime.MarshalError"


@dataclass(frozen=True)
class CallOutcome:
    result: str | None = None
    error: ErrorObject | None = None


def call(handler: Callable[[Any, Any], Any], payload: str | None, context: Any) -> CallOutcome:
    """One call of ``handler``; its outcome in wire form."""
    try:
        event = json.loads(payload) if payload else None
    except json.JSONDecodeError as error:
        return CallOutcome(error=_error(f"Unable to unmarshal input: {error}", MARSHAL_ERROR))
    try:
        value = handler(event, context)
    except Exception as error:
        return CallOutcome(
            error=ErrorObject(
                message=str(error),
                type=type(error).__name__,
                data=None,
                stack_trace=traceback.format_exception(error),
            )
        )
    try:
        return CallOutcome(result=json.dumps(value))
    except (TypeError, ValueError) as error:
        return CallOutcome(error=_error(f"Unable to marshal response: {error}", MARSHAL_ERROR))


def _error(message: str, kind: str) -> ErrorObject:
    return ErrorObject(message=message, type=kind, data=None, stack_trace=None)
