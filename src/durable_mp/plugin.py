"""Instrumentation plugins: the official SDK's plugin API, name for name.

A plugin observes an execution through hooks; it never changes it. Register factories,
not plugins: ``@durable_execution(plugins=[MyFactory()])``. Each invocation asks every
factory for a fresh plugin (``create_plugin(info)``), calls its hooks, and drops it.
Factories can also be named in ``DURABLE_EXECUTION_PLUGINS`` and found through the
entry-point group ``aws_durable_execution.plugins`` (see :mod:`durable_mp.plugin_discovery`).

Where hooks run in durable-mp (all in the parent process, never on the checkpoint
thread, never under an SDK lock):

* ``on_invocation_start`` / ``on_invocation_end``: the handler's thread, before the
  handler starts and after every other hook of the invocation has returned.
* ``on_operation_start``: the thread that issues the operation, before its START is
  queued -- or, for an operation an earlier invocation left unfinished, when the replay
  reaches it (``is_replayed=True``).
* ``on_operation_end``: the thread that observes the operation's terminal result, before
  the operation returns to user code (for an operation started with ``*_async`` or a
  callback, the thread whose ``result()`` reads it); once per operation per invocation. A
  terminal operation nobody read in this invocation, or one only a step body in a worker
  read, is reported before ``on_invocation_end``.
* ``on_user_function_start`` / ``on_user_function_end``: for a child context, map item
  or parallel branch, the thread that runs the function, around it. For a step body (also
  wait-for-condition checks and wait-for-callback submitters), which runs in a worker
  process by default, both hooks run on the operation's thread once the body's outcome
  is back, and their infos carry the start and end *measured where the body ran*, the
  executor and the worker's pid (``UserFunctionEndInfo.worker_pid``).
* ``on_operation_change``: one "plugin change" thread per invocation, in response order;
  notifications that arrive while plugins are busy merge into one.

A hook that raises is logged (once per plugin class and hook) and ignored: it cannot fail
the execution or keep the other plugins from their hooks. ``KeyboardInterrupt``,
``SystemExit`` and ``GeneratorExit`` still propagate. A slow hook slows the operation it
observes, because that operation's thread waits for it.

Nothing runs in a worker process unless a plugin asks: :meth:`~DurableInstrumentationPlugin.
provide_worker_context` returns a picklable zero-argument callable producing a context
manager, which durable-mp enters around the step body where it runs (worker process, pool
thread or inline). If that context manager has a ``worker_report()`` method, durable-mp
calls it once the context is exited; what it returns (if not None) is pickled, sent back
over the worker's pipe ahead of the body's result and handed to the plugin's
:meth:`~DurableInstrumentationPlugin.on_worker_report` in the parent, between the step
body's ``on_user_function_start`` and ``on_user_function_end``. ``durable_mp.otel`` uses
the pair to make the step's span current in the worker and to bring the spans user code
created there back to the parent's exporter. A worker context that raises (creating,
entering, exiting or reporting) is logged in the parent, once per plugin class, and
ignored: the body runs and its outcome stands.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, Self

from durable_mp.lambda_service import ErrorObject, Operation, OperationStatus

__all__ = [
    "DurableInstrumentationPlugin",
    "DurableInstrumentationPluginFactory",
    "ErrorObject",
    "InvocationEndInfo",
    "InvocationInfo",
    "InvocationStartInfo",
    "InvocationStatus",
    "OperationChangeInfo",
    "OperationEndInfo",
    "OperationInfo",
    "OperationStartInfo",
    "OperationStatus",
    "OperationType",
    "PropagationInput",
    "PropagationMetadata",
    "UserFunctionEndInfo",
    "UserFunctionOutcome",
    "UserFunctionStartInfo",
    "WorkerContext",
    "WorkerContextFactory",
]


class InvocationStatus(Enum):
    """How an invocation ended, as plugins see it (RETRY: it raised, Lambda invokes again)."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"
    RETRY = "RETRY"


