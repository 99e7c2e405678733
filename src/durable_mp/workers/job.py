"""What callers hand to the pool and what they get back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A request's reply callback: call it once, from any thread, with the value (or an
# exception instance, which the worker raises). The pool passes a ``Replier``, which also
# carries the job's ``future``.
Reply = Callable[[Any], None]


@dataclass(frozen=True)
class Job:
    """One function call to run in a worker process.

    ``payload`` is ``cloudpickle.dumps((fn, args))`` made by the caller, so that an
    unpicklable closure fails in the caller's thread with the caller's stack. ``label``
    names the job in every error message.
    """

    payload: bytes
    label: str
    timeout: float | None = None
    memory_limit_mb: float | None = None
    on_message: Callable[[Any], None] | None = None
    on_request: Callable[[Any, Reply], None] | None = None


@dataclass(frozen=True)
class JobResult:
    """The outcome of a job: a value, or the error that ended it.

    ``error`` is what the function raised (unpickled in the parent), a ``RemoteError``
    stand-in when that exception could not cross the pipe, or an error the pool made
    (crash, timeout, memory limit, pickling).
    """

    ok: bool
    value: Any = None
    error: BaseException | None = None
    traceback: list[str] | None = None
