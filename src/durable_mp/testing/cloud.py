"""DurableFunctionCloudTestRunner: the same tests against a deployed function.

It speaks the Lambda API through boto3: ``Invoke`` starts the execution (the response
carries its ARN), ``GetDurableExecution`` is polled until it ends, and
``GetDurableExecutionHistory`` gives the operations. ``lambda_endpoint`` points it at
anything that speaks that API instead of AWS. AWS's local durable service
(``dex-local-runner``) has no ``Invoke``; when the endpoint answers that it does not know
the operation, the execution is started through the local service's
``POST /start-durable-execution`` instead, so the runner drives dex-local-runner with
its functions served by ``durable-mp serve``.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

from durable_mp._wire import ErrorObject
from durable_mp.testing.exceptions import DurableFunctionsTestError
from durable_mp.testing.local import normalize_input
from durable_mp.testing.model import (
    Event,
    GetDurableExecutionHistoryResponse,
    callback_id_from_events,
    events_to_operations,
)
from durable_mp.testing.result import DurableFunctionTestResult

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DurableFunctionCloudTestRunner"]

logger = logging.getLogger(__name__)

_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})


class DurableFunctionCloudTestRunner:
    """Run tests against ``function_name`` at Lambda (or ``lambda_endpoint``).

    ``input`` is sent as the execution input (JSON text as it is, anything else JSON
    encoded), as the local runner does.
    """

    def __init__(
        self,
        function_name: str,
        region: str = "us-west-2",
        lambda_endpoint: str | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.function_name = function_name
        self.region = region
        self.lambda_endpoint = lambda_endpoint
        self.poll_interval = poll_interval
        self.lambda_client: Any = boto3.client(
            "lambda",
            endpoint_url=lambda_endpoint,
            region_name=region,
            config=Config(parameter_validation=False),
        )

    def __enter__(self) -> DurableFunctionCloudTestRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Nothing to release: the runner holds only a boto3 client."""

    # -- running ---------------------------------------------------------------------------

    def run(self, input: Any = None, timeout: int = 60) -> DurableFunctionTestResult:
        """Start an execution and wait (up to ``timeout`` seconds) for its end."""
        return self.wait_for_result(self.run_async(input, timeout), timeout=timeout)

    def run_async(self, input: Any = None, timeout: int = 60) -> str:
        """Start an execution; its ARN."""
        payload = normalize_input(input)
        try:
            response = self.lambda_client.invoke(
                FunctionName=self.function_name, InvocationType="Event", Payload=payload
            )
        except Exception as error:
            if self.lambda_endpoint and _is_unknown_operation(error):
                return self._start_on_local_service(payload, timeout)
            raise DurableFunctionsTestError(
                f"Failed to invoke Lambda function {self.function_name}: {error}"
            ) from error
        arn = response.get("DurableExecutionArn")
        if not arn:
            raise DurableFunctionsTestError(
                f"No DurableExecutionArn in the Invoke response of {self.function_name}: "
                "is durability enabled on the function (DurableConfig)?"
            )
        return str(arn)

    def wait_for_result(
        self, execution_arn: str, timeout: int = 60
    ) -> DurableFunctionTestResult:
        """Poll until the execution has ended; its result from the history."""
        execution = self._wait_until_ended(execution_arn, timeout)
        try:
            history = self._history(execution_arn)
        except Exception as error:
            raise DurableFunctionsTestError(
                f"Failed to fetch execution history: {error}"
            ) from error
        error_data = execution.get("Error")
        return DurableFunctionTestResult.from_status(
            str(execution.get("Status")),
            execution.get("Result"),
            ErrorObject.from_dict(error_data) if error_data else None,
            events_to_operations(history.events),
        )

    def wait_for_callback(
        self, execution_arn: str, name: str | None = None, timeout: int = 60
    ) -> str:
        """The id of an open callback once its invocation has ended (see the local runner)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                callback_id = callback_id_from_events(self._history(execution_arn).events, name)
            except DurableFunctionsTestError:
                raise
            except Exception as error:
                if _error_code(error) != "ResourceNotFoundException":
                    raise DurableFunctionsTestError(
                        f"Failed to fetch execution history: {error}"
                    ) from error
                callback_id = None
            if callback_id:
                return callback_id
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Callback did not become available within {timeout}s.")
            time.sleep(self.poll_interval)

    # -- callbacks -------------------------------------------------------------------------

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> None:
        self._call(
            "send callback success",
            callback_id,
            lambda: self.lambda_client.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=result
            ),
        )

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        self._call(
            "send callback failure",
            callback_id,
            lambda: self.lambda_client.send_durable_execution_callback_failure(
                CallbackId=callback_id, Error=error.to_dict() if error else {}
            ),
        )

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self._call(
            "send callback heartbeat",
            callback_id,
            lambda: self.lambda_client.send_durable_execution_callback_heartbeat(
                CallbackId=callback_id
            ),
        )

    def get_execution_history(
        self,
        execution_arn: str,
        include_execution_data: bool = True,
    ) -> GetDurableExecutionHistoryResponse:
        return self._history(execution_arn, include_execution_data)

    def pause_execution(self, execution_arn: str, timeout: float = 60) -> None:
        raise NotImplementedError(
            "pause_execution() is not implemented for DurableFunctionCloudTestRunner"
        )

    def resume_execution(self, execution_arn: str) -> None:
        raise NotImplementedError(
            "resume_execution() is not implemented for DurableFunctionCloudTestRunner"
        )

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, what: str, callback_id: str, call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as error:
            raise DurableFunctionsTestError(
                f"Failed to {what} for {self.function_name}, callback_id {callback_id}: {error}"
            ) from error

    def _wait_until_ended(self, arn: str, timeout: int) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status = None
        while True:
            try:
                execution: dict[str, Any] = self.lambda_client.get_durable_execution(
                    DurableExecutionArn=arn
                )
                status = execution.get("Status")
            except Exception as error:
                if _error_code(error) != "ResourceNotFoundException":
                    raise DurableFunctionsTestError(
                        f"Failed to get execution status: {error}"
                    ) from error
            else:
                if status in _TERMINAL:
                    return execution
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Execution did not complete within {timeout}s (last status: {status})"
                )
            time.sleep(self.poll_interval)

    def _history(
        self, arn: str, include_execution_data: bool = True
    ) -> GetDurableExecutionHistoryResponse:
        events: list[Event] = []
        marker: str | None = None
        while True:
            request: dict[str, Any] = {
                "DurableExecutionArn": arn,
                "IncludeExecutionData": include_execution_data,
            }
            if marker:
                request["Marker"] = marker
            page = self.lambda_client.get_durable_execution_history(**request)
            events.extend(Event.from_dict(event) for event in page.get("Events") or [])
            marker = page.get("NextMarker")
            if not marker:
                return GetDurableExecutionHistoryResponse(events)

    def _start_on_local_service(self, payload: str, timeout: int) -> str:
        """``POST /start-durable-execution``, the start route of AWS's local service."""
        assert self.lambda_endpoint is not None
        body = json.dumps(
            {
                "AccountId": "123456789012",
                "FunctionName": self.function_name,
                "FunctionQualifier": "$LATEST",
                "ExecutionName": f"test-{uuid.uuid4().hex[:12]}",
                "ExecutionTimeoutSeconds": timeout,
                "ExecutionRetentionPeriodDays": 1,
                "Input": payload,
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.lambda_endpoint.rstrip('/')}/start-durable-execution",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                reply = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, ValueError) as error:
            raise DurableFunctionsTestError(
                f"Could not start {self.function_name} at {self.lambda_endpoint}: neither "
                f"Invoke nor /start-durable-execution worked ({error})"
            ) from error
        arn = reply.get("ExecutionArn") or reply.get("DurableExecutionArn")
        if not arn:
            raise DurableFunctionsTestError(f"The start reply has no ExecutionArn: {reply}")
        return str(arn)


def _is_unknown_operation(error: BaseException) -> bool:
    """The endpoint has no Invoke: Lambda's UnknownOperation, a 404, or dex-local-runner's
    ``Unknown path pattern`` (answered as a 500)."""
    if _error_code(error) in ("UnknownOperationException", "404"):
        return True
    response = getattr(error, "response", None)
    message = (response.get("Error") or {}).get("Message", "") if isinstance(response, dict) else ""
    return str(message).startswith("Unknown path pattern")


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code in (None, "", "404") and status == 404:
        return "404"
    return str(code) if code else None