class OperationType(Enum):
    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class UserFunctionOutcome(Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    INCOMPLETE = "INCOMPLETE"  # it suspended (or was stopped) before returning

    @classmethod
    def from_error(cls, error: ErrorObject | None) -> UserFunctionOutcome:
        return cls.SUCCEEDED if error is None else cls.FAILED


def _copied_error(error: ErrorObject | None) -> ErrorObject | None:
    """A plugin gets its own copy: the stack-trace list is shared with replay otherwise."""
    if error is None:
        return None
    trace = list(error.stack_trace) if error.stack_trace is not None else None
    return ErrorObject(error.message, error.type, error.data, trace)


@dataclass(frozen=True)
class OperationInfo:
    """One operation as plugins see it.

    ``sub_type`` is the recorded subtype string ("Step", "MapIteration", ...); compare it
    with ``==``. ``result`` is the serialized result, ``attempt`` the step attempt.
    """

    operation_id: str
    operation_type: OperationType
    sub_type: str | None
    name: str | None
    parent_id: str | None
    start_time: datetime.datetime | None
    is_replayed: bool
    status: OperationStatus
    end_time: datetime.datetime | None = field(default=None, kw_only=True)
    result: str | None = field(default=None, kw_only=True)
    error: ErrorObject | None = field(default=None, kw_only=True)
    attempt: int | None = field(default=None, kw_only=True)

    @classmethod
    def from_operation(cls, operation: Operation, *, is_replayed: bool = False) -> Self:
        return cls(**_operation_fields(operation), is_replayed=is_replayed)


def _operation_fields(operation: Operation) -> dict[str, Any]:
    return {
        "operation_id": operation.operation_id,
        "operation_type": OperationType(operation.operation_type.value),
        "sub_type": operation.sub_type,
        "name": operation.name,
        "parent_id": operation.parent_id,
        "start_time": operation.start_timestamp,
        "end_time": operation.end_timestamp,
        "result": operation.result,
        "error": _copied_error(operation.error),
        "attempt": operation.step_details.attempt if operation.step_details else None,
        "status": operation.status,
    }


@dataclass(frozen=True)
class OperationStartInfo(OperationInfo):
    pass


@dataclass(frozen=True)
class OperationEndInfo(OperationInfo):
    pass


@dataclass(frozen=True)
class OperationChangeInfo:
    """Operations whose status changed since the last notification, and the full map."""

    execution_arn: str | None
    updated_operations: dict[str, OperationInfo]
    operations: dict[str, OperationInfo]


@dataclass(frozen=True)
class UserFunctionStartInfo(OperationInfo):
    """An attempt of a user function (a step body, a child context's function).

    ``is_replay_children``: the function runs again so that its children replay (a
    child context whose result was too large to checkpoint). ``executor`` and
    ``worker_pid`` (durable-mp additions) say where a step body ran; they are None for
    functions that run on parent threads.
    """

    is_replay_children: bool = False
    executor: str | None = field(default=None, kw_only=True)
    worker_pid: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class UserFunctionEndInfo(OperationInfo):
    is_replay_children: bool
    outcome: UserFunctionOutcome
    executor: str | None = field(default=None, kw_only=True)
    worker_pid: int | None = field(default=None, kw_only=True)

    @classmethod
    def from_start_info(
        cls,
        start_info: UserFunctionStartInfo,
        error: ErrorObject | None,
        *,
        outcome: UserFunctionOutcome | None = None,
        end_time: datetime.datetime | None = None,
    ) -> UserFunctionEndInfo:
        return cls(
            operation_id=start_info.operation_id,
            operation_type=start_info.operation_type,
            sub_type=start_info.sub_type,
            name=start_info.name,
            parent_id=start_info.parent_id,
            start_time=start_info.start_time,
            is_replayed=start_info.is_replayed,
            status=start_info.status,
            is_replay_children=start_info.is_replay_children,
            attempt=start_info.attempt,
            outcome=outcome if outcome is not None else UserFunctionOutcome.from_error(error),
            end_time=end_time or datetime.datetime.now(datetime.UTC),
            error=error,
            executor=start_info.executor,
            worker_pid=start_info.worker_pid,
        )


@dataclass(frozen=True)
class InvocationInfo:
    """One invocation. ``operations`` is the checkpointed map at the hook's moment.

    ``execution_input`` and ``operations`` stay out of ``repr`` and comparisons: plugins
    log infos wholesale, and the input may be large or secret.
    """

    request_id: str | None
    execution_arn: str | None
    is_first_invocation: bool
    execution_start_time: datetime.datetime | None = None
    execution_input: Any = field(default=None, kw_only=True, repr=False, compare=False)
    operations: dict[str, OperationInfo] = field(
        default_factory=dict, kw_only=True, repr=False, compare=False
    )


@dataclass(frozen=True)
class InvocationStartInfo(InvocationInfo):
    """``updated_operations``: what changed while the execution was suspended (a timer
    that fired, a callback that arrived), by the invocation input's UpdatedOperationIds."""

    updated_operations: dict[str, OperationInfo] = field(
        default_factory=dict, kw_only=True, repr=False, compare=False
    )


@dataclass(frozen=True)
class InvocationEndInfo(InvocationInfo):
    status: InvocationStatus = field(kw_only=True)
    error: ErrorObject | None = None
    execution_result: str | None = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True)
