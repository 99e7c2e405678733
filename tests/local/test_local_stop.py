"""Stopping an execution, and the execution timeout, on the local service and its runner."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from local_helpers import Driver, step_start

from durable_mp.exceptions import CheckpointError
from durable_mp.lambda_service import ErrorObject, OperationUpdate
from durable_mp.local import ExecutionNotFoundError, LocalRunner, LocalService


def test_stop_ends_it_and_its_checkpoints(service: LocalService) -> None:
    driver = Driver(service, name="to-stop")
    record = service.stop_execution("to-stop")  # by name, or by ARN
    assert record.status == "STOPPED" and record.end_timestamp is not None
    assert record.error == ErrorObject.from_message("Execution stopped by user request")
    last = service.get_history(driver.arn)[-1]
    assert last["EventType"] == "ExecutionStopped"
    assert last["ExecutionStoppedDetails"] == {
        "Error": {"Payload": {"ErrorMessage": "Execution stopped by user request"}, "Truncated": False}
    }
    with pytest.raises(CheckpointError, match="has already ended \\(STOPPED\\)") as rejected:
        driver.send(step_start("s"))
    assert rejected.value.error is not None
    assert rejected.value.error["Message"].startswith("Invalid checkpoint token")
    finished = driver.finish("SUCCEEDED", Result='"ignored"')  # the running invocation ends
    assert (finished.status, finished.result) == ("STOPPED", None)
    assert driver.event_types()[-2:] == ["ExecutionStopped", "InvocationCompleted"]
    assert not service.has_work(driver.arn) and service.next_wakeup(driver.arn) is None


def test_stop_is_idempotent_and_keeps_an_earlier_end(service: LocalService) -> None:
    driver = Driver(service)
    first = service.stop_execution(driver.arn, ErrorObject("maintenance", "Ops", None, None))
    again = service.stop_execution(driver.arn, ErrorObject("other", None, None, None))
    assert again == first and first.error == ErrorObject("maintenance", "Ops", None, None)
    assert driver.event_types().count("ExecutionStopped") == 1

    done = Driver(service)
    done.finish("SUCCEEDED", Result='"r"')
    assert service.stop_execution(done.arn).status == "SUCCEEDED"
    with pytest.raises(ExecutionNotFoundError):
        service.stop_execution("no-such-execution")


def waiting_on_a_callback(event: Any, context: Any) -> dict[str, Any]:
    if not event.initial_execution_state.operations[1:]:
        event.service_client.checkpoint(
            event.durable_execution_arn,
            event.checkpoint_token,
            [
                OperationUpdate.from_dict(
                    {"Id": "cb", "Type": "CALLBACK", "Action": "START", "SubType": "Callback"}
                )
            ],
            None,
        )
    return {"Status": "PENDING"}


def test_a_stop_from_elsewhere_ends_the_drive_loop(service: LocalService) -> None:
    runner = LocalRunner(service, {"fn": waiting_on_a_callback}, fast_forward=True)
    arn = runner.start("fn")

    def stop_soon() -> None:
        while len(service.get_history(arn)) < 3:
            time.sleep(0.02)
        service.stop_execution(arn)

    threading.Thread(target=stop_soon).start()
    began = time.monotonic()
    record = runner.drive(arn)
    assert record.status == "STOPPED"
    assert time.monotonic() - began < 10


def test_the_execution_timeout_fires_on_time_while_a_callback_waits(service: LocalService) -> None:
    runner = LocalRunner(service, {"fn": waiting_on_a_callback}, fast_forward=True)
    began = time.monotonic()
    record = runner.run("fn", execution_timeout_seconds=1)
    assert 1.0 <= time.monotonic() - began < 8  # not skipped ahead: the callback could come
    assert record.status == "TIMED_OUT"
    assert record.error is not None and record.error.message == "Execution timed out after 1 seconds."
    last = service.get_history(record.arn)[-1]
    assert last["EventType"] == "ExecutionTimedOut"
    assert last["ExecutionTimedOutDetails"]["Error"]["Payload"] == {
        "ErrorMessage": "Execution timed out after 1 seconds."
    }


def test_fast_forward_skips_to_the_timeout_when_only_timers_remain(service: LocalService) -> None:
    def long_wait(event: Any, context: Any) -> dict[str, Any]:
        event.service_client.checkpoint(
            event.durable_execution_arn,
            event.checkpoint_token,
            [
                OperationUpdate.from_dict(
                    {"Id": "w", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": 3600}}
                )
            ],
            None,
        )
        return {"Status": "PENDING"}

    began = time.monotonic()
    record = LocalRunner(service, {"fn": long_wait}, fast_forward=True).run(
        "fn", execution_timeout_seconds=600
    )
    assert record.status == "TIMED_OUT" and time.monotonic() - began < 10


def test_an_interrupted_drive_records_its_invocation_as_interrupted(
    service: LocalService,
) -> None:
    release, finished = threading.Event(), threading.Event()
    refused: list[Exception] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        release.wait(10)
        try:
            event.service_client.checkpoint(
                event.durable_execution_arn,
                event.checkpoint_token,
                [OperationUpdate.from_dict(step_start("s"))],
                None,
            )
        except CheckpointError as error:
            refused.append(error)
            raise
        finally:
            finished.set()
        return {"Status": "PENDING"}

    runner = LocalRunner(service, {"fn": handler})
    arn = runner.start("fn")
    calls: list[int] = []

    def interrupt(record: Any) -> bool:
        calls.append(1)
        if len(calls) > 2:  # the invocation is in flight by now
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        runner.drive(arn, until=interrupt)
    release.set()
    assert finished.wait(10)
    assert refused and refused[0].is_retryable()  # a transient error: the SDK just stops
    time.sleep(0.1)
    history = service.get_history(arn)
    assert [e["EventType"] for e in history] == ["ExecutionStarted", "InvocationCompleted"]
    interrupted = history[1]["InvocationCompletedDetails"]["Error"]["Payload"]
    assert interrupted["ErrorType"] == "Runner.Interrupted"
    assert "SIGINT" in interrupted["ErrorMessage"]
    assert service.owner_of(arn) is None  # the lease was given up

    def resumed(event: Any, context: Any) -> dict[str, Any]:
        return {"Status": "SUCCEEDED", "Result": '"resumed"'}

    record = LocalRunner(service, {"fn": resumed}).drive(arn)
    assert record.status == "SUCCEEDED" and record.invocation_count == 2
    assert [e["EventType"] for e in service.get_history(arn)][2:] == [
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
