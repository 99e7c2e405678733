"""Proof that serve's sandboxes behave as Lambda's, driven by AWS's dex-local-runner.

A CPU map and a wait: the sandbox is frozen during the wait, a worker killed while frozen
is replaced, and the second invocation reuses the surviving worker without failing a
step. Out-of-memory and timeout in the middle of a step kill that sandbox; dex invokes
again, a fresh sandbox finishes the execution, and its history shows the interrupted
attempt.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.serve.helpers import HERE

HANDLERS = HERE / "sandbox_handlers.py"
FREEZER = Path("/sys/fs/cgroup/freezer")


def start_execution(dex_url: str, function: str, payload: dict) -> str:
    from tests.serve.helpers import post

    status, _, started = post(f"{dex_url}/start-durable-execution", {
        "AccountId": "123456789012", "FunctionName": function, "FunctionQualifier": "$LATEST",
        "ExecutionName": f"{function}-{os.urandom(4).hex()}", "ExecutionTimeoutSeconds": 120,
        "ExecutionRetentionPeriodDays": 1, "Input": json.dumps(payload),
    })
    assert status in (200, 201), started
    return started["ExecutionArn"]


def history(client, arn: str) -> list[dict]:
    return client.get_durable_execution_history(
        DurableExecutionArn=arn, IncludeExecutionData=True)["Events"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def finished(client, arn: str, timeout: float = 90.0) -> dict:
    def done():
        execution = client.get_durable_execution(DurableExecutionArn=arn)
        return execution if execution["Status"] != "RUNNING" else None

    return wait_for(done, timeout, "the execution to end")


def own_freezer_group() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if "freezer" in names.split(","):
            return FREEZER / path.lstrip("/")
    raise AssertionError("this machine has no cgroup v1 freezer")


def sandbox_groups(serve_pid: int, function: str) -> list[Path]:
    return sorted((own_freezer_group() / "durable-mp").glob(f"p{serve_pid}-{function}-*"))


def test_workers_survive_the_freeze_and_one_killed_while_frozen_is_replaced(dex_and_serve):
    dex_url, client, serve = dex_and_serve(
        f"{HANDLERS}:cpu_map_and_wait", "--memory-size", "3538", "--sandboxes", "1")
    arn = start_execution(dex_url, "cpu_map_and_wait", {"items": 4, "seconds": 0.05, "wait": 3})
    wait_for(lambda: any(e["EventType"] == "WaitStarted" for e in history(client, arn)),
             60, "the wait")
    [group] = sandbox_groups(serve.pid, "cpu_map_and_wait")
    wait_for(lambda: (group / "freezer.state").read_text().strip() == "FROZEN", 10,
             "the sandbox to be frozen")
    events = history(client, arn)
    first = {json.loads(e["StepSucceededDetails"]["Result"]["Payload"])
             for e in events if e["EventType"] == "StepSucceeded"
             and e.get("Name", "").startswith("first-")}
    frozen_pids = {int(pid) for pid in (group / "cgroup.procs").read_text().split()}
    assert first <= frozen_pids  # the workers are in the frozen sandbox
    victim = min(first)
    os.kill(victim, signal.SIGKILL)

    execution = finished(client, arn)
    assert execution["Status"] == "SUCCEEDED", execution
    result = json.loads(execution["Result"])
    assert (result["quota"], result["cpus"], result["memory"]) == (2.0, 2, "3538")
    assert set(result["first"]) == first and len(first) == 2  # two vCPUs, two workers
    second = set(result["second"])
    assert victim not in second
    assert second & (first - {victim})  # the survivor was reused after the freeze
    events = history(client, arn)
    assert not [e for e in events if e["EventType"] == "StepFailed"]
    started = [e["Name"] for e in events if e["EventType"] == "StepStarted"]
    assert sorted(n for n in started if n.startswith("second-")) == [f"second-{i}" for i in range(4)]


def _interrupted_attempt(events: list[dict], name: str) -> None:
    """The history shows the failed invocation: the step's first attempt ended without a
    result, and the retry on the next invocation succeeded."""
    mine = [e for e in events if e.get("Name") == name]
    kinds = [e["EventType"] for e in mine]
    assert kinds[0] == "StepStarted" and kinds[-1] == "StepSucceeded", kinds
    assert kinds.count("StepStarted") == 2, kinds
    retry = [e for e in mine if e["EventType"] == "StepFailed"]
    assert retry, kinds
    assert "Interrupted" in json.dumps(retry[0], default=str), retry[0]


def test_out_of_memory_mid_step_kills_the_sandbox_and_the_execution_completes(dex_and_serve):
    dex_url, client, serve = dex_and_serve(
        f"{HANDLERS}:oom_mid_step", "--memory-size", "256", "--sandboxes", "1")
    arn = start_execution(dex_url, "oom_mid_step", {"megabytes": 600})
    execution = finished(client, arn)
    assert execution["Status"] == "SUCCEEDED", execution
    assert json.loads(execution["Result"]) == {"before": "before", "heavy": "attempt 2"}
    _interrupted_attempt(history(client, arn), "heavy")
    serve.wait_for_error(lambda line: "Error Type: Runtime.OutOfMemory" in line)


def test_timeout_mid_step_kills_the_sandbox_and_the_execution_completes(dex_and_serve):
    dex_url, client, serve = dex_and_serve(
        f"{HANDLERS}:timeout_mid_step", "--timeout", "3", "--sandboxes", "1")
    arn = start_execution(dex_url, "timeout_mid_step", {"seconds": 60})
    execution = finished(client, arn)
    assert execution["Status"] == "SUCCEEDED", execution
    assert json.loads(execution["Result"]) == {"before": "before", "slow": "attempt 2"}
    _interrupted_attempt(history(client, arn), "slow")
    serve.wait_for_error(lambda line: "Error Type: Sandbox.Timedout" in line)
