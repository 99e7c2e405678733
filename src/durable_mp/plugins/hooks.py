"""The one place the engine reports operation lifecycles; it turns them into plugin hooks.

The engine tells :class:`OperationHooks` what happened (an update is about to be queued,
the service reported new state, a thread read a result, replay reached a checkpoint, a
function ran) and this module decides which hook that is, with which info, and makes sure
each operation ends at most once per invocation. Without plugins every call returns at
once (:data:`NO_HOOKS`).
"""

from __future__ import annotations

import datetime
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from durable_mp.exceptions import SuspendExecution
from durable_mp.lambda_service import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationUpdate,
)
from durable_mp.lambda_service import OperationType as ServiceOperationType
from durable_mp.plugin import (
    InvocationEndInfo,
    InvocationStartInfo,
    InvocationStatus,
    OperationChangeInfo,
    OperationEndInfo,
    OperationInfo,
    OperationStartInfo,
    OperationType,
    PropagationInput,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)
from durable_mp.plugins.worker_contexts import NO_WORKER_CONTEXTS, WorkerContexts

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from durable_mp.plugin import DurableInstrumentationPluginFactory
    from durable_mp.plugins.dispatch import PluginRunner


class OperationIdentity(Protocol):
    """What the hooks need to know about an operation before it has a checkpoint."""

    @property
    def operation_id(self) -> str: ...
    @property
    def operation_type(self) -> ServiceOperationType: ...
    @property
    def sub_type(self) -> str | None: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...


class BodyTiming(Protocol):
    """Where and when a step body ran, measured there (``BodyRun``)."""

    @property
    def executor(self) -> str: ...
    @property
    def pid(self) -> int: ...
    @property
    def started_at(self) -> Any: ...
    @property
    def ended_at(self) -> Any: ...


def _utc(moment: Any) -> datetime.datetime | None:
    if moment is None or isinstance(moment, datetime.datetime):
        return moment
    return datetime.datetime.fromtimestamp(float(moment), datetime.UTC)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)




def _infos(operations: Iterable[Operation]) -> dict[str, OperationInfo]:
    return {op.operation_id: OperationInfo.from_operation(op) for op in operations}


