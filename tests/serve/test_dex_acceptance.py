"""Acceptance: AWS's local durable service drives a handler served by ``durable-mp serve``.

``dex-local-runner start-server`` invokes the handler over HTTP at serve's Invoke
endpoint; the handler checkpoints back to dex through boto3 (``AWS_ENDPOINT_URL_LAMBDA``).
The step body runs in a worker process of the sandbox (the default process executor).
"""

from __future__ import annotations

import json
import time

from tests.serve.helpers import (
    HANDLERS,
    post,
)

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}


def run_execution(
    dex_url: str, client: object, payload: object, function: str = "workflow",
    timeout: float = 30.0,
) -> dict:
    status, _, started = post(f"{dex_url}/start-durable-execution", {
        "AccountId": "123456789012",
        "FunctionName": function,
        "FunctionQualifier": "$LATEST",
        "ExecutionName": "acceptance",
        "ExecutionTimeoutSeconds": 60,
        "ExecutionRetentionPeriodDays": 1,
        "Input": json.dumps(payload),
    })
    assert status in (200, 201), started
    arn = started["ExecutionArn"]
    deadline = time.monotonic() + timeout
    while True:
        execution = client.get_durable_execution(DurableExecutionArn=arn)
        if execution["Status"] in TERMINAL:
            return execution
        assert time.monotonic() < deadline, f"execution still {execution['Status']}"
        time.sleep(0.1)


def test_dex_local_runner_drives_a_served_handler_to_completion(dex_and_serve):
    dex_url, client, serve = dex_and_serve(f"{HANDLERS}:workflow", "--sandboxes", "2")
    execution = run_execution(dex_url, client, {"x": 1})
    assert execution["Status"] == "SUCCEEDED", execution
    result = json.loads(execution["Result"])
    assert result["inner"] == "inchild"
    assert result["event"] == {"x": 1}
    runtimes = {child.pid for child in serve.children()
                if "awslambdaric" in " ".join(child.cmdline())}
    assert result["runtime_pid"] in runtimes
    assert result["step_pid"] != result["runtime_pid"]  # the body ran in a worker process
    assert result["step_pid"] not in runtimes

    history = client.get_durable_execution_history(
        DurableExecutionArn=execution["DurableExecutionArn"], IncludeExecutionData=True,
    )["Events"]
    shape = [(e["EventType"], e.get("Name"), e.get("SubType")) for e in history]
    assert shape == [
        ("ExecutionStarted", "acceptance", None),
        ("StepStarted", "work", "Step"),
        ("StepSucceeded", "work", "Step"),
        ("WaitStarted", "pause", "Wait"),
        ("InvocationCompleted", None, None),
        ("WaitSucceeded", "pause", "Wait"),
        ("ContextStarted", "kid", "RunInChildContext"),
        ("StepStarted", "inner", "Step"),
        ("StepSucceeded", "inner", "Step"),
        ("ContextSucceeded", "kid", "RunInChildContext"),
        ("InvocationCompleted", None, None),
        ("ExecutionSucceeded", "acceptance", None),
    ]
    by_type = {}
    for event in history:
        by_type.setdefault(event["EventType"], []).append(event)
    step_succeeded = by_type["StepSucceeded"][0]
    assert json.loads(step_succeeded["StepSucceededDetails"]["Result"]["Payload"]) == (
        result["step_pid"]
    )
    assert by_type["WaitStarted"][0]["WaitStartedDetails"]["Duration"] == 1
    context_id = by_type["ContextStarted"][0]["Id"]
    inner = [e for e in history if e.get("Name") == "inner"]
    assert [e.get("ParentId") for e in inner] == [context_id, context_id]
    assert all("ParentId" not in e for e in history if e.get("Name") in ("work", "pause", "kid"))
    assert [e["EventId"] for e in history] == list(range(1, len(history) + 1))


def test_a_runtime_crash_is_a_failed_invocation_that_dex_retries(dex_and_serve, tmp_path):
    """Runtime.ExitError: dex invokes again (after its 5 s back-off) on a fresh runtime,
    which replays the checkpointed step; the failed attempt leaves no history event."""
    # The marker must outlive the sandbox: on Lambda, and in serve's sandboxes, /tmp is
    # private to each one, so this test opts out of the filesystem constraint.
    dex_url, client, serve = dex_and_serve(f"{HANDLERS}:crash_once", "--sandboxes", "1",
                                           sandbox_disable="filesystem,non_root")
    first_runtime = {child.pid for child in serve.children()}
    execution = run_execution(dex_url, client, {"marker": str(tmp_path / "crashed")},
                              function="crash_once")
    assert execution["Status"] == "SUCCEEDED", execution
    result = json.loads(execution["Result"])
    assert result["before"] == "before"
    assert result["pid"] not in first_runtime
    history = client.get_durable_execution_history(
        DurableExecutionArn=execution["DurableExecutionArn"]
    )["Events"]
    assert [e["EventType"] for e in history] == [
        "ExecutionStarted", "StepStarted", "StepSucceeded", "InvocationCompleted",
        "ExecutionSucceeded",
    ]
