"""Turning exceptions into the API's ErrorObject, within the service's size limit."""

from __future__ import annotations

import json
import traceback as traceback_module

from durable_mp.exceptions import DurableOperationError, SerDesError
from durable_mp.lambda_service import MAX_ERROR_OBJECT_BYTES, ErrorObject

# Leave room for the JSON envelope the service measures.
_BUDGET = MAX_ERROR_OBJECT_BYTES - 512
_MAX_MESSAGE_CHARS = 8 * 1024
_MAX_TRACE_LINES = 60


def error_object_for(error: BaseException, trace: list[str] | None = None) -> ErrorObject:
    """The wire form of ``error``; the traceback, when known, becomes StackTrace.

    Messages and stack traces are trimmed so that the object stays under the 32 KiB the
    service accepts: an oversized error must never turn a step failure into an API error.
    """
    base = ErrorObject.from_exception(error)
    remote_type = getattr(error, "remote_type", None)
    if isinstance(remote_type, str):  # a stand-in for an exception that could not be pickled
        base = ErrorObject(base.message, remote_type, base.data, base.stack_trace)
    stack = base.stack_trace
    if stack is None and trace and not isinstance(error, DurableOperationError | SerDesError):
        stack = _trace_lines(trace)
    message = base.message
    if message is not None and len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + " ... [truncated]"
    result = ErrorObject(message, base.type, base.data, stack)
    while _size(result) > _BUDGET and result.stack_trace:
        result = ErrorObject(
            result.message, result.type, result.data, result.stack_trace[1:] or None
        )
    if _size(result) > _BUDGET and result.data:
        result = ErrorObject(result.message, result.type, None, result.stack_trace)
    return result


def format_exception_lines(error: BaseException) -> list[str]:
    return traceback_module.format_exception(error)


def _trace_lines(trace: list[str]) -> list[str]:
    lines = [line.rstrip("\n") for chunk in trace for line in chunk.splitlines()]
    return lines[-_MAX_TRACE_LINES:]


def _size(error: ErrorObject) -> int:
    return len(json.dumps(error.to_dict()).encode())
