"""Timers: waits, step retries, the execution timeout, fast-forward."""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING

import pytest
from local_helpers import Driver, step_retry, step_start, step_succeed, wait_start
from local_official_sdk import official_handler

from durable_mp.exceptions import CheckpointError
from durable_mp.lambda_service import OperationStatus
from durable_mp.local import ExecutionNotRunningError, LocalRunner, LocalService

if TYPE_CHECKING:
    from pathlib import Path


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def test_a_wait_succeeds_when_its_time_comes(service: LocalService) -> None:
    driver = Driver(service)
    started = driver.send(wait_start("w", 30, name="pause")).new_execution_state.operations[0]
    assert started.status is OperationStatus.STARTED
    assert started.wait_details and started.wait_details.scheduled_end_timestamp
    end = started.wait_details.scheduled_end_timestamp
    assert abs((end - now()).total_seconds() - 30) < 2
    driver.finish("PENDING")
    assert not service.fire_due_timers(driver.arn)
    assert service.next_wakeup(driver.arn) == end
    assert not service.has_work(driver.arn)
    assert service.fire_due_timers(driver.arn, as_of=end)
    assert driver.operation("w").status is OperationStatus.SUCCEEDED
    assert service.has_work(driver.arn)
    last = service.get_history(driver.arn)[-1]
    assert last["EventType"] == "WaitSucceeded"
    assert last["WaitSucceededDetails"] == {"Duration": 30}
    assert last["Name"] == "pause"
    assert (last["EventTimestamp"] - now()).total_seconds() < 1  # real time, not modeled
    started_event = service.get_history(driver.arn)[-3]
    assert started_event["WaitStartedDetails"]["Duration"] == 30
    assert abs((started_event["WaitStartedDetails"]["ScheduledEndTimestamp"] - end).total_seconds()) < 0.01
    assert not service.fire_due_timers(driver.arn, as_of=end)
    assert driver.begin().event.updated_operation_ids == ["w"]