class PropagationInput:
    """Who asks for propagation metadata: a new chained invoke about to be started."""

    execution_arn: str
    operation_id: str
    target_function_name: str
    parent_operation_id: str | None = None


@dataclass(frozen=True)
class PropagationMetadata:
    """What a plugin adds to a chained invoke's START (the X-Ray trace header)."""

    x_amzn_trace_id: str | None = None


WorkerContextFactory = Callable[[], AbstractContextManager[Any]]
"""A picklable zero-argument callable returning the context manager to enter around a
step body where it runs (see :meth:`DurableInstrumentationPlugin.provide_worker_context`)."""


class WorkerContext(Protocol):
    """What a :data:`WorkerContextFactory` may return: a context manager, optionally with
    ``worker_report()``, called after ``__exit__`` where the body ran. Its result (None:
    nothing to send) must be picklable; it reaches :meth:`DurableInstrumentationPlugin.
    on_worker_report` in the parent."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc_info: object) -> bool | None: ...
    def worker_report(self) -> Any: ...


class DurableInstrumentationPlugin:
    """Base class for plugins; override the hooks you need. See the module docstring."""

    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata | None:
        """Metadata for a new chained invoke's START (never called for its replay)."""
        return None

    def provide_worker_context(self, info: UserFunctionStartInfo) -> WorkerContextFactory | None:
        """What to enter around a step body where it runs (a durable-mp addition).

        Called in the parent, on the operation's thread, before each attempt of a step
        body is dispatched; ``info.start_time`` is the dispatch time. Return None (the
        default) and nothing of this plugin runs where the body runs. The callable is
        pickled with cloudpickle and called in the worker process (or pool thread) just
        before the body; the context manager it returns is exited right after the body,
        before its result is serialized. An exception it raises is logged and ignored.
        See :class:`WorkerContext` for sending data back.
        """
        return None

    def on_worker_report(self, info: UserFunctionStartInfo, report: Any) -> None:
        """What this plugin's worker context reported from where the body ran (a
        durable-mp addition). Runs in the parent on the operation's thread, after
        ``on_user_function_start`` and before ``on_user_function_end`` of that attempt."""

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        """The invocation begins (handler thread, before the handler runs)."""

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        """The invocation ends (handler thread, after every other hook)."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        """An operation is about to be started, or an unfinished one is replayed."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        """An operation reached a terminal status (once per operation per invocation)."""

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        """Checkpointed operations changed (plugin change thread)."""

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        """An attempt of a user function starts (see the module docstring for step bodies)."""

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        """An attempt of a user function ended: returned, raised, or suspended."""


class DurableInstrumentationPluginFactory(Protocol):
    """Builds the plugin for one invocation. Register factories, not plugins.

    ``create_plugin`` is called once per invocation, before any hook, with the
    invocation's start info (the same object ``on_invocation_start`` receives). One
    that raises or returns something that is not a plugin is logged and skipped for that
    invocation. Keep what outlives invocations (an exporter, a configuration) on the
    factory; keep per-invocation state on the plugin.
    """

    def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin: ...
