"""LocalRunner: drive executions to the end by invoking handlers in this process.

It does what Lambda and the service do together: invoke the handler whenever there is
something to do, sleep until the next timer otherwise (or, with ``fast_forward``, fire
that timer at once), retry failed invocations, and stop at a terminal status. Every step
is persisted by the service before the runner acts on it, so a process killed at any
instant resumes by opening the same store and calling :meth:`LocalRunner.drive`.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
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
from durable_mp.local.errors import ExecutionNotRunningError
from durable_mp.local.records import ExecutionRecord, function_arn
from durable_mp.types import LocalLambdaContext

if TYPE_CHECKING:
    from durable_mp.local.service import LocalService

logger = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Mapping[str, Any]]

_REPLAY_TOKEN = "replay"


class LocalRunner:
    """Runs the handlers in ``functions`` (function name -> Lambda handler) on ``service``."""

    def __init__(
        self,
        service: LocalService,
        functions: Mapping[str, Handler],
        *,
        fast_forward: bool = False,
    ) -> None:
        self.service = service
        self.functions = dict(functions)
        self.fast_forward = fast_forward
        self.last_replay: ReplayClient | None = None

    def run(
        self, function_name: str, input: Any = None, *, name: str | None = None
    ) -> ExecutionRecord:
        """Start an execution and drive it to a terminal status."""
        return self.drive(self.start(function_name, input, name=name))

    def start(self, function_name: str, input: Any = None, *, name: str | None = None) -> str:
        """Start an execution; ``input`` is JSON-encoded unless it is already a string."""
        self._handler(function_name)
        payload = input if isinstance(input, str) or input is None else json.dumps(input)
        return self.service.start_execution(function_name, payload, name=name).arn

    def drive(
        self, arn: str, *, until: Callable[[ExecutionRecord], bool] | None = None
    ) -> ExecutionRecord:
        """Invoke while there is work, wait for the next timer otherwise, until the end.

        ``until`` stops early once it returns True for the current record. An execution
        left RUNNING with nothing that could ever wake it is returned as it is.
        """
        self.service.recover_interrupted_invocation(arn)
        while True:
            record = self.service.get_execution(arn)
            if record.is_terminal or (until is not None and until(record)):
                return record
            if self.service.has_work(arn):
                # It may end while the invocation is being opened (a timeout, a 5th failure).
                with contextlib.suppress(ExecutionNotRunningError):
                    self.invoke_once(arn)
                continue
            wakeup = self.service.next_wakeup(arn)
            if wakeup is None:
                logger.warning("Execution %s waits for nothing the local service can deliver", arn)
                return record
            if self.fast_forward:
                self.service.fire_due_timers(arn, as_of=wakeup)
            else:
                _sleep_until(wakeup)
                self.service.fire_due_timers(arn)

    def invoke_once(self, arn: str) -> Mapping[str, Any]:
        """One invocation; returns the handler's output.

        If the handler raises, the invocation failed (the service retries it) and the
        result is Lambda's error payload: ``errorMessage``, ``errorType``, ``stackTrace``.
        """
        record = self.service.get_execution(arn)
        handler = self._handler(record.function_name)
        invocation = self.service.begin_invocation(arn)
        event = DurableExecutionInvocationInputWithClient(
            durable_execution_arn=invocation.event.durable_execution_arn,
            checkpoint_token=invocation.event.checkpoint_token,
            initial_execution_state=invocation.event.initial_execution_state,
            updated_operation_ids=list(invocation.event.updated_operation_ids),
            service_client=self.service,
        )
        try:
            output = handler(event, self._context(record, invocation.request_id))
        except Exception as error:
            failure = _error_object(error)
            self.service.complete_invocation(invocation, error=failure)
            return {
                "errorMessage": failure.message,
                "errorType": failure.type,
                "stackTrace": failure.stack_trace or [],
            }
        if not isinstance(output, Mapping):
            logger.error("Handler of %s returned %r, not an output dict", arn, type(output))
            self.service.complete_invocation(invocation, output={"Status": None})
            return {"Status": None}
        self.service.complete_invocation(invocation, output=output)
        return output

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


def _sleep_until(moment: datetime.datetime) -> None:
    delay = (moment - datetime.datetime.now(tz=datetime.UTC)).total_seconds()
    if delay > 0:
        time.sleep(delay)
