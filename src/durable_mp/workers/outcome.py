"""Turning a worker's ``result`` message into a JobResult, in the parent.

Unpickling can fail here too (a class the parent cannot import, an exception whose
``__init__`` does not accept its own args); that becomes a clear error for the job, never
a broken pool.
"""

from __future__ import annotations

from typing import Any

import cloudpickle

from durable_mp.workers import errors, protocol
from durable_mp.workers.job import JobResult


def to_result(label: str, ok: bool, body: Any, lines: list[str] | None) -> JobResult:
    if ok:
        try:
            return JobResult(ok=True, value=cloudpickle.loads(body))
        except Exception as exc:
            return JobResult(ok=False, error=errors.result_unloadable(label, _text(exc)))
    kind, blob, type_name, message, detail = body
    if kind == protocol.RESULT_UNPICKLABLE:
        return JobResult(ok=False, error=errors.result_unpicklable(label, type_name, message))
    if kind == protocol.PAYLOAD_UNLOADABLE:
        error: BaseException = errors.payload_unloadable(label, f"{type_name}: {message}")
        return JobResult(ok=False, error=error, traceback=lines)
    return JobResult(ok=False, error=_exception(type_name, message, blob, detail, lines),
                     traceback=lines)


def _exception(
    type_name: str, message: str, blob: bytes | None, detail: str | None, lines: list[str] | None
) -> BaseException:
    if blob is None:
        reason = f"the exception could not be pickled in the worker ({detail})"
        return errors.RemoteError(type_name, message, lines, reason)
    try:
        error = cloudpickle.loads(blob)
    except Exception as exc:
        reason = f"the exception could not be unpickled in the parent ({_text(exc)})"
        return errors.RemoteError(type_name, message, lines, reason)
    if not isinstance(error, BaseException):
        return errors.RemoteError(type_name, message, lines, "it did not unpickle as an exception")
    return error


def _text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__
