"""Running a step body in a worker process, and answering it while it runs.

This is the parent side of the step-level messages of ``workers/protocol.py``. The
attempt is pickled on the caller's thread, so an unpicklable closure fails there, naming
the culprit, and run with ``WorkerPool.run``: the caller's thread sends it and reads what
the body sends -- its log records go to the parent's step logger, its body wrappers'
reports are kept for their owners, and its waits on durable futures are answered without
a thread of their own: the step's context leaves the active set and its job lends its CPU
slot (the pool may start another worker) until the future resolves; the manager
re-registers the context before the reply goes out. If the invocation stops first, the
reply is a ``Suspension`` that unwinds the body.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import cloudpickle

from durable_mp.engine.step_body import run_in_worker
from durable_mp.exceptions import InternalInvariantError, StepPicklingError
from durable_mp.workers import pickling
from durable_mp.workers.jobs import Job, Outcome
from durable_mp.workers.protocol import (
    AwaitReply,
    AwaitRequest,
    DoneQuery,
    LogEntry,
    Suspension,
    WorkerReport,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from durable_mp.config import StepExecutorName
    from durable_mp.engine.manager import Completion
    from durable_mp.engine.step_body import ParentSide, StepJob
    from durable_mp.workers.jobs import Replier
    from durable_mp.workers.pool import WorkerPool

class ProcessExecutor:
    """Runs the body in a worker process of the warm, process-wide pool."""

    name: StepExecutorName = "process"

    def __init__(self, workers: int | None = None, max_workers: int | None = None) -> None:
        self._workers = workers
        self._max_workers = max_workers

    def run(self, job: StepJob, parent: ParentSide) -> Outcome:
        try:
            call = pickling.dumps((run_in_worker, (job,)))
        except Exception as error:
            return Outcome(error=StepPicklingError(_unpicklable_message(job, error)))
        pool = worker_pool(self._workers, self._max_workers)
        attempt = _RunningAttempt(parent, pool)
        pool_job = Job(
            call,
            job.label,
            timeout=job.timeout,
            memory_limit_mb=job.memory_limit_mb,
            on_message=attempt.on_message,
            on_request=attempt.on_request,
        )
        return pool.run(pool_job)


def worker_pool(workers: int | None, max_workers: int | None) -> WorkerPool:
    """The process-wide pool with this handler's sizes (env var for the cap)."""
    from durable_mp.workers.pool import configured_pool

    return configured_pool(workers, max_workers)


class _RunningAttempt:
    """Answers what one attempt's body sends from its worker. Runs on the thread that
    reads the worker (the step's own), so it never blocks: a wait is answered later,
    from whichever thread resolves the future."""

    __slots__ = ("_parent", "_pool")

    def __init__(self, parent: ParentSide, pool: WorkerPool) -> None:
        self._parent = parent
        self._pool = pool

    def on_message(self, body: Any) -> None:
        if type(body) is LogEntry:
            self._parent.logger.log(body.level, body.text, body.fields)
        elif type(body) is WorkerReport:
            self._parent.reports.append(body)

    def on_request(self, body: Any, reply: Replier) -> None:
        try:
            if type(body) is DoneQuery:
                reply(all(completion.done for completion in self._completions(body.handles)))
                return
            context = self._parent.context
            if type(body) is not AwaitRequest or context is None:
                raise InternalInvariantError(f"unexpected request from a worker: {body!r:.100}")
            completions = self._completions(body.handles)
        except Exception as error:
            reply(error)
            return
        pool, job = self._pool, reply.job
        assert job is not None  # the pool answers requests of ended jobs itself
        pool.mark_blocked(job)

        def resolved(value: Any, error: BaseException | None) -> None:
            pool.mark_unblocked(job)
            reply(_await_reply(completions, value, error))

        # The manager deregisters the step's context while it waits, and re-registers
        # it before calling ``resolved``.
        self._parent.manager.notify_when_done(completions, context, resolved)

    def _completions(self, handles: Sequence[str]) -> list[Completion[Any]]:
        found = []
        for handle in handles:
            completion = self._parent.completions.get(handle)
            if completion is None:
                raise InternalInvariantError(
                    f"a step body awaited a DurableFuture ({handle[:12]}...) that this "
                    "invocation does not know; futures can only be awaited within the "
                    "invocation that created them"
                )
            found.append(completion)
        return found


def _await_reply(
    completions: Sequence[Completion[Any]], value: Any, error: BaseException | None
) -> AwaitReply | Suspension:
    if error is None:
        return AwaitReply(value)
    if any(completion.error is error for completion in completions):
        return AwaitReply(error=error)  # the awaited operation failed
    return Suspension(error)  # the invocation stopped first


# -- naming what cannot be pickled ------------------------------------------------------


def _unpicklable_message(job: StepJob, error: Exception) -> str:
    culprit = _find_unpicklable(job.func)
    if culprit:
        where = f"its {culprit}"
    elif not _picklable(job.serdes):
        where = f"its serdes (type {_type_name(job.serdes)})"
    elif not _picklable(job.body_wrappers):
        where = "a body wrapper an instrumentation added"
    else:
        where = "its function"
    return (
        f"{job.label} cannot be sent to a worker process: {where} cannot be pickled "
        f"({error}). Pass plain data into the step and create such objects inside the step "
        "body, or run this step in the parent with StepConfig(executor='thread')."
    )


def _picklable(value: object) -> bool:
    try:
        cloudpickle.dumps(value)
    except Exception:
        return False
    return True


def _type_name(value: object) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _find_unpicklable(obj: Any, depth: int = 0) -> str | None:
    """Name the first closure variable, default, bound object or global that fails."""
    for description, value in _references(obj):
        if _picklable(value):
            continue
        if depth < 3 and (callable(value) and not isinstance(value, type)):
            inner = _find_unpicklable(value, depth + 1)
            if inner:
                return inner
        return f"{description} (type {_type_name(value)})"
    return None


def _references(obj: Any) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(obj, functools.partial):
        found += [(f"argument {i}", value) for i, value in enumerate(obj.args)]
        found += [(f"argument '{key}'", value) for key, value in obj.keywords.items()]
        obj = obj.func
    bound_self = getattr(obj, "__self__", None)
    if bound_self is not None and not isinstance(bound_self, type):
        found.append(("bound object", bound_self))
    code = getattr(obj, "__code__", None)
    if code is not None:
        cells = getattr(obj, "__closure__", None) or ()
        for name, cell in zip(code.co_freevars, cells, strict=False):
            try:
                found.append((f"closure variable '{name}'", cell.cell_contents))
            except ValueError:
                continue
        for default in getattr(obj, "__defaults__", None) or ():
            found.append(("default argument", default))
        module_globals = getattr(obj, "__globals__", {})
        for name in code.co_names:
            if name in module_globals:
                found.append((f"global '{name}'", module_globals[name]))
    return found
