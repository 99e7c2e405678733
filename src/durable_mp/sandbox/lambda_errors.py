"""The error shapes Lambda puts on the wire, so Lambda clients and the service parse them.

Two kinds exist. An *API error* (unknown function, bad request) is an HTTP error status
with ``x-amzn-ErrorType`` and ``{"Type", "message"}``. A *function error* (the handler
raised, the runtime died or timed out) is HTTP 200 with ``X-Amz-Function-Error:
Unhandled`` and ``{"errorType", "errorMessage"[, "stackTrace"]}``; the durable service
treats it as a failed invocation and invokes again.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass


@dataclass(frozen=True)
class ApiError:
    status: int
    code: str
    message: str
    kind: str = "User"

    def body(self) -> bytes:
        return json.dumps({"Type": self.kind, "message": self.message}).encode()


@dataclass(frozen=True)
class Reply:
    """What an invocation answers: the payload, and the function-error header if any."""

    payload: bytes
    function_error: str | None = None


def function_error(
    error_type: str, message: str, stack_trace: list[str] | None = None
) -> Reply:
    body: dict[str, object] = {"errorType": error_type, "errorMessage": message}
    if stack_trace is not None:
        body["stackTrace"] = stack_trace
    return Reply(json.dumps(body).encode(), "Unhandled")


def exit_status(returncode: int) -> str:
    """``exit status 1`` or ``signal: killed``, as Lambda (Go's ProcessState) words it."""
    if returncode >= 0:
        return f"exit status {returncode}"
    number = -returncode
    try:
        text = signal.strsignal(number)
    except ValueError:
        text = None
    return f"signal: {text.lower() if text else f'signal {number}'}"


def runtime_exited(request_id: str, returncode: int) -> Reply:
    reason = (
        "Runtime exited without providing a reason"
        if returncode == 0
        else f"Runtime exited with error: {exit_status(returncode)}"
    )
    return function_error("Runtime.ExitError", f"RequestId: {request_id} Error: {reason}")


def timed_out(request_id: str, seconds: float) -> Reply:
    return function_error(
        "Sandbox.Timedout",
        f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds",
    )


def init_failed(message: str) -> Reply:
    return function_error("Runtime.ImportModuleError", f"Unable to import module: {message}")


def out_of_memory(request_id: str) -> Reply:
    return function_error(
        "Runtime.OutOfMemory",
        f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    )


def passed_through(body: bytes, error_type: str | None) -> Reply:
    """An error the runtime posted (``/error`` or ``/init/error``), as Lambda relays it."""
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and "errorType" in decoded:
        return Reply(body, "Unhandled")
    return function_error(error_type or "Runtime.Unknown", body.decode(errors="replace"))
