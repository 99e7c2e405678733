"""The full wire cycle with AWS's official SDK: a step, a retried step, a wait, a child.

The expected history is the one AWS's emulator recorded for this very handler
(reference sample ``dex_history_step_retry_wait_child.json``), corrected where the
conformance requirements describe the real service differently: StepSucceeded carries
``RetryDetails`` and InvocationCompleted carries its details.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy, StepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from local_official_sdk import official_handler

from durable_mp.local import LocalRunner, LocalService

RESULT = {"a": "one", "b": "ok", "c": "inchild", "event": {"x": 1}}

# (EventType, SubType, Name, parent's Name, details to match exactly)
EXPECTED: list[tuple[str, str | None, str | None, str | None, dict[str, Any] | None]] = [
    ("ExecutionStarted", None, "e1", None, {"Input": {"Payload": '{"x": 1}', "Truncated": False}, "ExecutionTimeout": 60}),
    ("StepStarted", "Step", "first", None, {}),
    ("StepSucceeded", "Step", "first", None, {"Result": {"Payload": '"one"', "Truncated": False}, "RetryDetails": {"CurrentAttempt": 1}}),
    ("StepStarted", "Step", "flaky", None, {}),
    ("StepFailed", "Step", "flaky", None, {
        "Error": {"Payload": {"ErrorMessage": "boom", "ErrorType": "ValueError"}, "Truncated": False},
        "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1},
    }),
    ("InvocationCompleted", None, None, None, None),
    ("StepStarted", "Step", "flaky", None, {}),
    ("StepSucceeded", "Step", "flaky", None, {"Result": {"Payload": '"ok"', "Truncated": False}, "RetryDetails": {"CurrentAttempt": 2}}),
    ("WaitStarted", "Wait", "pause", None, None),
    ("InvocationCompleted", None, None, None, None),
    ("WaitSucceeded", "Wait", "pause", None, {"Duration": 1}),
    ("ContextStarted", "RunInChildContext", "kid", None, {}),
    ("StepStarted", "Step", "inner", "kid", {}),
    ("StepSucceeded", "Step", "inner", "kid", {"Result": {"Payload": '"inchild"', "Truncated": False}, "RetryDetails": {"CurrentAttempt": 1}}),
    ("ContextSucceeded", "RunInChildContext", "kid", None, {"Result": {"Payload": '"inchild"', "Truncated": False}}),
    ("InvocationCompleted", None, None, None, None),
    ("ExecutionSucceeded", None, "e1", None, {"Result": {"Payload": json.dumps(RESULT), "Truncated": False}}),
]


class Sample:
    """The sample's handler, counting how often each step body runs."""

    def __init__(self) -> None:
        self.bodies: dict[str, int] = {"first": 0, "flaky": 0, "inner": 0}
        self.events: list[dict[str, Any]] = []
        self.outputs: list[Any] = []
        retry = create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=3,
                initial_delay=Duration.from_seconds(1),
                jitter_strategy=JitterStrategy.NONE,
            )
        )

        @durable_execution
        def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
            a = ctx.step(lambda _: self._ran("first", "one"), name="first")

            def flaky(step: StepContext) -> str:
                self._ran("flaky", None)
                if step.attempt < 2:
                    raise ValueError("boom")
                return "ok"

            b = ctx.step(flaky, name="flaky", config=StepConfig(retry_strategy=retry))
            ctx.wait(Duration.from_seconds(1), name="pause")
            c = ctx.run_in_child_context(
                lambda child: child.step(lambda _: self._ran("inner", "inchild"), name="inner"),
                name="kid",
            )
            return {"a": a, "b": b, "c": c, "event": event}

        wrapped = official_handler(handler)

        def recording(event: Any, context: Any) -> Any:
            self.events.append(event.to_json_dict())
            output = wrapped(event, context)
            self.outputs.append(output)
            return output

        self.handler = recording

    def _ran(self, name: str, value: Any) -> Any:
        self.bodies[name] += 1
        return value


