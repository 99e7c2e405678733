"""Wire-level helpers for driving LocalService by hand (no SDK involved)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from durable_mp.lambda_service import CheckpointOutput, OperationUpdate

if TYPE_CHECKING:
    from durable_mp.local import Invocation, LocalService


def step_start(op_id: str, name: str | None = None, parent: str | None = None) -> dict[str, Any]:
    return _update(op_id, "STEP", "START", name, parent, SubType="Step")


def step_succeed(op_id: str, payload: str | None = '"ok"', **extra: Any) -> dict[str, Any]:
    update = _update(op_id, "STEP", "SUCCEED", **{"SubType": "Step", **extra})
    if payload is not None:
        update["Payload"] = payload
    return update


def step_fail(op_id: str, message: str = "boom", **extra: Any) -> dict[str, Any]:
    return _update(
        op_id, "STEP", "FAIL", Error={"ErrorMessage": message, "ErrorType": "ValueError"}, **extra
    )


def step_retry(op_id: str, delay: int = 1, message: str | None = "boom", **extra: Any) -> dict[str, Any]:
    update = _update(op_id, "STEP", "RETRY", StepOptions={"NextAttemptDelaySeconds": delay}, **extra)
    if message is not None:
        update["Error"] = {"ErrorMessage": message, "ErrorType": "ValueError"}
    return update


def wait_start(op_id: str, seconds: int = 1, name: str | None = None, parent: str | None = None) -> dict[str, Any]:
    return _update(op_id, "WAIT", "START", name, parent, SubType="Wait", WaitOptions={"WaitSeconds": seconds})


def context_start(op_id: str, name: str | None = None, parent: str | None = None) -> dict[str, Any]:
    return _update(op_id, "CONTEXT", "START", name, parent, SubType="RunInChildContext")


def context_succeed(op_id: str, payload: str | None = '"done"', **extra: Any) -> dict[str, Any]:
    update = _update(op_id, "CONTEXT", "SUCCEED", **extra)
    if payload is not None:
        update["Payload"] = payload
    return update


def context_fail(op_id: str, **extra: Any) -> dict[str, Any]:
    return _update(
        op_id, "CONTEXT", "FAIL", Error={"ErrorMessage": "bad", "ErrorType": "KeyError"}, **extra
    )


def execution_succeed(payload: str = '"big"') -> dict[str, Any]:
    return {"Id": "execution-result-1", "Type": "EXECUTION", "Action": "SUCCEED", "Payload": payload}


def execution_fail() -> dict[str, Any]:
    return {
        "Id": "execution-result-1",
        "Type": "EXECUTION",
        "Action": "FAIL",
        "Error": {"ErrorMessage": "bad", "ErrorType": "RuntimeError"},
    }


def _update(
    op_id: str,
    kind: str,
    action: str,
    name: str | None = None,
    parent: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    update: dict[str, Any] = {"Id": op_id, "Type": kind, "Action": action, **extra}
    if name is not None:
        update["Name"] = name
    if parent is not None:
        update["ParentId"] = parent
    return update


class Driver:
    """One execution driven through raw protocol calls, keeping its token current."""

    def __init__(
        self,
        service: LocalService,
        *,
        name: str | None = None,
        input_payload: str | None = '"in"',
        timeout: int = 3600,
    ) -> None:
        self.service = service
        self.record = service.start_execution(
            "fn", input_payload, name=name, execution_timeout_seconds=timeout
        )
        self.arn = self.record.arn
        self.invocation: Invocation = self.begin()

    def begin(self) -> Invocation:
        self.invocation = self.service.begin_invocation(self.arn)
        self.token = self.invocation.event.checkpoint_token
        return self.invocation

    def send(self, *updates: dict[str, Any], client_token: str | None = None) -> CheckpointOutput:
        output = self.service.checkpoint(
            self.arn,
            self.token,
            [OperationUpdate.from_dict(update) for update in updates],
            client_token,
        )
        if output.checkpoint_token:
            self.token = output.checkpoint_token
        return output

    def finish(self, status: str = "PENDING", **fields: Any) -> Any:
        return self.service.complete_invocation(self.invocation, output={"Status": status, **fields})

    def operation(self, op_id: str) -> Any:
        return {op.operation_id: op for op in self.service.get_operations(self.arn)}[op_id]

    def event_types(self) -> list[str]:
        return [event["EventType"] for event in self.service.get_history(self.arn)]
