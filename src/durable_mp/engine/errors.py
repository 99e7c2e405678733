"""Turning exceptions into the API's ErrorObject, within the service's size limit.

The wire form is the official SDK's: ErrorType and ErrorMessage of the escaping error,
ErrorData and StackTrace only when an operation error already carries them. Tracebacks
(which hold local file paths) go to the log, not into checkpoints.
"""

from __future__ import annotations

import json
import logging

from durable_mp.lambda_service import MAX_ERROR_OBJECT_BYTES, ErrorObject

logger = logging.getLogger("durable_mp.engine")

# Leave room for the JSON envelope the service measures.
_BUDGET = MAX_ERROR_OBJECT_BYTES - 512
_MAX_MESSAGE_CHARS = 8 * 1024


def error_object_for(error: BaseException) -> ErrorObject:
    """The wire form of ``error``, trimmed to stay under the 32 KiB the service accepts.

    An oversized error must never turn a step failure into an API error.
    """
    base = ErrorObject.from_exception(error)
    remote_type = getattr(error, "remote_type", None)
    if isinstance(remote_type, str):  # a stand-in for an exception that could not be pickled
        base = ErrorObject(base.message, remote_type, base.data, base.stack_trace)
    message = base.message
    if message is not None and len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + " ... [truncated]"
    result = ErrorObject(message, base.type, base.data, base.stack_trace)
    while _size(result) > _BUDGET and result.stack_trace:
        result = ErrorObject(
            result.message, result.type, result.data, result.stack_trace[1:] or None
        )
    if _size(result) > _BUDGET and result.data:
        result = ErrorObject(result.message, result.type, None, result.stack_trace)
    return result


def log_failure(what: str, error: BaseException, trace: list[str] | None) -> None:
    """Log a failure with its traceback (from the worker process when it ran there)."""
    text = "".join(trace).rstrip() if trace else ""
    if text:
        logger.info("%s failed: %s: %s\n%s", what, type(error).__name__, error, text)
    else:
        logger.info("%s failed: %s: %s", what, type(error).__name__, error)


def _size(error: ErrorObject) -> int:
    return len(json.dumps(error.to_dict()).encode())