def test_due_timers_fire_in_time_order(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(wait_start("late", 20), wait_start("early", 10))
    driver.finish("PENDING")
    service.fire_due_timers(driver.arn, as_of=now() + datetime.timedelta(seconds=60))
    fired = [e["Id"] for e in service.get_history(driver.arn) if e["EventType"] == "WaitSucceeded"]
    assert fired == ["early", "late"]


def test_a_retry_becomes_ready_without_an_event(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(step_start("s", name="flaky"))
    pending = driver.send(step_retry("s", delay=30)).new_execution_state.operations[0]
    assert pending.status is OperationStatus.PENDING
    assert pending.step_details is not None and pending.step_details.attempt == 1
    due = pending.step_details.next_attempt_timestamp
    assert due is not None and abs((due - now()).total_seconds() - 30) < 2
    failed = service.get_history(driver.arn)[-1]
    assert failed["EventType"] == "StepFailed"
    assert failed["StepFailedDetails"]["RetryDetails"] == {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 30}
    driver.finish("PENDING")
    events = len(service.get_history(driver.arn))
    assert service.fire_due_timers(driver.arn, as_of=due)
    ready = driver.operation("s")
    assert ready.status is OperationStatus.READY
    assert ready.step_details.next_attempt_timestamp is None
    assert len(service.get_history(driver.arn)) == events
    assert service.has_work(driver.arn)
    assert driver.begin().event.updated_operation_ids == ["s"]
    driver.send(step_start("s", name="flaky"))
    driver.send(step_succeed("s"))
    assert driver.operation("s").step_details.attempt == 2
    succeeded = service.get_history(driver.arn)[-1]
    assert succeeded["StepSucceededDetails"]["RetryDetails"] == {"CurrentAttempt": 2}


def test_a_wait_can_be_cancelled(service: LocalService) -> None:
    driver = Driver(service)
    driver.send(wait_start("w", 30))
    driver.send({"Id": "w", "Type": "WAIT", "Action": "CANCEL"})
    assert driver.operation("w").status is OperationStatus.CANCELLED
    assert driver.event_types()[-1] == "WaitCancelled"
    assert service.next_wakeup(driver.arn) == service.get_execution(driver.arn).start_timestamp + datetime.timedelta(hours=1)


def test_the_execution_times_out(service: LocalService) -> None:
    driver = Driver(service, timeout=10)
    driver.send(wait_start("w", 60))
    driver.finish("PENDING")
    deadline = service.get_execution(driver.arn).start_timestamp + datetime.timedelta(seconds=10)
    assert service.next_wakeup(driver.arn) == deadline
    assert service.fire_due_timers(driver.arn, as_of=deadline)
    record = service.get_execution(driver.arn)
    assert record.status == "TIMED_OUT"
    assert record.error is not None and "timed out after 10 seconds" in (record.error.message or "")
    last = service.get_history(driver.arn)[-1]
    assert last["EventType"] == "ExecutionTimedOut"
    assert last["ExecutionTimedOutDetails"]["Error"]["Payload"]["ErrorMessage"] == record.error.message
    assert driver.operation("w").status is OperationStatus.STARTED  # it was due after the deadline
    assert not service.has_work(driver.arn)
    assert service.next_wakeup(driver.arn) is None
    with pytest.raises(ExecutionNotRunningError):
        service.begin_invocation(driver.arn)


def test_a_timeout_during_an_invocation_stops_its_checkpoints(service: LocalService) -> None:
    driver = Driver(service, timeout=5)
    service.fire_due_timers(driver.arn, as_of=now() + datetime.timedelta(seconds=6))
    with pytest.raises(CheckpointError):
        driver.send(step_start("s"))
    record = driver.finish("SUCCEEDED", Result='"late"')
    assert record.status == "TIMED_OUT"
    assert driver.event_types()[-2:] == ["ExecutionTimedOut", "InvocationCompleted"]


def test_fast_forward_keeps_modeled_durations(service: LocalService) -> None:
    from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
    from aws_durable_execution_sdk_python.config import Duration, JitterStrategy, StepConfig
    from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

    @durable_execution
    def handler(event: None, ctx: DurableContext) -> str:
        ctx.wait(Duration.from_hours(1), name="hour")

        def flaky(step: StepContext) -> str:
            if step.attempt < 2:
                raise ValueError("not yet")
            return "ok"

        retry = create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=2,
                initial_delay=Duration.from_minutes(4),
                jitter_strategy=JitterStrategy.NONE,
            )
        )
        return ctx.step(flaky, name="flaky", config=StepConfig(retry_strategy=retry))

    began = time.monotonic()
    runner = LocalRunner(service, {"fn": official_handler(handler)}, fast_forward=True)
    record = runner.run("fn")
    assert record.status == "SUCCEEDED" and record.result == '"ok"'
    assert time.monotonic() - began < 10
    history = service.get_history(record.arn)
    started = next(e for e in history if e["EventType"] == "WaitStarted")
    succeeded = next(e for e in history if e["EventType"] == "WaitSucceeded")
    assert started["WaitStartedDetails"]["Duration"] == 3600
    assert succeeded["WaitSucceededDetails"] == {"Duration": 3600}
    assert succeeded["EventTimestamp"] < started["WaitStartedDetails"]["ScheduledEndTimestamp"]
    failed = next(e for e in history if e["EventType"] == "StepFailed")
    assert failed["StepFailedDetails"]["RetryDetails"]["NextAttemptDelaySeconds"] == 240


def test_without_fast_forward_the_runner_sleeps_until_the_timer(service: LocalService) -> None:
    from aws_durable_execution_sdk_python import DurableContext, durable_execution
    from aws_durable_execution_sdk_python.config import Duration

    @durable_execution
    def handler(event: None, ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(1))
        return "done"

    began = time.monotonic()
    record = LocalRunner(service, {"fn": official_handler(handler)}).run("fn")
    assert record.status == "SUCCEEDED"
    assert time.monotonic() - began >= 1.0


class SteppedClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.moment = now()

    def now(self) -> datetime.datetime:
        return self.moment


def test_every_checkpoint_first_fires_due_timers(store_path: Path) -> None:
    clock = SteppedClock()
    service = LocalService(store_path, clock=clock)
    driver = Driver(service)
    driver.send(wait_start("w", 5), step_start("s"))
    clock.moment += datetime.timedelta(seconds=6)
    # An empty checkpoint is how an SDK asks "what changed?" once a timer is due.
    output = driver.send()
    assert [(op.operation_id, op.status) for op in output.new_execution_state.operations] == [
        ("w", OperationStatus.SUCCEEDED)
    ]
    history = service.get_history(driver.arn)
    assert history[-1]["EventType"] == "WaitSucceeded"
    assert history[-1]["EventTimestamp"] == clock.moment
    service.close()
