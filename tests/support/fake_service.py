"""A minimal in-memory durable service for engine unit tests.

It applies updates the way the service does (statuses, attempts, timers) but validates
nothing; the real behaviour is tested against ``durable_mp.local.LocalService``.
"""

from __future__ import annotations

import datetime
import itertools
import threading
import time
from dataclasses import replace
from typing import Any

from durable_mp.invocation_input import (
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
)
from durable_mp.lambda_service import (
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    ContextDetails,
    ExecutionDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StateOutput,
    StepDetails,
    WaitDetails,
)

ARN = "arn:aws:lambda:local:000000000000:function:fn:$LATEST/durable-execution/test/exec-1"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class FakeService:
    def __init__(self, input_payload: str | None = None, *, latency: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.latency = latency
        self.ops: dict[str, Operation] = {}
        self.calls: list[list[OperationUpdate]] = []
        self._tokens = itertools.count(1)
        self.token = "t0"
        exec_id = ARN.rsplit("/", maxsplit=1)[-1]
        self.ops[exec_id] = Operation(
            exec_id,
            OperationType.EXECUTION,
            OperationStatus.STARTED,
            start_timestamp=_now(),
            execution_details=ExecutionDetails(input_payload),
        )
        self.completed: Any = None

    def invocation(self) -> DurableExecutionInvocationInputWithClient:
        self.fire_timers()
        with self.lock:
            return DurableExecutionInvocationInputWithClient(
                durable_execution_arn=ARN,
                checkpoint_token=self.token,
                initial_execution_state=InitialExecutionState(list(self.ops.values()), ""),
                service_client=self,
            )

    def fire_timers(self, *, force: bool = False) -> None:
        now = _now()
        with self.lock:
            for op in list(self.ops.values()):
                if (
                    op.status is OperationStatus.STARTED
                    and op.wait_details
                    and (force or op.wait_details.scheduled_end_timestamp <= now)
                ):
                    self.ops[op.operation_id] = replace(
                        op, status=OperationStatus.SUCCEEDED, end_timestamp=now
                    )
                if (
                    op.status is OperationStatus.PENDING
                    and op.step_details
                    and (force or op.step_details.next_attempt_timestamp <= now)
                ):
                    self.ops[op.operation_id] = replace(op, status=OperationStatus.READY)

    def checkpoint(self, durable_execution_arn, checkpoint_token, updates, client_token):
        if self.latency:
            time.sleep(self.latency)
        self.fire_timers()
        with self.lock:
            assert checkpoint_token == self.token, "stale token"
            self.calls.append(list(updates))
            changed = []
            for update in updates:
                op = self._apply(update)
                if op is not None:
                    self.ops[op.operation_id] = op
                    changed.append(op)
            self.token = f"t{next(self._tokens)}"
            return CheckpointOutput(self.token, CheckpointUpdatedExecutionState(changed, None))

    def get_execution_state(
        self, durable_execution_arn, checkpoint_token, next_marker, max_items=1000
    ):
        with self.lock:
            return StateOutput(list(self.ops.values()), None)

    def _apply(self, u: OperationUpdate) -> Operation | None:
        now = _now()
        cur = self.ops.get(u.operation_id)
        if u.operation_type is OperationType.EXECUTION:
            self.completed = u
            return None
        base = cur or Operation(
            u.operation_id,
            u.operation_type,
            OperationStatus.STARTED,
            parent_id=u.parent_id,
            name=u.name,
            sub_type=u.sub_type,
            start_timestamp=now,
        )
        attempt = base.step_details.attempt if base.step_details else 0
        if u.operation_type is OperationType.STEP:
            if u.action is OperationAction.START:
                return replace(
                    base, status=OperationStatus.STARTED, step_details=StepDetails(attempt)
                )
            if u.action is OperationAction.SUCCEED:
                return replace(
                    base,
                    status=OperationStatus.SUCCEEDED,
                    end_timestamp=now,
                    step_details=StepDetails(attempt + 1, result=u.payload),
                )
            if u.action is OperationAction.FAIL:
                return replace(
                    base,
                    status=OperationStatus.FAILED,
                    end_timestamp=now,
                    step_details=StepDetails(attempt + 1, error=u.error),
                )
            if u.action is OperationAction.RETRY:
                due = now + datetime.timedelta(seconds=u.step_options.next_attempt_delay_seconds)
                return replace(
                    base,
                    status=OperationStatus.PENDING,
                    step_details=StepDetails(attempt + 1, due, result=u.payload, error=u.error),
                )
        if u.operation_type is OperationType.WAIT and u.action is OperationAction.START:
            end = now + datetime.timedelta(seconds=u.wait_options.wait_seconds)
            return replace(base, wait_details=WaitDetails(end))
        if u.operation_type is OperationType.CONTEXT:
            if u.action is OperationAction.START:
                return base
            status = (
                OperationStatus.SUCCEEDED
                if u.action is OperationAction.SUCCEED
                else OperationStatus.FAILED
            )
            replay = bool(u.context_options and u.context_options.replay_children)
            return replace(
                base,
                status=status,
                end_timestamp=now,
                context_details=ContextDetails(replay, u.payload, u.error),
            )
        raise AssertionError(f"unsupported update {u}")


def drive(handler, service: FakeService, *, max_invocations: int = 20) -> dict:
    """Invoke until the execution ends, firing timers at once between invocations."""
    from durable_mp.types import LocalLambdaContext

    for i in range(max_invocations):
        output = handler(service.invocation(), LocalLambdaContext(aws_request_id=f"req-{i}"))
        if output["Status"] != "PENDING":
            return output
        service.fire_timers(force=True)
    raise AssertionError("execution did not finish")
