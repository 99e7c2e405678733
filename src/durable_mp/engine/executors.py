"""Where a step body runs: ``process`` (default), ``thread`` or ``inline``.

Every executor takes a :class:`StepJob` and its :class:`ParentSide` and blocks until an
:class:`Outcome`: the serialized result, or the exception the body raised (or an
executor failure such as ``WorkerCrashedError``), which the step then hands to its retry
strategy, with the :class:`BodyRun` that says where and when the body ran. The process
executor lives in ``process_executor.py``.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import logging
import os
import threading
import time
import traceback
from typing import TYPE_CHECKING, Protocol

from durable_mp.config import STEP_EXECUTORS, StepExecutorName, validate_executor
from durable_mp.engine.process_executor import ProcessExecutor
from durable_mp.engine.step_body import run_step_body
from durable_mp.exceptions import StepTimeoutError
from durable_mp.workers.jobs import BodyRun, Outcome

if TYPE_CHECKING:
    from durable_mp.engine.step_body import ParentSide, StepJob

logger = logging.getLogger(__name__)

EXECUTOR_ENV = "DURABLE_MP_STEP_EXECUTOR"
DEFAULT_EXECUTOR: StepExecutorName = "process"


class StepExecutor(Protocol):
    name: StepExecutorName

    def run(self, job: StepJob, parent: ParentSide) -> Outcome: ...


def _run_here(job: StepJob, parent: ParentSide, executor: StepExecutorName) -> Outcome:
    """Run the body on this thread, measuring its run like a worker does."""
    thread = threading.current_thread().name
    started_at = time.time()
    try:
        value = run_step_body(job, parent.logger, parent.reports.append)
    except Exception as error:
        run = BodyRun(executor, os.getpid(), thread, started_at, time.time())
        return Outcome(error=error, traceback=traceback.format_exception(error), run=run)
    return Outcome(value, run=BodyRun(executor, os.getpid(), thread, started_at, time.time()))


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


class InlineExecutor:
    """Runs the body on the calling thread: no hop at all, no isolation, no timeout."""

    name: StepExecutorName = "inline"

    def run(self, job: StepJob, parent: ParentSide) -> Outcome:
        if job.timeout is not None or job.memory_limit_mb is not None:
            _warn_once(
                "inline-limits",
                "StepConfig(timeout/memory_limit_mb) cannot be enforced for executor='inline' "
                "steps; use executor='process' to enforce them.",
            )
        return _run_here(job, parent, self.name)


class ThreadExecutor:
    """Runs the body on a pool thread: concurrent with other steps, bound by the GIL.

    A timeout abandons the attempt (a thread cannot be killed): the step fails with
    ``StepTimeoutError`` while the abandoned body finishes in the background.
    """

    name: StepExecutorName = "thread"

    def __init__(self, max_threads: int | None = None) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_threads or 32 + (os.cpu_count() or 1),
            thread_name_prefix="durable-mp-step",
        )

    def run(self, job: StepJob, parent: ParentSide) -> Outcome:
        if job.memory_limit_mb is not None:
            _warn_once(
                "thread-memory",
                "StepConfig(memory_limit_mb) is enforced only for executor='process' steps.",
            )
        future = self._pool.submit(
            contextvars.copy_context().run, _run_here, job, parent, self.name
        )
        try:
            return future.result(timeout=job.timeout)
        except concurrent.futures.TimeoutError:
            error = StepTimeoutError(
                f"{job.label} ran longer than its timeout of {job.timeout:g} s; the attempt was "
                "abandoned (a thread cannot be killed, so the body may still be running). Use "
                "executor='process' to have overrunning steps killed."
            )
            return Outcome(error=error)


# -- choosing an executor ---------------------------------------------------------------

_inline_executor = InlineExecutor()


@functools.cache
def _shared_thread_executor() -> ThreadExecutor:
    """One thread pool per process, created on first use (cache makes it a singleton)."""
    return ThreadExecutor()


def executor_from_environment() -> StepExecutorName | None:
    value = os.environ.get(EXECUTOR_ENV)
    if not value:
        return None
    return validate_executor(value.strip().lower(), EXECUTOR_ENV)


def resolve_executor_name(step_choice: str | None, handler_choice: str | None) -> StepExecutorName:
    """StepConfig, then the handler's ``step_executor``, then the environment, then process."""
    chosen = validate_executor(step_choice) or validate_executor(handler_choice, "step_executor")
    return chosen or executor_from_environment() or DEFAULT_EXECUTOR


@functools.cache
def _process_executor(workers: int | None, max_workers: int | None) -> ProcessExecutor:
    return ProcessExecutor(workers, max_workers)


def get_executor(
    name: StepExecutorName, workers: int | None = None, max_workers: int | None = None
) -> StepExecutor:
    if name == "inline":
        return _inline_executor
    if name == "thread":
        return _shared_thread_executor()
    if name == "process":
        return _process_executor(workers, max_workers)
    raise AssertionError(f"unknown executor {name!r}; expected one of {STEP_EXECUTORS}")
