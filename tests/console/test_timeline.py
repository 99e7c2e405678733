"""The timeline model: operations nested by parent, attempts and retry delays from the
history, one lane per worker process (per thread for thread and inline bodies)."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

import pytest

from durable_mp.console.timeline import build_timeline
from durable_mp.lambda_service import ErrorObject
from durable_mp.local import LocalService
from durable_mp.local.store import BodyRunRow
from tests.local.local_helpers import (
    Driver,
    context_start,
    context_succeed,
    step_retry,
    step_start,
    step_succeed,
    wait_start,
)


@dataclass(frozen=True)
class Run:
    executor: str
    pid: int
    thread: str
    started_at: float
    ended_at: float


@pytest.fixture
def service():
    local = LocalService()
    yield local
    local.close()


def timeline_of(service: LocalService, arn: str) -> dict:
    record = service.get_execution(arn)
    return build_timeline(
        record.start_timestamp,
        record.end_timestamp,
        service.get_operations(arn),
        service.get_history_json(arn),
        service.body_runs(arn),
        now=time.time(),
    )


def test_operations_nest_under_their_parents_and_keep_creation_order(service):
    driver = Driver(service, name="nested")
    driver.send(context_start("1", name="outer"), step_start("2", name="inner", parent="1"))
    driver.send(step_succeed("2", parent="1"), context_succeed("1"), wait_start("3", seconds=30))
    ops = timeline_of(service, driver.arn)["ops"]
    assert ops["id"] == ["1", "2", "3"]
    assert ops["parent"] == [-1, 0, -1]
    assert ops["type"] == ["CONTEXT", "STEP", "WAIT"]
    assert ops["status"] == ["SUCCEEDED", "SUCCEEDED", "STARTED"]
    assert ops["end"][2] is None  # the wait still runs
    assert all(start is not None and start >= 0 for start in ops["start"])


def test_attempts_and_retry_delays_come_from_the_history(service):
    driver = Driver(service, name="retried")
    driver.send(step_start("1", name="flaky"))
    driver.send(step_retry("1", delay=7))
    service.fire_due_timers(
        driver.arn, as_of=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=8)
    )
    driver.send(step_start("1", name="flaky"), step_succeed("1"))
    timeline = timeline_of(service, driver.arn)
    first, second = timeline["attempts"]
    assert first[:2] == [0, 1] and first[4] == "RETRY"
    assert second[:2] == [0, 2] and second[4] == "SUCCEEDED"
    [(op, began, until)] = timeline["retryWaits"]
    assert op == 0 and until - began == pytest.approx(7, abs=0.002)
    assert began == first[3]


def test_a_start_after_a_start_interrupted_the_first_attempt():
    from durable_mp.lambda_service import Operation, OperationStatus, OperationType

    start = datetime.datetime.fromtimestamp(1000, datetime.UTC)
    events = [
        {"EventType": "StepStarted", "Id": "1", "EventTimestamp": "1970-01-01T00:16:41+00:00"},
        {"EventType": "StepStarted", "Id": "1", "EventTimestamp": "1970-01-01T00:16:43+00:00"},
    ]
    op = Operation("1", OperationType.STEP, OperationStatus.STARTED)
    attempts = build_timeline(start, None, [op], events, [], now=1010.0)["attempts"]
    assert attempts == [[0, 1, 1.0, 3.0, "INTERRUPTED"], [0, 2, 3.0, None, "RUNNING"]]


def test_invocations_come_from_the_history(service):
    driver = Driver(service, name="invocations")
    driver.send(wait_start("1", seconds=60))
    driver.finish()
    driver.begin()
    service.complete_invocation(driver.invocation, error=ErrorObject.from_message("crashed"))
    first, second = timeline_of(service, driver.arn)["invocations"]
    assert 0 <= first[0] <= first[1] <= second[0] <= second[1]
    assert (first[2], second[2]) == (True, False)  # the second invocation failed


def test_one_lane_per_worker_process_and_per_thread(service):
    driver = Driver(service, name="lanes")
    origin = service.get_execution(driver.arn).start_timestamp.timestamp()
    for op in "1234":
        driver.send(step_start(op))
    runs = [
        ("1", Run("process", 101, "MainThread", origin + 1, origin + 2)),
        ("2", Run("process", 102, "MainThread", origin + 1.5, origin + 2.5)),
        ("3", Run("process", 101, "MainThread", origin + 2, origin + 3)),
        ("4", Run("thread", 7, "durable-mp-step_0", origin + 1, origin + 4)),
        ("4", Run("inline", 7, "MainThread", origin + 5, origin + 6)),
        ("missing", Run("process", 101, "MainThread", origin + 9, origin + 10)),
    ]
    for attempt, (op, run) in enumerate(runs, start=1):
        service.record_body_run(driver.arn, op, attempt, run)
    for op in "1234":
        driver.send(step_succeed(op))
    timeline = timeline_of(service, driver.arn)
    labels = [lane["label"] for lane in timeline["lanes"]]
    assert labels == [
        "worker pid 101",
        "worker pid 102",
        "thread durable-mp-step_0 (pid 7)",
        "inline MainThread (pid 7)",
    ]
    lane_of = {timeline["ops"]["id"][run[0]] + f"/{run[1]}": run[2] for run in timeline["runs"]}
    assert lane_of == {"1/1": 0, "2/2": 1, "3/3": 0, "4/4": 2, "4/5": 3}  # "missing": no op
    first = timeline["runs"][0]
    assert first[3:] == pytest.approx([1.0, 2.0], abs=0.0015)  # seconds since the start


def test_the_lane_key_ignores_the_thread_name_in_a_worker():
    rows = [
        BodyRunRow("arn", "1", 1, "process", 5, "MainThread", 1.0, 2.0),
        BodyRunRow("arn", "1", 2, "process", 5, "Dummy-3", 3.0, 4.0),
    ]
    from durable_mp.lambda_service import Operation, OperationStatus, OperationType

    op = Operation("1", OperationType.STEP, OperationStatus.SUCCEEDED)
    start = datetime.datetime.fromtimestamp(0, datetime.UTC)
    timeline = build_timeline(start, None, [op], [], rows, now=10.0)
    assert len(timeline["lanes"]) == 1
    assert timeline["now"] == 10.0 and timeline["end"] is None


def test_nothing_starts_before_zero_when_operations_have_milliseconds_only():
    """The execution's start has microseconds; an operation started within the same
    millisecond carries that millisecond, truncated."""
    from durable_mp.lambda_service import Operation, OperationStatus, OperationType

    start = datetime.datetime(2026, 1, 1, 12, 0, 0, 395_800, tzinfo=datetime.UTC)
    op = Operation(
        "1",
        OperationType.STEP,
        OperationStatus.STARTED,
        start_timestamp=start.replace(microsecond=395_000),
    )
    timeline = build_timeline(start, None, [op], [], [], now=start.timestamp() + 1)
    assert timeline["ops"]["start"] == [0.0]
    assert timeline["now"] >= 1.0
