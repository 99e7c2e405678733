"""``durable-mp serve`` as a Lambda Invoke endpoint: sandboxes, crashes, errors, shutdown.

The handler here checkpoints nothing, so no durable service is needed; the dex-driven
test of a whole execution is in test_dex_acceptance.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import signal
import subprocess
import sys
import time

import boto3
import pytest
from botocore.config import Config

from tests.serve.helpers import (
    HANDLERS,
    SERVE_CLI,
    base_env,
    durable_event,
    invoke_url,
    post,
)

WHOAMI = f"{HANDLERS}:whoami"


def lambda_client(url: str) -> object:
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-west-2", aws_access_key_id="x",
        aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}),
    )


def result_of(body: dict) -> dict:
    assert body["Status"] == "SUCCEEDED", body
    return json.loads(body["Result"])


def test_warm_sandbox_serves_invocation_after_invocation(start_serve):
    serve = start_serve(WHOAMI, "--sandboxes", "2")
    assert serve.ready_line == f"durable-mp serve: 1 function(s) at {serve.url} (whoami)"
    first_status, first_headers, first = post(invoke_url(serve, "whoami"), durable_event({}))
    _, second_headers, second = post(invoke_url(serve, "whoami"), durable_event({}))
    assert first_status == 200
    assert "x-amz-function-error" not in first_headers
    assert first_headers["x-amz-executed-version"] == "$LATEST"
    assert result_of(first)["pid"] == result_of(second)["pid"] != serve.pid
    # The Lambda context carries the request id the response reports.
    assert result_of(first)["request_id"] == first_headers["x-amzn-requestid"]
    assert result_of(second)["request_id"] == second_headers["x-amzn-requestid"]


def test_runtime_death_is_a_function_error_and_the_next_invocation_gets_a_fresh_runtime(
    start_serve,
):
    serve = start_serve(WHOAMI, "--sandboxes", "1")
    url = invoke_url(serve, "whoami")
    before = result_of(post(url, durable_event({}))[2])["pid"]

    status, headers, body = post(url, durable_event({"exit": 1}))
    assert status == 200
    assert headers["x-amz-function-error"] == "Unhandled"
    request_id = headers["x-amzn-requestid"]
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 1",
    }
    after_exit = result_of(post(url, durable_event({}))[2])["pid"]
    assert after_exit != before

    status, headers, body = post(url, durable_event({"kill": True}))
    assert (status, headers["x-amz-function-error"]) == (200, "Unhandled")
    assert body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    after_kill = result_of(post(url, durable_event({}))[2])["pid"]
    assert after_kill not in (before, after_exit)

    status, headers, body = post(url, durable_event({"segfault": True}))
    assert (status, headers["x-amz-function-error"]) == (200, "Unhandled")
    assert body["errorMessage"].endswith("Runtime exited with error: signal: segmentation fault")
    assert result_of(post(url, durable_event({}))[2])["pid"] not in (before, after_exit, after_kill)


def test_an_event_that_is_not_durable_is_a_function_error(start_serve):
    serve = start_serve(WHOAMI)
    status, headers, body = post(invoke_url(serve, "whoami"), {"hello": "world"})
    assert (status, headers["x-amz-function-error"]) == (200, "Unhandled")
    assert body["errorType"] == "InvalidEventError"
    assert "DurableExecutionArn" in body["errorMessage"]
    assert body["stackTrace"] and all(isinstance(line, str) for line in body["stackTrace"])


def test_unknown_function_is_resource_not_found(start_serve):
    serve = start_serve(WHOAMI)
    status, headers, body = post(invoke_url(serve, "nope"), {})
    assert status == 404
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert body["Type"] == "User"
    assert body["message"].startswith("Function not found: ")
    client = lambda_client(serve.url)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="nope", Payload=b"{}")


def test_function_names_qualifiers_and_arns_resolve(start_serve):
    serve = start_serve(WHOAMI, f"renamed={WHOAMI}")
    assert serve.ready_line.endswith("2 function(s) at " + serve.url + " (whoami, renamed)")
    client = lambda_client(serve.url)
    arn = "arn:aws:lambda:us-west-2:123456789012:function:"
    for name, function, invoked_arn in (
        ("whoami", "whoami", arn + "whoami"),
        ("renamed:$LATEST", "renamed", arn + "renamed:$LATEST"),
        (arn + "renamed", "renamed", arn + "renamed"),
        (arn + "whoami:$LATEST", "whoami", arn + "whoami:$LATEST"),
        ("123456789012:function:whoami", "whoami", arn + "whoami"),
    ):
        response = client.invoke(FunctionName=name, Payload=json.dumps(durable_event({})))
        assert "FunctionError" not in response, name
        context = result_of(json.loads(response["Payload"].read()))
        assert (context["function_name"], context["invoked_function_arn"]) == (
            function, invoked_arn
        )
        assert 0 < context["remaining_ms"] <= 900_000
    response = client.invoke(FunctionName="whoami", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "InvalidEventError"
    dry = client.invoke(FunctionName="whoami", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204


def test_sandboxes_serve_concurrent_invocations_and_requests_queue(start_serve):
    serve = start_serve(WHOAMI, "--sandboxes", "2")
    url = invoke_url(serve, "whoami")
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        bodies = list(pool.map(lambda _: post(url, durable_event({"sleep": 0.6}))[2], range(3)))
    elapsed = time.monotonic() - started
    pids = {result_of(body)["pid"] for body in bodies}
    assert len(pids) == 2  # two sandboxes, no more
    assert elapsed >= 1.2  # the third request waited for a free sandbox


def test_an_invocation_over_its_timeout_is_killed(start_serve):
    # 5 s: the fresh sandbox that answers next must fit its first invocation (worker
    # start included) into the same timeout, also on a loaded machine.
    serve = start_serve(WHOAMI, "--sandboxes", "1", "--timeout", "5")
    url = invoke_url(serve, "whoami")
    status, headers, body = post(url, durable_event({"sleep": 30}))
    assert (status, headers["x-amz-function-error"]) == (200, "Unhandled")
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 5.00 seconds")
    assert result_of(post(url, durable_event({}))[2])["pid"] > 0


def test_bad_requests_get_lambda_api_errors(start_serve):
    serve = start_serve(WHOAMI)
    status, headers, _ = post(invoke_url(serve, "whoami"), b"{not json")
    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestContentException")
    status, headers, _ = post(f"{serve.url}/2015-03-31/functions", {})
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 0), (signal.SIGTERM, 0), (signal.SIGKILL, -9)]
)
def test_shutdown_stops_runtimes_and_their_worker_pools(start_serve, processes, sig, code):
    """SIGINT/SIGTERM stop everything cleanly; after SIGKILL the runtimes notice and exit."""
    serve = start_serve(WHOAMI, "--sandboxes", "2")
    url = invoke_url(serve, "whoami")
    event = durable_event({"sleep": 0.3, "pool": True})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        bodies = list(pool.map(lambda _: post(url, event)[2], range(2)))
    runtimes = {result_of(body)["pid"] for body in bodies}
    workers = {result_of(body)["worker_pid"] for body in bodies}
    assert len(runtimes) == 2
    descendants = {proc.pid for proc in serve.children()}
    assert runtimes | workers <= descendants
    assert serve.stop(sig) == code
    # The `processes` fixture then checks that every descendant seen here is gone.


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tests/serve/missing.py:whoami"], r"missing\.py: no such file"),
        ([f"{HANDLERS}:nothing"], r"has no attribute 'nothing'; it defines: .*whoami"),
        (["bad name=x.py:f"], r"'bad name' .* is not a function name"),
        ([WHOAMI, WHOAMI], r"two targets are served as 'whoami'"),
        ([WHOAMI, "--sandboxes", "0"], r"--sandboxes: expected a positive integer"),
        ([WHOAMI, "--executor", "gpu"], r"--executor: invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message):
    completed = subprocess.run(
        [sys.executable, str(SERVE_CLI), "serve", "--port", "0", *args],
        check=False, env=base_env(), capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert re.search(message, lines[0]), lines[0]
    assert completed.stdout == ""
