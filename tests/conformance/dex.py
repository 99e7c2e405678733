"""Targets "dex" and "official-on-dex": a handler served by ``durable-mp serve``, driven by
AWS's ``dex-local-runner`` over HTTP and boto3, as the real service would drive it.

An execution starts with ``POST /start-durable-execution``; callbacks are sent with
``send_durable_execution_callback_*``; ``get_durable_execution`` and
``get_durable_execution_history`` are polled until the execution ends (or, for an
AsyncInvoke requirement without an expected result, until the expected events are
there; the execution is then stopped). Log records come from serve's stderr, where the
runtimes write them as JSON lines with the execution ARN.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from tests.conformance.callbacks import CallbackDriver, failure_error, success_payload
from tests.conformance.limitations import OMISSIONS
from tests.conformance.logs import read_json_lines
from tests.conformance.matching import first_history_error
from tests.conformance.outcome import Observation
from tests.conformance.stack import served_name

if TYPE_CHECKING:
    from tests.conformance.sdk import Requirement
    from tests.conformance.spec import Spec
    from tests.conformance.stack import DexStack

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}
TIMEOUT_SECONDS = 150.0
POLL_SECONDS = 0.25
LOG_GRACE_SECONDS = 0.5  # records written just before the end reach the file


class DexTarget:
    """Runs requirements of ``stack.sdk`` on one dex stack."""

    def __init__(self, name: str, stack: DexStack) -> None:
        self.name = name
        self.sdk = stack.sdk
        self.stack = stack

    def observe(self, spec: Spec, requirement: Requirement) -> Observation:
        if spec.id in self.stack.served.refused:
            raise LookupError(self.stack.served.refused[spec.id])
        client = self.stack.client
        execution_name = f"{spec.id}-{os.urandom(6).hex()}"
        arn = self.stack.start_execution(served_name(spec), execution_name, spec.input_json)
        seen = Observation(arn=arn)

        def history() -> list[dict[str, Any]]:
            return _events(client, arn)

        early = spec.async_invoke and spec.expected_result is None
        deadline = time.monotonic() + TIMEOUT_SECONDS
        with CallbackDriver(spec.callback_actions, history, _sender(client)) as driver:
            while True:
                execution = client.get_durable_execution(
                    DurableExecutionArn=arn, IncludeExecutionData=True
                )
                if execution["Status"] in TERMINAL:
                    break
                if early and _arrived(spec, history()):
                    seen.matched_early = True
                    client.stop_durable_execution(DurableExecutionArn=arn)
                    execution = client.get_durable_execution(
                        DurableExecutionArn=arn, IncludeExecutionData=True
                    )
                    break
                if time.monotonic() > deadline:
                    seen.problems.append(
                        f"timed out after {TIMEOUT_SECONDS:.0f} s ({execution['Status']})"
                    )
                    client.stop_durable_execution(DurableExecutionArn=arn)
                    break
                time.sleep(POLL_SECONDS)
        seen.problems.extend(driver.errors)
        seen.status = execution.get("Status")
        seen.result = execution.get("Result")
        seen.error = execution.get("Error")
        seen.history = history()
        if spec.expected_logs:
            time.sleep(LOG_GRACE_SECONDS)
            book = read_json_lines(self.stack.serve_log)
            seen.logs = read_json_lines(self.stack.serve_stdout, book).records(arn)
        return seen


def _arrived(spec: Spec, events: list[dict[str, Any]]) -> bool:
    """The expected events are there (dex's missing InvocationCompletedDetails aside)."""
    expected, actual = OMISSIONS["invocation-details"].waive(spec.expected_history, events)
    return first_history_error(expected, actual) is None


def _events(client: Any, arn: str) -> list[dict[str, Any]]:
    """Every history event (all pages), timestamps as text, as the YAMLs see them."""
    events: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page = client.get_durable_execution_history(
            DurableExecutionArn=arn,
            IncludeExecutionData=True,
            **({"Marker": marker} if marker else {}),
        )
        events.extend(_jsonable(event) for event in page.get("Events", []))
        marker = page.get("NextMarker")
        if not marker:
            return events


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _sender(client: Any) -> Any:
    def send(callback_id: str, action: dict[str, Any]) -> None:
        operation = action.get("Operation")
        if operation == "success":
            payload = success_payload(action)
            client.send_durable_execution_callback_success(
                CallbackId=callback_id,
                **({"Result": payload.encode()} if payload is not None else {}),
            )
        elif operation == "failure":
            client.send_durable_execution_callback_failure(
                CallbackId=callback_id, Error=failure_error(action)
            )
        else:
            client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)

    return send