class OperationHooks:
    """One invocation's hook emitter (see the module docstring)."""

    active = True

    def __init__(
        self,
        runner: PluginRunner,
        execution_arn: str,
        operations: Callable[[], Iterable[Operation]],
        updated_ids: Iterable[str] = (),
    ) -> None:
        self._runner = runner
        self._arn = execution_arn
        self._operations = operations
        self._updated = set(updated_ids)
        self._lock = threading.Lock()
        self._ended: set[str] = set()
        self._replayed: set[str] = set()
        self._pending_end: dict[str, Operation] = {}
        self._start: InvocationStartInfo | None = None

    # -- invocation ---------------------------------------------------------------------

    def invocation_started(
        self,
        *,
        request_id: str | None,
        is_first_invocation: bool,
        execution_start_time: datetime.datetime | None,
        execution_input: Any,
    ) -> None:
        operations = _infos(self._operations())
        self._start = InvocationStartInfo(
            request_id=request_id,
            execution_arn=self._arn,
            is_first_invocation=is_first_invocation,
            execution_start_time=execution_start_time,
            execution_input=execution_input,
            operations=operations,
            updated_operations={
                op_id: operations[op_id] for op_id in self._updated if op_id in operations
            },
        )
        self._runner.start_invocation(self._start)

    def invocation_ended(self, output: Mapping[str, Any]) -> None:
        """``output``: the Lambda output dict (Status, Result, Error)."""
        error = output.get("Error")
        self._finish(
            InvocationStatus(output["Status"]),
            ErrorObject.from_dict(error) if error else None,
            output.get("Result"),
        )

    def invocation_raised(self, error: BaseException) -> None:
        """The invocation ends by raising (Lambda invokes again): status RETRY."""
        self._finish(InvocationStatus.RETRY, ErrorObject.from_exception(error), None)

    def _finish(
        self, status: InvocationStatus, error: ErrorObject | None, result: str | None
    ) -> None:
        start = self._start
        if start is None:
            return
        held: BaseException | None = None
        try:
            self._drain_pending_ends()
        except BaseException as control:
            held = control
        try:
            self._runner.end_invocation(
                InvocationEndInfo(
                    request_id=start.request_id,
                    execution_arn=start.execution_arn,
                    is_first_invocation=start.is_first_invocation,
                    execution_start_time=start.execution_start_time,
                    execution_input=start.execution_input,
                    operations=_infos(self._operations()),
                    status=status,
                    error=error,
                    execution_result=result,
                )
            )
        finally:
            self._start = None
        if held is not None:
            raise held

    # -- operations ---------------------------------------------------------------------

    def before_update(self, update: OperationUpdate, previous: Operation | None) -> None:
        """An update is about to be queued: a START is the operation's start hook."""
        if update.action is not OperationAction.START:
            return
        self._runner.call(
            OperationStartInfo(
                operation_id=update.operation_id,
                operation_type=OperationType(update.operation_type.value),
                sub_type=update.sub_type,
                name=update.name,
                parent_id=update.parent_id,
                start_time=None,
                is_replayed=previous is not None,
                status=OperationStatus.STARTED,
            )
        )

    def applied(
        self, operations: Iterable[Operation], previous: Mapping[str, Operation | None]
    ) -> None:
        """The service reported new state (checkpoint thread): record, never run, hooks."""
        changed = [
            op
            for op in operations
            if (before := previous.get(op.operation_id)) is None or before.status is not op.status
        ]
        if not changed:
            return
        with self._lock:
            for op in changed:
                if op.is_terminal and op.operation_id not in self._ended:
                    self._pending_end[op.operation_id] = op
        if not self._runner.wants_changes:  # the full map costs O(operations) per change
            return
        self._runner.submit_change(
            OperationChangeInfo(
                execution_arn=self._arn,
                updated_operations=_infos(changed),
                operations=_infos(self._operations()),
            )
        )

    def observed(self, operation_id: str) -> None:
        """A thread is about to act on this operation's result: its end hook runs first."""
        with self._lock:
            op = self._pending_end.pop(operation_id, None)
            if op is None or operation_id in self._ended:
                return
            self._ended.add(operation_id)
        self._runner.call(OperationEndInfo.from_operation(op))

    def reached_on_replay(self, operation: Operation) -> None:
        """Replay reached an operation an earlier invocation checkpointed.

        Changed while suspended (a timer fired, a callback arrived): that is news, so a
        terminal one ends here. Otherwise an unfinished one is reported started again,
        with ``is_replayed=True``; a finished one was reported when it finished.
        """
        op_id = operation.operation_id
        if operation.operation_type is ServiceOperationType.EXECUTION:
            return
        if op_id in self._updated:
            if operation.is_terminal:
                with self._lock:
                    if op_id in self._ended:
                        return
                    self._ended.add(op_id)
                    self._pending_end.pop(op_id, None)
                self._runner.call(OperationEndInfo.from_operation(operation))
            return
        if operation.is_terminal or operation.status is OperationStatus.READY:
            return
        with self._lock:
            if op_id in self._replayed:
                return
            self._replayed.add(op_id)
        self._runner.call(OperationStartInfo.from_operation(operation, is_replayed=True))

    def context_returned(
        self,
        identity: OperationIdentity,
        status: OperationStatus,
        *,
        error: ErrorObject | None = None,
        is_replayed: bool = False,
    ) -> None:
        """A child context ended without a checkpoint of its own (virtual, ReplayChildren)."""
        self._runner.call(
            OperationEndInfo(
                operation_id=identity.operation_id,
                operation_type=OperationType(identity.operation_type.value),
                sub_type=identity.sub_type,
                name=identity.name,
                parent_id=identity.parent_id,
                start_time=None,
                end_time=_now(),
                status=status,
                error=error,
                is_replayed=is_replayed,
            )
        )

    def _drain_pending_ends(self) -> None:
        """End hooks of operations that finished in this invocation but nobody read.

        In recording order, each with its pending descendants first (deepest first).
        """
        while True:
            with self._lock:
                if not self._pending_end:
                    return
                tree = [next(iter(self._pending_end))]
                for op_id in tree:  # grows while iterating: breadth-first
                    tree += [
                        child
                        for child, op in self._pending_end.items()
                        if op.parent_id == op_id and child not in tree
                    ]
                ops = [self._pending_end.pop(op_id) for op_id in reversed(tree)]
                ops = [op for op in ops if op.operation_id not in self._ended]
                self._ended.update(op.operation_id for op in ops)
            for op in ops:
                self._runner.call(OperationEndInfo.from_operation(op))

    # -- user functions -----------------------------------------------------------------

    @contextmanager
    def user_function(
        self, identity: OperationIdentity, *, attempt: int | None, is_replay_children: bool
    ) -> Iterator[None]:
        """Around a function that runs on this thread (child context, map item, branch)."""
        start = self._user_start(identity, attempt, is_replay_children, _now())
        self._runner.call(start)
        outcome, error = UserFunctionOutcome.INCOMPLETE, None
        try:
            yield
        except SuspendExecution:
            raise
        except Exception as failure:
            outcome, error = UserFunctionOutcome.FAILED, ErrorObject.from_exception(failure)
            raise
        else:
            outcome = UserFunctionOutcome.SUCCEEDED
        finally:
            self._runner.call(UserFunctionEndInfo.from_start_info(start, error, outcome=outcome))

    def worker_contexts(self, identity: OperationIdentity, attempt: int) -> WorkerContexts:
        """Before a step body is dispatched: what plugins enter around it where it runs."""
        return self._runner.worker_contexts(self._user_start(identity, attempt, False, _now()))

    def body_ran(
        self,
        identity: OperationIdentity,
        attempt: int,
        run: BodyTiming | None,
        error: BaseException | None,
        reports: Sequence[tuple[object, Any]] = (),
    ) -> None:
        """A step body's outcome is back: both user-function hooks, with its measured
        times, and between them the reports of the plugins' worker contexts
        (``(owner, report)`` pairs, the owner from :meth:`worker_contexts`)."""
        started = _utc(run.started_at) if run is not None else None
        start = self._user_start(
            identity,
            attempt,
            False,
            started or _now(),
            executor=run.executor if run is not None else None,
            worker_pid=run.pid if run is not None else None,
        )
        self._runner.call(start)
        for owner, report in reports:
            self._runner.deliver_worker_report(owner, start, report)
        failure = ErrorObject.from_exception(error) if error is not None else None
        ended = _utc(run.ended_at) if run is not None else None
        self._runner.call(UserFunctionEndInfo.from_start_info(start, failure, end_time=ended))

    @staticmethod
    def _user_start(
        identity: OperationIdentity,
        attempt: int | None,
        is_replay_children: bool,
        started: datetime.datetime,
        *,
        executor: str | None = None,
        worker_pid: int | None = None,
    ) -> UserFunctionStartInfo:
        return UserFunctionStartInfo(
            operation_id=identity.operation_id,
            operation_type=OperationType(identity.operation_type.value),
            sub_type=identity.sub_type,
            name=identity.name,
            parent_id=identity.parent_id,
            start_time=started,
            is_replayed=False,
            status=OperationStatus.STARTED,
            is_replay_children=is_replay_children,
            attempt=attempt,
            executor=executor,
            worker_pid=worker_pid,
        )

    def propagation_header(self, identity: OperationIdentity, function_name: str) -> str | None:
        """The trace header a new chained invoke's START carries, if a plugin offers one."""
        return self._runner.propagation_metadata(
            PropagationInput(
                execution_arn=self._arn,
                operation_id=identity.operation_id,
                target_function_name=function_name,
                parent_operation_id=identity.parent_id,
            )
        ).x_amzn_trace_id


