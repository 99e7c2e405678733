"""One attempt of a step-like body: what it needs wherever it runs, and what runs there.

A :class:`StepJob` is everything the attempt needs where its body runs; in process mode
it is pickled to a worker whole, so it holds only picklable things. :class:`ParentSide`
is what stays in the parent: the step logger, what a wait on a ``DurableFuture`` needs,
and the reports of the job's body wrappers. :func:`run_step_body` builds the
``StepContext``, enters the job's body wrappers, calls the body and serializes its
result with the step's serdes -- in the worker, in process mode, so the parent receives
only a string. This module is imported by workers: it keeps to light imports.
"""

from __future__ import annotations

import logging
import traceback
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from durable_mp.engine.activity import inside_step_body
from durable_mp.serdes import SerDes, serialize
from durable_mp.types import LoggerInterface, StepContext
from durable_mp.workers.protocol import LogEntry, WorkerReport
from durable_mp.workers.worker import in_worker, send_to_parent

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from contextlib import AbstractContextManager

    ReportSink = Callable[[WorkerReport], None]

    from durable_mp.engine.activity import ActiveContext
    from durable_mp.engine.manager import Completion, ExecutionManager
    from durable_mp.logger import Logger


@dataclass(frozen=True)
class StepJob:
    """One attempt of a step body (or a condition check, or a callback submitter).

    ``log_fields`` are the step logger's fields (execution, operation, attempt), for a
    logger that forwards records from a worker. ``body_wrappers`` are picklable
    factories of context managers, entered in order around the body where it runs (in
    the worker, in process mode): instrumentation uses them to carry trace context.
    """

    func: Callable[[StepContext], Any]
    attempt: int
    serdes: SerDes[Any] | None
    operation_id: str
    durable_execution_arn: str
    label: str
    log_fields: Mapping[str, object] = field(default_factory=dict)
    timeout: float | None = None
    memory_limit_mb: float | None = None
    body_wrappers: tuple[Callable[[], AbstractContextManager[Any]], ...] = ()


@dataclass(frozen=True, slots=True)
class ParentSide:
    """What stays in the parent while an attempt runs: the step logger (records a worker
    forwards land there), what the body's waits on durable futures need -- the
    invocation's manager, its futures by handle, and the step's active context -- and
    the reports of the job's body wrappers, in arrival order."""

    logger: Logger
    manager: ExecutionManager
    completions: Mapping[str, Completion[Any]]
    context: ActiveContext | None
    reports: list[WorkerReport] = field(default_factory=list)


def run_step_body(
    job: StepJob, logger: LoggerInterface, report: ReportSink | None = None
) -> str | None:
    """Run one attempt of a step body and return its serialized result.

    A body wrapper that raises fails the attempt. Once the wrappers have exited (the
    body returned or raised), each one with a ``worker_report()`` method reports to
    ``report``.
    """
    with inside_step_body(job.label):
        if not job.body_wrappers:
            result = job.func(StepContext(logger=logger, attempt=job.attempt))
            return serialize(job.serdes, result, job.operation_id, job.durable_execution_arn)
        entered: list[tuple[int, Any]] = []
        try:
            with ExitStack() as wrappers:
                for index, wrapper in enumerate(job.body_wrappers):
                    manager = wrapper()
                    wrappers.enter_context(manager)
                    entered.append((index, manager))
                result = job.func(StepContext(logger=logger, attempt=job.attempt))
                return serialize(job.serdes, result, job.operation_id, job.durable_execution_arn)
        finally:
            if report is not None:
                _collect_reports(entered, logger, report)


def _collect_reports(
    entered: list[tuple[int, Any]], logger: LoggerInterface, report: ReportSink
) -> None:
    for index, manager in entered:
        worker_report = getattr(manager, "worker_report", None)
        if not callable(worker_report):
            continue
        try:
            payload = worker_report()
            if payload is not None:
                report(WorkerReport(index, payload))
        except Exception as error:  # instrumentation data is never worth the attempt
            logger.warning(
                "Body wrapper %d could not report (%s: %s); its report is lost",
                index,
                type(error).__name__,
                error,
            )


def run_in_worker(job: StepJob) -> str | None:
    """What a worker process runs for an attempt: the body, logging and reporting to the
    parent."""
    return run_step_body(job, ForwardingLogger(job.log_fields), send_to_parent)


class ForwardingLogger:
    """The step logger inside a worker: records travel to the parent's logging.

    Formatting happens here (``msg % args``) so only strings cross the pipe.
    """

    def __init__(self, extra: Mapping[str, object]) -> None:
        self._extra = dict(extra)

    def _emit(
        self,
        level: int,
        msg: object,
        args: tuple[object, ...],
        extra: Mapping[str, object] | None,
        with_traceback: bool = False,
    ) -> None:
        text = str(msg) % args if args else str(msg)
        if with_traceback:
            text = f"{text}\n{traceback.format_exc().rstrip()}"
        fields = {**self._extra, **{k: _plain(v) for k, v in (extra or {}).items()}}
        if in_worker():
            try:
                send_to_parent(LogEntry(level, text, fields))
                return
            except RuntimeError:  # a thread the step left behind logs after it ended
                pass
        logging.getLogger("durable_mp.step").log(level, text, extra=fields)

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit(logging.DEBUG, msg, args, extra)

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit(logging.INFO, msg, args, extra)

    def warning(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._emit(logging.WARNING, msg, args, extra)

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit(logging.ERROR, msg, args, extra)

    def exception(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._emit(logging.ERROR, msg, args, extra, with_traceback=True)

    def critical(
        self, msg: object, *args: object, extra: Mapping[str, object] | None = None
    ) -> None:
        self._emit(logging.CRITICAL, msg, args, extra)


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
