"""The boto3 path: request shapes, and how API errors end an invocation.

A real botocore client with its Stubber validates every request against the ``lambda``
service model, the contract of rule 1.
"""

from __future__ import annotations

import datetime
import json

import boto3
import pytest
from botocore.stub import Stubber

from durable_mp import durable_execution
from durable_mp.exceptions import CheckpointError
from durable_mp.types import LocalLambdaContext

ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST/durable-execution/run-1/inv-1"
CTX = LocalLambdaContext(aws_request_id="r")


def make_client():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def event(extra_ops=(), marker=""):
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "dG9rZW4w",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": "inv-1",
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": 1700000000000,
                    "ExecutionDetails": {"InputPayload": json.dumps({"n": 2})},
                },
                *extra_ops,
            ],
            "NextMarker": marker,
        },
    }


def test_checkpoint_requests_validate_against_the_service_model():
    client, stub = make_client()
    stub.add_response(
        "checkpoint_durable_execution",
        {"CheckpointToken": "dG9rZW4x", "NewExecutionState": {"Operations": [], "NextMarker": ""}},
    )
    stub.activate()

    @durable_execution(boto3_client=client, step_executor="inline")
    def handler(evt, ctx):
        return ctx.step(lambda _: evt["n"] * 21, name="mul")

    assert handler(event(), CTX) == {"Status": "SUCCEEDED", "Result": "42"}
    stub.assert_no_pending_responses()


def test_state_pages_are_loaded_before_the_handler_runs():
    client, stub = make_client()
    done = {
        "Id": "a",
        "Type": "STEP",
        "Status": "SUCCEEDED",
        "SubType": "Step",
        "Name": "s",
        "StartTimestamp": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        "StepDetails": {"Attempt": 1, "Result": "5"},
    }
    stub.add_response(
        "get_durable_execution_state",
        {"Operations": [{**done, "Id": _id(1)}]},
        {
            "DurableExecutionArn": ARN,
            "CheckpointToken": "dG9rZW4w",
            "Marker": "m1",
            "MaxItems": 1000,
        },
    )
    stub.activate()

    @durable_execution(boto3_client=client, step_executor="inline")
    def handler(evt, ctx):
        return ctx.step(lambda _: pytest.fail("replayed step ran"), name="s")

    assert handler(event(marker="m1"), CTX) == {"Status": "SUCCEEDED", "Result": "5"}


def _id(n):
    from durable_mp.engine.ids import operation_id_for

    return operation_id_for(None, n)


@pytest.mark.parametrize(
    ("code", "status", "message", "retryable"),
    [
        ("TooManyRequestsException", 429, "Rate exceeded", True),
        ("ServiceException", 500, "boom", True),
        ("InvalidParameterValueException", 400, "Invalid checkpoint token: stale", True),
        ("InvalidParameterValueException", 400, "Payload too large", False),
        ("ResourceNotFoundException", 404, "no such execution", False),
        ("KMSAccessDeniedException", 502, "kms", False),
    ],
)
def test_api_errors_are_retried_or_fail_the_execution(code, status, message, retryable):
    client, stub = make_client()
    stub.add_client_error(
        "checkpoint_durable_execution",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
    )
    stub.activate()

    @durable_execution(boto3_client=client, step_executor="inline")
    def handler(evt, ctx):
        return ctx.step(lambda _: 1, name="s")

    if retryable:
        with pytest.raises(CheckpointError) as raised:
            handler(event(), CTX)
        assert raised.value.is_retryable()
    else:
        output = handler(event(), CTX)
        assert output["Status"] == "FAILED"
        assert output["Error"]["ErrorType"] == "durable_mp.exceptions.CheckpointError"
        assert message in output["Error"]["ErrorMessage"]


def test_a_stale_token_answered_without_an_error_code_is_retried_too():
    """dex-local-runner refuses a stale token with 400 and ``{"Type":
    "InvalidParameterValueException", "message": "Invalid checkpoint token"}`` but no
    ``x-amzn-ErrorType`` header, so botocore finds no error code (the fault campaign's
    stale-token fault failed whole executions on dex). The message alone says what it is."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from botocore.config import Config

    class DexLike(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(
                {"Type": "InvalidParameterValueException", "message": "Invalid checkpoint token"}
            ).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), DexLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = boto3.client(
            "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            config=Config(retries={"max_attempts": 0}),
        )

        @durable_execution(boto3_client=client, step_executor="inline")
        def handler(evt, ctx):
            return ctx.step(lambda _: 1, name="s")

        with pytest.raises(CheckpointError) as raised:
            handler(event(), CTX)
        assert raised.value.is_retryable(), raised.value.error
    finally:
        server.shutdown()
        server.server_close()