class _NoHooks(OperationHooks):
    """Without plugins: every report returns at once."""

    active = False

    def __init__(self) -> None:
        pass

    def invocation_started(self, **_fields: Any) -> None:
        return None

    def invocation_ended(self, output: Mapping[str, Any]) -> None:
        return None

    def invocation_raised(self, error: BaseException) -> None:
        return None

    def before_update(self, update: OperationUpdate, previous: Operation | None) -> None:
        return None

    def applied(
        self, operations: Iterable[Operation], previous: Mapping[str, Operation | None]
    ) -> None:
        return None

    def observed(self, operation_id: str) -> None:
        return None

    def reached_on_replay(self, operation: Operation) -> None:
        return None

    def context_returned(
        self,
        identity: OperationIdentity,
        status: OperationStatus,
        *,
        error: ErrorObject | None = None,
        is_replayed: bool = False,
    ) -> None:
        return None

    @contextmanager
    def user_function(
        self, identity: OperationIdentity, *, attempt: int | None, is_replay_children: bool
    ) -> Iterator[None]:
        yield

    def worker_contexts(self, identity: OperationIdentity, attempt: int) -> WorkerContexts:
        return NO_WORKER_CONTEXTS

    def body_ran(
        self,
        identity: OperationIdentity,
        attempt: int,
        run: BodyTiming | None,
        error: BaseException | None,
        reports: Sequence[tuple[object, Any]] = (),
    ) -> None:
        return None

    def propagation_header(self, identity: OperationIdentity, function_name: str) -> str | None:
        return None


NO_HOOKS: OperationHooks = _NoHooks()


class _Manager(Protocol):
    durable_execution_arn: str

    def operations(self) -> list[Operation]: ...


def plugin_hooks(
    factories: Sequence[DurableInstrumentationPluginFactory],
    manager: _Manager,
    updated_ids: Iterable[str],
) -> OperationHooks:
    """The hooks of one invocation: :data:`NO_HOOKS` when no plugin is configured."""
    if not factories:
        return NO_HOOKS
    from durable_mp.plugins.dispatch import PluginRunner

    return OperationHooks(
        PluginRunner(factories), manager.durable_execution_arn, manager.operations, updated_ids
    )
