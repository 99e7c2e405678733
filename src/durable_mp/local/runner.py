"""LocalRunner: drive executions to the end by invoking handlers in this process.

It does what Lambda and the service do together: invoke the handler whenever there is
something to do, sleep until the next timer otherwise (or, with ``fast_forward``, fire
that timer at once), retry failed invocations, run the targets of chained invokes, and
stop at a terminal status. Every step is persisted by the service before the runner
acts on it, so a process killed at any instant resumes by opening the same store and
calling :meth:`LocalRunner.drive`.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from durable_mp.exceptions import qualified_name
from durable_mp.invocation_input import (
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
)
from durable_mp.lambda_service import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    ErrorObject,
    Operation,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StateOutput,
)
from durable_mp.local import invocations, plain
from durable_mp.local.abandon import Abandonment, GuardedClient
from durable_mp.local.drive import Drive
from durable_mp.local.errors import ExecutionNotRunningError
from durable_mp.local.executions import DEFAULT_EXECUTION_TIMEOUT_SECONDS
from durable_mp.local.invoke import not_found
from durable_mp.local.owners import LEASE_SECONDS, Owner, owned_error
from durable_mp.local.records import ExecutionRecord, function_arn
from durable_mp.types import LocalLambdaContext

if TYPE_CHECKING:
    from durable_mp.local.invoke import PendingCall
    from durable_mp.local.records import Invocation
    from durable_mp.local.service import LocalService

logger = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Mapping[str, Any]]

_REPLAY_TOKEN = "replay"


class LocalRunner:
    """Runs the handlers in ``functions`` (function name -> Lambda handler) on ``service``.

    ``functions`` are durable handlers (``@durable_execution``): each can be started, and
    a chained invoke of one runs as its own child execution (with
    ``child_execution_timeout_seconds``). ``plain_functions`` are ordinary Lambda
    handlers, ``handler(event, context)``, that chained invokes call once each.
    ``fast_forward`` fires waits and retry delays at once; with it,
    ``fast_forward_timeout=False`` keeps the execution timeout in real time (a wait
    longer than the timeout then completes, as under AWS's testing library).
    """

    def __init__(
        self,
        service: LocalService,
        functions: Mapping[str, Handler],
        *,
        plain_functions: Mapping[str, Callable[[Any, Any], Any]] | None = None,
        fast_forward: bool = False,
        child_execution_timeout_seconds: int = DEFAULT_EXECUTION_TIMEOUT_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        fast_forward_timeout: bool = True,
    ) -> None:
        self.service = service
        self.functions = dict(functions)
        self.plain_functions = dict(plain_functions or {})
        both = sorted(set(self.functions) & set(self.plain_functions))
        if both:
            raise ValueError(
                f"{', '.join(both)}: registered as durable and as plain functions; "
                "a name is one or the other."
            )
        self.fast_forward = fast_forward
        self.lease_seconds = lease_seconds
        self.fast_forward_timeout = fast_forward_timeout
        self.last_replay: ReplayClient | None = None
        for name in self.functions:
            service.register_function(
                name, durable=True, execution_timeout_seconds=child_execution_timeout_seconds
            )
        for name in self.plain_functions:
            service.register_function(name, durable=False)

    def run(
        self,
        function_name: str,
        input: Any = None,
        *,
        name: str | None = None,
        execution_timeout_seconds: int = DEFAULT_EXECUTION_TIMEOUT_SECONDS,
    ) -> ExecutionRecord:
        """Start an execution and drive it to a terminal status."""
        return self.drive(
            self.start(
                function_name, input, name=name, execution_timeout_seconds=execution_timeout_seconds
            )
        )

    def start(
        self,
        function_name: str,
        input: Any = None,
        *,
        name: str | None = None,
        execution_timeout_seconds: int = DEFAULT_EXECUTION_TIMEOUT_SECONDS,
    ) -> str:
        """Start an execution; ``input`` is JSON-encoded unless it is already a string."""
        self._handler(function_name)
        payload = input if isinstance(input, str) or input is None else json.dumps(input)
        return self.service.start_execution(
            function_name, payload, name=name, execution_timeout_seconds=execution_timeout_seconds
        ).arn

    def drive(
        self,
        arn: str,
        *,
        until: Callable[[ExecutionRecord], bool] | None = None,
        wait: bool = False,
        on_owned: Callable[[], object] | None = None,
    ) -> ExecutionRecord:
        """Invoke while there is work, wait for the next timer otherwise, until the end.

        One runner drives an execution at a time: this one holds the execution's lease
        while it drives (renewed every second) and gives it up when it returns. If
        another live runner holds it, this raises :class:`ExecutionOwnedError`; with
        ``wait`` it waits instead, returns the record once the execution has ended, or
        takes over if that runner dies; ``on_owned`` is called once this drive holds the
        lease, before it invokes anything. Taking over from a runner that died records
        its unfinished invocation as interrupted, not failed. If this drive is
        interrupted (Ctrl-C) its own unfinished invocations are recorded so, and it
        re-raises.

        The child executions of chained invokes run alongside, each invocation on its
        own thread. While nothing is due the store is polled, so a callback completed or
        a stop sent by another process is acted on within a fraction of a second.
        ``until`` stops early once it returns True for the current record (after the
        invocations in flight have finished).
        """
        return Drive(self, arn, wait=wait, on_owned=on_owned).run(until)

    def invoke_once(
        self, arn: str, *, abandonment: Abandonment | None = None, owner: Owner | None = None
    ) -> Mapping[str, Any]:
        """One invocation; returns the handler's output.

        If the handler raises, the invocation failed (the service retries it) and the
        result is Lambda's error payload: ``errorMessage``, ``errorType``, ``stackTrace``.
        ``owner`` holds the execution's lease (a drive's); without one, the invocation
        takes the lease for its duration, and raises :class:`ExecutionOwnedError` if
        another live runner holds it. Once ``abandonment`` is set the invocation writes
        nothing more; whoever abandoned it records it as interrupted.
        """
        if owner is None:
            owner = Owner.of_this_process()
            holder = self.service.acquire_lease(arn, owner, lease_seconds=self.lease_seconds)
            if holder is not None:
                raise owned_error(self.service.get_execution(arn).name, holder)
            try:
                return self.invoke_once(arn, abandonment=abandonment, owner=owner)
            finally:
                self.service.release_leases(owner, [arn])
        record = self.service.get_execution(arn)
        handler = self._handler(record.function_name)
        invocation = self.service.begin_invocation(arn, owner=owner)
        abandonment = abandonment or Abandonment()
        if not abandonment.begun(invocation):  # the drive was stopped meanwhile
            self.service.interrupt_invocation(invocation, "its runner was stopping")
            return {"Status": None}
        event = DurableExecutionInvocationInputWithClient(
            durable_execution_arn=invocation.event.durable_execution_arn,
            checkpoint_token=invocation.event.checkpoint_token,
            initial_execution_state=invocation.event.initial_execution_state,
            updated_operation_ids=list(invocation.event.updated_operation_ids),
            service_client=GuardedClient(self.service, abandonment),
        )
        try:
            output = handler(event, self._context(record, invocation.request_id))
        except Exception as error:
            failure = _error_object(error)
            if not abandonment.complete(
                invocation, partial(self.service.complete_invocation, invocation, error=failure)
            ):
                return {"errorMessage": failure.message, "errorType": failure.type}
            return {
                "errorMessage": failure.message,
                "errorType": failure.type,
                "stackTrace": failure.stack_trace or [],
            }
        except BaseException as error:  # never caught by a handler: the runtime stops
            self._stopped(invocation, error, abandonment)
            raise
        if not isinstance(output, Mapping):
            logger.error("Handler of %s returned %r, not an output dict", arn, type(output))
            output = {"Status": None}
        if not abandonment.complete(
            invocation, partial(self.service.complete_invocation, invocation, output=output)
        ):
            return {"Status": None}
        return output

    def _stopped(
        self, invocation: Invocation, error: BaseException, abandonment: Abandonment
    ) -> None:
        """Record an invocation the runtime stopped in: interrupted (Ctrl-C, not a
        failure) or, when the handler itself stopped it (``SystemExit``), failed with
        ``Runtime.ExitError`` as on Lambda."""
        why = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        record: Callable[[], object]
        if isinstance(error, KeyboardInterrupt):
            record = partial(self.service.interrupt_invocation, invocation, str(error) or "SIGINT")
        else:
            failure = invocations.runtime_exit_error(why)
            record = partial(self.service.complete_invocation, invocation, error=failure)
        abandonment.complete(invocation, record)

    def call_plain(self, call: PendingCall, *, abandonment: Abandonment | None = None) -> bool:
        """Make a plain target's call and record its outcome; whether it was recorded.

        Nothing is recorded once ``abandonment`` is set: the call is owed again.
        """
        handler = self.plain_functions.get(call.function_name)
        if handler is None:  # registered by an earlier process, not by this one
            error = not_found(call.function_name, [*self.functions, *self.plain_functions])
            return self.service.complete_chained_invoke(call.arn, call.operation_id, error=error)
        context = LocalLambdaContext(
            aws_request_id=str(uuid.uuid4()),
            function_name=call.function_name,
            invoked_function_arn=function_arn(
                self.service.region, self.service.account_id, call.function_name
            ),
            tenant_id=call.tenant_id,
        )
        outcome = plain.call(handler, call.payload, context)
        if abandonment is not None and abandonment.abandoned:
            return False
        return self.service.complete_chained_invoke(
            call.arn, call.operation_id, result=outcome.result, error=outcome.error
        )

    def replay(self, arn: str) -> Mapping[str, Any]:
        """Invoke the handler once more against a finished execution's complete state.

        Nothing is stored: checkpoints the handler sends are accepted and discarded (and
        listed in ``last_replay.updates``). A correct SDK runs no step body here, which is
        what this is for.
        """
        record = self.service.get_execution(arn)
        if not record.is_terminal:
            raise ExecutionNotRunningError(
                f"Execution {arn} is still {record.status}; replay needs a finished execution."
            )
        operations = [
            # Shown as a live invocation would see its own execution.
            Operation(
                op.operation_id,
                op.operation_type,
                OperationStatus.STARTED,
                name=op.name,
                start_timestamp=op.start_timestamp,
                execution_details=op.execution_details,
            )
            if op.operation_type is OperationType.EXECUTION
            else op
            for op in self.service.get_operations(arn)
        ]
        self.last_replay = ReplayClient()
        event = DurableExecutionInvocationInputWithClient(
            durable_execution_arn=arn,
            checkpoint_token=_REPLAY_TOKEN,
            initial_execution_state=InitialExecutionState(operations, ""),
            updated_operation_ids=[],
            service_client=self.last_replay,
        )
        handler = self._handler(record.function_name)
        return handler(event, self._context(record, f"replay-{record.name}"))

    def _handler(self, function_name: str) -> Handler:
        try:
            return self.functions[function_name]
        except KeyError:
            known = ", ".join(sorted(self.functions)) or "none"
            raise KeyError(
                f"No handler registered for function {function_name!r} (registered: {known}); "
                "pass it in LocalRunner(service, functions={name: handler})."
            ) from None

    def _context(self, record: ExecutionRecord, request_id: str) -> LocalLambdaContext:
        return LocalLambdaContext(
            aws_request_id=request_id,
            function_name=record.function_name,
            invoked_function_arn=function_arn(
                self.service.region, self.service.account_id, record.function_name
            ),
        )


class ReplayClient:
    """A service client for :meth:`LocalRunner.replay`: accepts everything, keeps nothing.

    ``updates`` lists what the handler tried to checkpoint, so a test can assert that a
    replay wrote nothing.
    """

    def __init__(self) -> None:
        self.updates: list[OperationUpdate] = []

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        self.updates.extend(updates)
        return CheckpointOutput(_REPLAY_TOKEN, CheckpointUpdatedExecutionState())

    def get_execution_state(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        next_marker: str,
        max_items: int = 1000,
    ) -> StateOutput:
        return StateOutput()


def _error_object(error: Exception) -> ErrorObject:
    return ErrorObject(
        message=str(error),
        type=qualified_name(type(error)),
        data=None,
        stack_trace=traceback.format_exception(error),
    )
