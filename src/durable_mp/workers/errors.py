"""Errors the pool makes, worded so a reader knows what happened and what to do."""

from __future__ import annotations

import signal
from typing import Any

from durable_mp.exceptions import (
    StepMemoryLimitError,
    StepPicklingError,
    StepTimeoutError,
    WorkerCrashedError,
    WorkerPoolError,
)

_BYTES_PER_MB = 1024 * 1024


class RemoteError(Exception):
    """Stands in for an exception that could not travel from the worker to the parent.

    ``remote_type`` is the qualified class name of the original, ``str(self)`` its message,
    ``traceback`` its formatted traceback from the worker and ``reason`` why the original
    could not be delivered (it could not be pickled, or not unpickled in the parent).
    """

    def __init__(
        self,
        remote_type: str,
        message: str,
        traceback: list[str] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.remote_type = remote_type
        self.message = message
        self.traceback = traceback
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.remote_type, self.message, self.traceback, self.reason))


def describe_exit(exitcode: int | None) -> str:
    """``killed by signal SIGSEGV (segmentation fault)`` or ``exited with code 3``."""
    if exitcode is None:
        return "vanished without an exit status"
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        sig = signal.Signals(-exitcode)
    except ValueError:
        return f"killed by signal {-exitcode}"
    text = signal.strsignal(sig) or ""
    return f"killed by signal {sig.name} ({text.lower()})" if text else f"killed by {sig.name}"


def crashed(label: str, pid: int, exitcode: int | None) -> WorkerCrashedError:
    hint = "only this step failed and the pool replaced the worker"
    if exitcode == -signal.SIGKILL:
        hint += (
            "; SIGKILL often comes from the kernel's out-of-memory killer: give the function"
            " more memory or set memory_limit_mb on the step"
        )
    elif exitcode is not None and exitcode < 0:
        hint += "; a native extension the step calls probably crashed"
    else:
        hint += "; something in the step called os._exit() or exited the interpreter"
    message = f"{label} crashed its worker process (pid {pid}): {describe_exit(exitcode)}; {hint}"
    return WorkerCrashedError(message, exitcode)


def timed_out(label: str, pid: int, timeout: float) -> StepTimeoutError:
    return StepTimeoutError(
        f"{label} ran longer than its timeout of {timeout:g} s; its worker process (pid {pid})"
        " and its children were killed; raise the step's timeout or make the step faster"
    )


def over_memory(label: str, rss_bytes: int, limit_mb: float) -> StepMemoryLimitError:
    used = rss_bytes / _BYTES_PER_MB
    return StepMemoryLimitError(
        f"{label} used {used:.0f} MB of resident memory, above memory_limit_mb={limit_mb:g};"
        " its worker process tree was killed; raise memory_limit_mb or make the step use"
        " less memory"
    )


def result_unpicklable(label: str, type_name: str, problem: str) -> StepPicklingError:
    return StepPicklingError(
        f"{label} returned a value of type {type_name} that cannot be sent back from the"
        f" worker process ({problem}); return plain data, or run the step with"
        " executor='thread'"
    )


def result_unloadable(label: str, problem: str) -> StepPicklingError:
    return StepPicklingError(
        f"{label} returned a value that the parent process cannot unpickle ({problem});"
        " return plain data, or run the step with executor='thread'"
    )


def payload_unloadable(label: str, problem: str) -> StepPicklingError:
    return StepPicklingError(
        f"the function or arguments of {label} cannot be unpickled in the worker process"
        f" ({problem}); make every module the step uses importable there (same sys.path),"
        " or register it with cloudpickle.register_pickle_by_value"
    )


def reply_unpicklable(label: str, problem: str) -> StepPicklingError:
    return StepPicklingError(
        f"the parent's reply to a request from {label} cannot be pickled ({problem})"
    )


def no_request_handler(label: str) -> WorkerPoolError:
    return WorkerPoolError(
        f"{label} sent a request to the parent process, but its job has no on_request"
        " handler; request_from_parent only works under an executor that answers requests"
    )


def job_not_running(label: str | None) -> WorkerPoolError:
    who = label or "a job"
    return WorkerPoolError(
        f"{who} sent a request after its job had ended; requests must be made from the step"
        " body while it runs, not from threads it left behind"
    )


def pool_shut_down(label: str) -> WorkerPoolError:
    return WorkerPoolError(
        f"the worker pool was shut down before {label} finished; create a new pool (or call"
        " default_pool() again) to run more steps"
    )


def foreign_pool(label: str) -> WorkerPoolError:
    return WorkerPoolError(
        f"{label} was submitted to a worker pool created by the parent of this forked"
        " process; its workers belong to the parent: call default_pool() (or create a"
        " WorkerPool) in this process"
    )


def cap_reached(label: str, cap: int) -> WorkerPoolError:
    return WorkerPoolError(
        f"{label} cannot get a worker: every worker process is blocked waiting on the parent"
        f" and the pool hit the cap of {cap} worker processes (max_total_workers); raise it"
        " or reduce nested waits"
    )


def workers_fail_to_start(label: str, detail: str) -> WorkerPoolError:
    return WorkerPoolError(
        f"{label} cannot run: worker processes keep failing to start ({detail}); check"
        " the process's stderr, and that this Python can import durable_mp and cloudpickle"
    )