def test_history_matches_the_reference_sample(service: LocalService) -> None:
    sample = Sample()
    runner = LocalRunner(service, {"fn": sample.handler}, fast_forward=True)
    arn = service.start_execution("fn", '{"x": 1}', name="e1", execution_timeout_seconds=60).arn
    record = runner.drive(arn)
    assert record.status == "SUCCEEDED"
    assert json.loads(record.result or "") == RESULT
    assert record.invocation_count == 3

    history = service.get_history(arn)
    assert [e["EventId"] for e in history] == list(range(1, len(EXPECTED) + 1))
    ids = {e["Name"]: e["Id"] for e in history if "Id" in e and e["EventType"] != "ExecutionStarted"}
    for event, (kind, sub_type, name, parent, details) in zip(history, EXPECTED, strict=True):
        assert event["EventType"] == kind
        assert event.get("SubType") == sub_type
        assert event.get("Name") == name
        assert event.get("ParentId") == (ids[parent] if parent else None)
        if details is not None:
            assert event[f"{kind}Details"] == details, kind
        if name is not None and kind not in ("ExecutionStarted", "ExecutionSucceeded"):
            assert event["Id"] == ids[name]
    assert history[0]["Id"] == history[-1]["Id"] == arn.split("/")[-1]

    wait_started = history[8]["WaitStartedDetails"]
    assert wait_started["Duration"] == 1
    assert (wait_started["ScheduledEndTimestamp"] - history[8]["EventTimestamp"]).total_seconds() == pytest.approx(1, abs=0.002)
    invocations = [e["InvocationCompletedDetails"] for e in history if e["EventType"] == "InvocationCompleted"]
    assert all(d["StartTimestamp"] <= d["EndTimestamp"] and d["RequestId"] for d in invocations)
    assert all("Error" not in d for d in invocations)
    assert len({d["RequestId"] for d in invocations}) == 3
    assert sample.bodies == {"first": 1, "flaky": 2, "inner": 1}


def test_invocation_events_match_the_reference_sample(service: LocalService) -> None:
    sample = Sample()
    runner = LocalRunner(service, {"fn": sample.handler}, fast_forward=True)
    record = runner.run("fn", {"x": 1}, name="e1")
    execution_id = record.arn.split("/")[-1]

    def shape(event: dict[str, Any]) -> list[tuple[str | None, str, str, int | None, bool]]:
        return [
            (
                op.get("Name"),
                op["Type"],
                op["Status"],
                op.get("StepDetails", {}).get("Attempt"),
                "Error" in op.get("StepDetails", {}),
            )
            for op in event["InitialExecutionState"]["Operations"]
        ]

    first, second, third = sample.events
    assert shape(first) == [("e1", "EXECUTION", "STARTED", None, False)]
    assert first["InitialExecutionState"]["Operations"][0]["Id"] == execution_id
    assert first["InitialExecutionState"]["Operations"][0]["ExecutionDetails"] == {"InputPayload": '{"x": 1}'}
    assert shape(second) == [
        ("e1", "EXECUTION", "STARTED", None, False),
        ("first", "STEP", "SUCCEEDED", 1, False),
        ("flaky", "STEP", "READY", 1, True),
    ]
    assert shape(third) == [
        ("e1", "EXECUTION", "STARTED", None, False),
        ("first", "STEP", "SUCCEEDED", 1, False),
        ("flaky", "STEP", "SUCCEEDED", 2, False),
        ("pause", "WAIT", "SUCCEEDED", None, False),
    ]
    ids = {op.get("Name"): op["Id"] for op in third["InitialExecutionState"]["Operations"]}
    assert [e["UpdatedOperationIds"] for e in sample.events] == [[], [ids["flaky"]], [ids["pause"]]]
    assert all(e["InitialExecutionState"]["NextMarker"] == "" for e in sample.events)
    assert len({e["CheckpointToken"] for e in sample.events}) == 3
    assert [o["Status"] for o in sample.outputs] == ["PENDING", "PENDING", "SUCCEEDED"]


def test_replay_runs_no_step_body_and_changes_nothing(service: LocalService) -> None:
    sample = Sample()
    runner = LocalRunner(service, {"fn": sample.handler}, fast_forward=True)
    record = runner.run("fn", {"x": 1}, name="e1")
    history = service.get_history(record.arn)
    bodies = dict(sample.bodies)

    output = runner.replay(record.arn)

    assert output == {"Status": "SUCCEEDED", "Result": record.result}
    assert sample.bodies == bodies
    assert runner.last_replay is not None and runner.last_replay.updates == []
    assert service.get_history(record.arn) == history
    assert service.get_execution(record.arn) == record
