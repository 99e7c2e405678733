"""Where a step body runs: ``process`` (default), ``thread`` or ``inline``.

Every executor takes a :class:`StepJob` and blocks until a :class:`StepOutcome`: the
serialized result, or the exception the body raised (or an executor failure such as
``WorkerCrashedError``), which the step then hands to its retry strategy.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import os
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from durable_mp.config import STEP_EXECUTORS, StepExecutorName, validate_executor
from durable_mp.engine.step_body import ForwardingLogger, StepBodyCall, run_step_body
from durable_mp.exceptions import StepPicklingError, StepTimeoutError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from durable_mp.serdes import SerDes
    from durable_mp.types import StepContext

logger = logging.getLogger(__name__)

EXECUTOR_ENV = "DURABLE_MP_STEP_EXECUTOR"
MAX_WORKERS_ENV = "DURABLE_MP_MAX_WORKERS"
DEFAULT_EXECUTOR: StepExecutorName = "process"


class StepLogSink(Protocol):
    """The parent-side step logger, which also accepts forwarded records."""

    def log(self, level: int, msg: str, extra: Mapping[str, object] | None = None) -> None: ...


@dataclass(frozen=True)
class StepJob:
    func: Callable[[StepContext], Any]
    attempt: int
    serdes: SerDes[Any] | None
    operation_id: str
    durable_execution_arn: str
    label: str
    step_logger: Any  # LoggerInterface + StepLogSink
    log_fields: Mapping[str, object] = field(default_factory=dict)
    timeout: float | None = None
    memory_limit_mb: float | None = None
    on_request: Callable[[Any, Callable[[Any], None]], None] | None = None


@dataclass(frozen=True)
class StepOutcome:
    payload: str | None = None
    error: BaseException | None = None
    traceback: list[str] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class StepExecutor(Protocol):
    name: StepExecutorName

    def run(self, job: StepJob) -> StepOutcome: ...


def _body_call(job: StepJob, step_logger: Any) -> StepBodyCall:
    return StepBodyCall(
        job.func,
        job.attempt,
        step_logger,
        job.serdes,
        job.operation_id,
        job.durable_execution_arn,
        job.label,
    )


def _call_body(job: StepJob) -> StepOutcome:
    try:
        payload = run_step_body(_body_call(job, job.step_logger))
    except Exception as error:
        return StepOutcome(error=error, traceback=traceback.format_exception(error))
    return StepOutcome(payload=payload)


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


class InlineExecutor:
    """Runs the body on the calling thread: no hop at all, no isolation, no timeout."""

    name: StepExecutorName = "inline"

    def run(self, job: StepJob) -> StepOutcome:
        if job.timeout is not None or job.memory_limit_mb is not None:
            _warn_once(
                "inline-limits",
                "StepConfig(timeout/memory_limit_mb) cannot be enforced for executor='inline' "
                "steps; use executor='process' to enforce them.",
            )
        return _call_body(job)


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

    def run(self, job: StepJob) -> StepOutcome:
        if job.memory_limit_mb is not None:
            _warn_once(
                "thread-memory",
                "StepConfig(memory_limit_mb) is enforced only for executor='process' steps.",
            )
        import contextvars

        future = self._pool.submit(contextvars.copy_context().run, _call_body, job)
        try:
            return future.result(timeout=job.timeout)
        except concurrent.futures.TimeoutError:
            error = StepTimeoutError(
                f"{job.label} ran longer than its timeout of {job.timeout:g} s; the attempt was "
                "abandoned (a thread cannot be killed, so the body may still be running). Use "
                "executor='process' to have overrunning steps killed."
            )
            return StepOutcome(error=error)


class ProcessExecutor:
    """Runs the body in a worker process of the warm pool (docs/architecture.md, rule 7)."""

    name: StepExecutorName = "process"

    def __init__(self, workers: int | None = None, max_workers: int | None = None) -> None:
        self._workers = workers
        self._max_workers = max_workers

    def run(self, job: StepJob) -> StepOutcome:
        import cloudpickle

        from durable_mp.workers import Job

        call = (run_step_body, (_body_call(job, ForwardingLogger(job.log_fields)),))
        try:
            payload = cloudpickle.dumps(call)
        except Exception as error:
            return StepOutcome(error=StepPicklingError(_unpicklable_message(job, error)))
        sink = job.step_logger

        def on_message(body: Any) -> None:
            if isinstance(body, tuple) and len(body) == 4 and body[0] == "log":
                _, level, text, fields = body
                sink.log(level, text, fields)

        pool_job = Job(
            payload=payload,
            label=job.label,
            timeout=job.timeout,
            memory_limit_mb=job.memory_limit_mb,
            on_message=on_message,
            on_request=job.on_request,
        )
        result = worker_pool(self._workers, self._max_workers).submit(pool_job).result()
        if result.ok:
            return StepOutcome(payload=result.value)
        assert result.error is not None
        return StepOutcome(error=result.error, traceback=result.traceback)


def _unpicklable_message(job: StepJob, error: Exception) -> str:
    culprit = _find_unpicklable(job.func)
    where = f"its {culprit}" if culprit else "its function"
    return (
        f"{job.label} cannot be sent to a worker process: {where} cannot be pickled "
        f"({error}). Pass plain data into the step and create such objects inside the step "
        "body, or run this step in the parent with StepConfig(executor='thread')."
    )


def _find_unpicklable(obj: Any, depth: int = 0) -> str | None:
    """Name the first closure variable, default, bound object or global that fails."""
    import cloudpickle

    for description, value in _references(obj):
        try:
            cloudpickle.dumps(value)
        except Exception:
            if depth < 3 and (callable(value) and not isinstance(value, type)):
                inner = _find_unpicklable(value, depth + 1)
                if inner:
                    return inner
            return f"{description} (type {type(value).__module__}.{type(value).__qualname__})"
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


def worker_pool(workers: int | None, max_workers: int | None) -> Any:
    """The process-wide pool with this handler's sizes (env var for the cap)."""
    from durable_mp.workers import default_pool

    if max_workers is None:
        value = os.environ.get(MAX_WORKERS_ENV, "").strip()
        if value:
            try:
                max_workers = int(value)
            except ValueError:
                raise ValidationError(
                    f"{MAX_WORKERS_ENV}={value!r} is not a whole number of worker processes"
                ) from None
    return default_pool(workers, max_workers)


def get_executor(
    name: StepExecutorName, workers: int | None = None, max_workers: int | None = None
) -> StepExecutor:
    if name == "inline":
        return _inline_executor
    if name == "thread":
        return _shared_thread_executor()
    if name == "process":
        return ProcessExecutor(workers, max_workers)
    raise AssertionError(f"unknown executor {name!r}; expected one of {STEP_EXECUTORS}")
