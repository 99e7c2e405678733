"""Issue acceptance: a handler with steps, a retry, a wait and a child context on the
embedded service, its history, and replay of the finished execution (process mode)."""

from __future__ import annotations

import json
import os

from durable_mp import (
    Duration,
    RetryStrategyConfig,
    StepConfig,
    create_retry_strategy,
    durable_execution,
)
from durable_mp.local import LocalRunner, LocalService, history_to_json

FAST_RETRY = create_retry_strategy(
    RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(1))
)


def make_handler(marker_dir):
    """Each step body appends a line to a file, so runs are counted across processes."""

    def mark(name):
        with open(os.path.join(marker_dir, name), "a") as f:
            f.write(f"{os.getpid()}\n")

    @durable_execution
    def handler(event, ctx):
        def first(_):
            mark("first")
            return {"pid": os.getpid(), "n": event["n"]}

        def flaky(step):
            mark("flaky")
            if step.attempt == 1:
                raise ConnectionError("try again")
            return step.attempt

        def inner(_):
            mark("inner")
            return "inner-done"

        a = ctx.step(first, name="first")
        b = ctx.step(flaky, name="flaky", config=StepConfig(retry_strategy=FAST_RETRY))
        ctx.wait(Duration.from_seconds(1), name="pause")
        c = ctx.run_in_child_context(lambda child: child.step(inner, name="inner"), name="group")
        return {"first": a, "attempts": b, "child": c, "handler_pid": os.getpid()}

    return handler


def runs(marker_dir, name):
    path = os.path.join(marker_dir, name)
    return open(path).read().split() if os.path.exists(path) else []


def test_steps_retry_wait_child_succeed_with_expected_history(tmp_path):
    handler = make_handler(str(tmp_path))
    service = LocalService(tmp_path / "store.db")
    runner = LocalRunner(service, {"fn": handler})
    record = runner.run("fn", {"n": 5}, name="accept-1")

    assert record.status == "SUCCEEDED", record.error
    result = json.loads(record.result)
    assert result["first"]["n"] == 5
    assert result["attempts"] == 2
    assert result["child"] == "inner-done"
    # process mode: the step body ran in a worker, not in the handler's process
    assert result["first"]["pid"] != result["handler_pid"]
    assert int(runs(tmp_path, "first")[0]) != os.getpid()

    events = history_to_json(service.get_history(record.arn))
    shape = [(e["EventType"], e.get("Name")) for e in events]
    assert shape == [
        ("ExecutionStarted", "accept-1"),
        ("StepStarted", "first"),
        ("StepSucceeded", "first"),
        ("StepStarted", "flaky"),
        ("StepFailed", "flaky"),
        ("InvocationCompleted", None),
        ("StepStarted", "flaky"),
        ("StepSucceeded", "flaky"),
        ("WaitStarted", "pause"),
        ("InvocationCompleted", None),
        ("WaitSucceeded", "pause"),
        ("ContextStarted", "group"),
        ("StepStarted", "inner"),
        ("StepSucceeded", "inner"),
        ("ContextSucceeded", "group"),
        ("InvocationCompleted", None),
        ("ExecutionSucceeded", "accept-1"),
    ]
    by_type = {}
    for event in events:
        by_type.setdefault(event["EventType"], []).append(event)
    retry = by_type["StepFailed"][0]["StepFailedDetails"]
    assert retry["RetryDetails"] == {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1}
    assert retry["Error"]["Payload"]["ErrorType"] == "ConnectionError"
    assert (
        by_type["StepSucceeded"][1]["StepSucceededDetails"]["RetryDetails"]["CurrentAttempt"] == 2
    )
    assert by_type["WaitStarted"][0]["WaitStartedDetails"]["Duration"] == 1
    context_id = by_type["ContextStarted"][0]["Id"]
    assert by_type["StepStarted"][3]["ParentId"] == context_id
    assert by_type["ContextStarted"][0]["SubType"] == "RunInChildContext"
    assert [e["EventId"] for e in events] == list(range(1, len(events) + 1))

    # Re-running the finished execution replays everything and runs no step body.
    before = {name: runs(tmp_path, name) for name in ("first", "flaky", "inner")}
    output = runner.replay(record.arn)
    assert output["Status"] == "SUCCEEDED"
    replayed = json.loads(output["Result"])
    assert {k: replayed[k] for k in ("first", "attempts", "child")} == {
        k: result[k] for k in ("first", "attempts", "child")
    }
    assert {name: runs(tmp_path, name) for name in before} == before
    assert (len(before["first"]), len(before["flaky"]), len(before["inner"])) == (1, 2, 1)
